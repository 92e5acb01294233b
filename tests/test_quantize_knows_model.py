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
