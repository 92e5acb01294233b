"""FP16 precision plans: valid models, float32 I/O kept, kept ops stay FP32, TensorRT-RTX builds FP16 layers."""

import numpy as np
import onnxruntime as ort
import pytest

from workbench.engines import build_engine
from workbench.errors import ConfigError
from workbench.model import generate_feeds, load_model
from workbench.precision import PrecisionPlan, apply_precision


def _run(model, feeds):
    return ort.InferenceSession(model.to_bytes(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.parametrize("sample", ["resnet_tiny", "bert_tiny", "inception_tiny"])
def test_fp16_models_are_valid_and_close_to_fp32(sample):
    model = load_model(sample)
    half = apply_precision(model, "fp16")  # load_model runs onnx.checker: topological order is fixed
    assert half.precision == "fp16" and half.name == f"{sample}_fp16"
    assert [s.dtype for s in half.inputs] == [s.dtype for s in model.inputs]
    assert {s.dtype for s in half.outputs} == {"float32"}
    weights = {t.data_type for t in half.proto.graph.initializer if t.data_type in (1, 10)}
    assert weights == {10}  # every float weight is float16 now
    feeds = generate_feeds(model)
    ref, got = _run(model, feeds), _run(half, feeds)
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() <= 0.01 * np.abs(ref).max() + 1e-3


def test_kept_op_types_stay_fp32_and_engines_get_fp16_layers():
    model = load_model("bert_tiny")
    plan = PrecisionPlan("fp16", keep_op_types=("Softmax", "LayerNormalization"))
    half = apply_precision(model, plan)
    dtypes = half.tensor_dtypes
    kept = [n for n in half.nodes if n.op_type in ("Softmax", "LayerNormalization")]
    assert kept and all(dtypes[n.output[0]] == "float32" for n in kept)
    converted = [n for n in half.nodes if n.op_type == "MatMul"]
    assert all(dtypes[n.output[0]] == "float16" for n in converted)
    layers = build_engine(half).layers
    out_types = [d for ds in layers.output_dtypes for d in ds]
    assert out_types.count("float16") > len(layers) // 2 and "float32" in out_types


def test_fp32_plan_returns_the_model_unchanged():
    model = load_model("resnet_tiny")
    assert apply_precision(model, PrecisionPlan()) is model


@pytest.mark.parametrize("kwargs, match", [
    (dict(precision="fp12"), "precision 'fp12' is unknown"),
    (dict(precision="fp16", keep_nodes=("no_such_node",)), "node 'no_such_node' is not in"),
    (dict(precision="fp16", keep_op_types=("Softmax",)), "op type 'Softmax' does not occur"),
])
def test_bad_plans_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        apply_precision("resnet_tiny", PrecisionPlan(**kwargs))


def test_bf16_keeps_fp32_originals_and_builds_bf16_layers():
    import ml_dtypes
    from onnx import numpy_helper

    model = load_model("digits_cnn")
    bf16 = apply_precision(model, "bf16")
    assert bf16.precision == "bf16" and bf16.opset >= 22
    assert [s.dtype for s in bf16.inputs] == ["float32"] and [s.dtype for s in bf16.outputs] == ["float32"]
    originals = {t.name: numpy_helper.to_array(t) for t in model.proto.graph.initializer}
    converted = {t.name: t for t in bf16.proto.graph.initializer}
    name = next(n for n in originals if originals[n].ndim == 4)
    assert converted[name].data_type == 16  # BFLOAT16
    expected = originals[name].astype(ml_dtypes.bfloat16).astype(np.float32)
    assert np.array_equal(numpy_helper.to_array(converted[name]).astype(np.float32), expected)
    layers = build_engine(bf16).layers
    assert "bfloat16" in [d for ds in layers.output_dtypes for d in ds]
    from workbench.model.datasets import digits
    from workbench.precision import compare

    test_x, test_y = digits("test")
    row = compare(model, bf16, test_x[:100], labels=test_y[:100]).iloc[0]  # ONNX reference evaluator
    assert 35 < row.sqnr_db < 60 and row.accuracy >= row.reference_accuracy - 0.02


def test_fp16_keeps_nodes_with_large_magnitudes_on_calibration_data():
    from onnx import TensorProto as T, helper as h, numpy_helper as nh

    from workbench.precision import fragile_nodes

    # x -> MatMul (x 1000: outputs reach ~3000, past the 512 limit) -> Relu -> MatMul (x 0.001)
    big = nh.from_array(np.full((4, 4), 1000.0, np.float32), "big")
    small = nh.from_array(np.full((4, 2), 0.001, np.float32), "small")
    nodes = [h.make_node("MatMul", ["x", "big"], ["a"], name="amplify"),
             h.make_node("Relu", ["a"], ["r"], name="relu"),
             h.make_node("MatMul", ["r", "small"], ["y"], name="shrink")]
    g = h.make_graph(nodes, "amp", [h.make_tensor_value_info("x", T.FLOAT, ["N", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", 2])], [big, small])
    model = load_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    data = np.abs(np.random.default_rng(0).standard_normal((16, 4))).astype(np.float32)
    fragile = fragile_nodes(model, data)
    assert list(fragile.node) == ["amplify", "relu"] and fragile.absmax[0] > 512
    half = apply_precision(model, "fp16", data)
    by_name = {n.name: n for n in half.nodes}
    # The kept nodes feed each other in FP32 directly (no float16 round trip between them) ...
    assert by_name["relu"].input[0] == by_name["amplify"].output[0]
    assert half.tensor_dtypes[by_name["amplify"].output[0]] != "float16"
    assert {t.name: t.data_type for t in half.proto.graph.initializer} == {"big": 1, "small": 10}
    # ... and the result matches FP32 where plain FP16 would round the large values
    import onnxruntime as ort

    run = lambda m: ort.InferenceSession(m.to_bytes()).run(None, {"x": data})[0]
    assert np.allclose(run(half), run(model), rtol=2e-3)


def test_fp16_keeps_ops_that_must_stay_fp32():
    from onnx import TensorProto as T, helper as h, numpy_helper as nh

    # x -> Relu -> Resize (float scales input) -> TopK ; the Resize scales and TopK must stay float32
    nodes = [h.make_node("Relu", ["x"], ["r"], name="relu"),
             h.make_node("Resize", ["r", "", "scales"], ["up"], name="resize", mode="nearest"),
             h.make_node("Flatten", ["up"], ["flat"], name="flatten"),
             h.make_node("TopK", ["flat", "k"], ["values", "indices"], name="topk")]
    inits = [nh.from_array(np.array([1, 1, 2, 2], np.float32), "scales"), nh.from_array(np.array([3], np.int64), "k")]
    g = h.make_graph(nodes, "blocked", [h.make_tensor_value_info("x", T.FLOAT, [1, 1, 4, 4])],
                     [h.make_tensor_value_info("values", T.FLOAT, [1, 3]),
                      h.make_tensor_value_info("indices", T.INT64, [1, 3])], inits)
    model = load_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    half = apply_precision(model, "fp16")
    types = {t.name: t.data_type for t in half.proto.graph.initializer}
    assert types["scales"] == 1  # Resize scales: float32 (an fp16 scales input is an invalid model)
    by_name = {n.name: n for n in half.nodes}
    assert half.tensor_dtypes[by_name["relu"].output[0]] == "float16"
    assert half.tensor_dtypes[by_name["topk"].output[0]] == "float32"
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32)
    assert np.allclose(_run(half, {"x": x}), _run(model, {"x": x}), atol=1e-2)
