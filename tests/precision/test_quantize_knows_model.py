"""Quantize that knows the model (issue 19 item 5): weights held in Constant nodes are weights, quantizability is
decided before calibrating, ops inside If/Loop bodies are quantized."""

import numpy as np
import onnx
import pytest

from workbench.model import load_model
from workbench.precision import calibrate, compare, quantize
from workbench.precision.calibrate import activation_tensors
from workbench.precision.guards import check_written_model


@pytest.fixture(scope="module")
def paddle():
    model = load_model("paddle_constant_weights")
    images = np.random.default_rng(0).random((16, 3, 64, 64)).astype(np.float32)
    return model, images[:8], images[8:]


def test_constant_node_weights_are_never_calibrated_as_activations(paddle):
    model, calibration, _ = paddle
    weights = [n.output[0] for n in model.nodes if n.op_type == "Constant"]
    assert "conv2d_0.w_0" in weights
    table = calibrate(model, calibration, "minmax", only_quantized=True)
    assert not set(table.frame["tensor"]) & set(weights)
    assert not set(activation_tensors(model)) & set(weights)


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_constant_node_weights_are_quantized_per_channel(paddle, target):
    model, calibration, held = paddle
    table = calibrate(model, calibration, "minmax", only_quantized=target == "tensorrt")
    result = quantize(model, table, target=target)
    convs = result.report[result.report["op"] == "Conv"]
    assert convs["quantized"].sum() == 4, result.report  # the score-map Conv writes a graph output: float
    assert not result.report["note"].str.contains("no range").any()
    graph = result.model.proto.graph
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("conv2d_0.w_0")]
    assert len(weight_dq) == 1
    stored = {t.name: t for t in graph.initializer}[weight_dq[0].input[0]]
    assert stored.data_type == onnx.TensorProto.INT8
    scale = {t.name: t for t in graph.initializer}[weight_dq[0].input[1]]
    assert list(scale.dims) == [16]  # one scale per output channel
    check_written_model(result.model, "int8")
    assert compare(model, result.model, held)["sqnr_db"].min() > 25


def _tiny(nodes, inits, inputs=None, outputs=None):
    from onnx import TensorProto as T, helper as h

    graph = h.make_graph(nodes, "tiny", inputs or [h.make_tensor_value_info("x", T.FLOAT, [2, 32])],
                         outputs or [h.make_tensor_value_info("y", T.FLOAT, [2, 32])], inits)
    return load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), name="tiny")


class _Untouchable:
    """Calibration data that fails the test if anything reads it: the decision must come before calibrating."""

    def __iter__(self):
        raise AssertionError("calibration data was read")

    def __len__(self):
        raise AssertionError("calibration data was read")


@pytest.mark.parametrize("case, expected", [
    ("function_model", "inside function custom.SiLUBlock .not entered: inline the functions first"),
    ("relu_only", "nothing to quantize: no Conv"),
    ("all_excluded", "is excluded"),
    ("head_only", "keeps every weighted op in float"),
])
def test_nothing_to_quantize_is_decided_before_calibrating(case, expected):
    from onnx import helper as h, numpy_helper as nh

    from workbench.errors import ConfigError

    weight = nh.from_array(np.ones((32, 8), np.float32), "w")
    exclude = ()
    if case == "function_model":
        model = load_model("function_model")
    elif case == "relu_only":
        model = _tiny([h.make_node("Relu", ["x"], ["y"], name="relu")], [])
    else:
        model = _tiny([h.make_node("MatMul", ["x", "w"], ["y"], name="head")], [weight],
                      outputs=[h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 8])])
        exclude = ("head",) if case == "all_excluded" else ()
    with pytest.raises(ConfigError, match=expected) as error:
        calibrate(model, _Untouchable(), "minmax", only_quantized=True, exclude_nodes=exclude)
    assert model.label in str(error.value)


def test_an_fp16_model_asked_for_int8_is_told_to_quantize_its_fp32_source(run_cli, tmp_path):
    from workbench.precision import apply_precision

    fp16 = apply_precision(load_model("resnet_tiny"), "fp16")
    source = fp16.save(tmp_path / "fp16.onnx")
    code, _, err = run_cli("quantize", source, "--precision", "int8", "-o", tmp_path / "q.onnx",
                           "--calib-data", "digits:calibration")
    assert code == 1 and "already fp16" in err and "FP32 model" in err, err
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize("flavor, version, gpu, expected", [
    ("tensorrt_rtx", "1.7.0.10", None, None),  # measured here: the CPU builder builds FP8 Q/DQ
    ("tensorrt", "10.3.0", (9, 0), None),
    ("tensorrt", "8.6.1", (9, 0), "needs tensorrt 10.0 or newer"),
    ("tensorrt", "10.3.0", (8, 0), "compute capability 8.9 or newer and the GPU has 8.0"),
    ("tensorrt", "10.3.0", None, "builds on a GPU and there is none here"),
])
def test_fp8_build_problems_are_named(flavor, version, gpu, expected):
    from workbench.engines.fp8 import fp8_build_problem

    problem = fp8_build_problem(flavor, version, gpu)
    assert problem is None if expected is None else expected in problem


def test_an_fp8_request_the_datacenter_tensorrt_cannot_build_fails_before_calibrating(run_cli, tmp_path,
                                                                                      monkeypatch):
    import workbench.engines.flavor as flavor

    from types import SimpleNamespace

    monkeypatch.setattr(flavor, "select_flavor", lambda *a: "tensorrt")
    monkeypatch.setattr(flavor, "trt", lambda: SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(flavor, "detect_gpus", lambda: (flavor.GpuInfo("A100", (8, 0), "13.0"),))
    code, _, err = run_cli("quantize", "digits_cnn", "--precision", "fp8", "-o", tmp_path / "q.onnx",
                           "--calib-data", "digits:calibration")
    assert code == 1 and "FP8 requested" in err and "A100 has 8.0" in err and "digits_cnn" in err, err
    assert "calibration" not in err.split("FP8 requested")[0]
    assert not (tmp_path / "q.onnx").exists()


def _control_flow_model():
    """An If whose then-branch chains two MatMuls (the second reads a tensor that exists only inside the branch)
    and a Loop whose body multiplies its carried state by a weight: every range needed lives in a body."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh

    rng = np.random.default_rng(0)
    weight = lambda name: nh.from_array((rng.standard_normal((32, 32)) / 6).astype(np.float32), name)  # noqa: E731
    vi = lambda name: h.make_tensor_value_info(name, T.FLOAT, None)  # noqa: E731
    then = h.make_graph([h.make_node("MatMul", ["x", "then.w1"], ["then_h"], name="then/mm1"),
                         h.make_node("Relu", ["then_h"], ["then_r"], name="then/relu"),
                         h.make_node("MatMul", ["then_r", "then.w2"], ["then_m"], name="then/mm2"),
                         h.make_node("Tanh", ["then_m"], ["then_y"], name="then/tanh")],  # mm2: not the output
                        "then", [], [vi("then_y")], [weight("then.w1"), weight("then.w2")])
    other = h.make_graph([h.make_node("MatMul", ["x", "else.w"], ["else_m"], name="else/mm"),
                          h.make_node("Relu", ["else_m"], ["else_y"], name="else/relu")],
                         "else", [], [vi("else_y")], [weight("else.w")])
    body = h.make_graph([h.make_node("MatMul", ["state", "loop.w"], ["mm"], name="loop/mm"),
                         h.make_node("Tanh", ["mm"], ["state_out"], name="loop/tanh"),
                         h.make_node("Identity", ["cond"], ["cond_out"], name="loop/cond")],
                        "body", [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond", T.BOOL, []),
                                 h.make_tensor_value_info("state", T.FLOAT, [2, 32])],
                        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("state_out", T.FLOAT, [2, 32])],
                        [weight("loop.w")])
    nodes = [h.make_node("Relu", ["input"], ["x"], name="stem/relu"),
             h.make_node("ReduceSum", ["flag"], ["flag_sum"], name="flag/sum", keepdims=0),
             h.make_node("Greater", ["flag_sum", "zero"], ["take_then"], name="flag/greater"),
             h.make_node("If", ["take_then"], ["branch_y"], name="branch/If", then_branch=then, else_branch=other),
             h.make_node("Loop", ["trips", "", "branch_y"], ["y"], name="refine/Loop", body=body)]
    graph = h.make_graph(nodes, "control_flow", [h.make_tensor_value_info("input", T.FLOAT, [2, 32]),
                                                 h.make_tensor_value_info("flag", T.FLOAT, [1])],
                         [h.make_tensor_value_info("y", T.FLOAT, [2, 32])],
                         [nh.from_array(np.array(0.0, np.float32), "zero"), nh.from_array(np.array(3, np.int64), "trips")])
    return load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), name="control_flow")


@pytest.fixture(scope="module")
def control_flow():
    model = _control_flow_model()
    rng = np.random.default_rng(1)
    samples = [{"input": rng.standard_normal((2, 32)).astype(np.float32),
                "flag": np.array([1.0 if i % 3 else -1.0], np.float32)} for i in range(9)]
    return model, samples


def test_tensors_inside_if_and_loop_bodies_are_calibrated(control_flow):
    model, samples = control_flow
    table = calibrate(model, samples, "minmax", only_quantized=True)
    assert {"x", "then_r", "state"} <= set(table.frame["tensor"])  # then_r and state exist only inside bodies
    amax = table.amax
    assert amax["then_r"] > 0 and amax["state"] > 0  # seen on the data: a branch taken, every Loop trip stacked


def test_ops_inside_if_and_loop_bodies_are_quantized_and_run(control_flow):
    model, samples = control_flow
    result = quantize(model, calibrate(model, samples, "minmax", only_quantized=True))
    inner = result.report[result.report["node"].str.contains(r"\|")]
    assert set(inner["node"]) == {"then/mm1 | then_branch | branch/If", "then/mm2 | then_branch | branch/If",
                                  "else/mm | else_branch | branch/If", "loop/mm | body | refine/Loop"}
    assert inner["quantized"].all(), result.report
    check_written_model(result.model, "int8")  # onnx.checker and ONNX Runtime
    names = [n.name for g in _graphs(result.model.proto.graph) for n in g.node if n.name]
    assert len(names) == len(set(names))  # TensorRT names layers after nodes
    for sample in samples[:3]:  # both branches, three Loop trips: four INT8 MatMuls in a row on 64 values
        row = compare(model, result.model, sample).iloc[0]
        assert row.sqnr_db > 10 and row.cosine > 0.95, row  # a wrong scale or axis gives ~0 dB


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
