"""Q/DQ placements: what TensorRT needs (and builds with Int8 layers), what ONNX Runtime's CPU runs as int8."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.engines import build_engine
from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import PrecisionPlan, apply_precision, calibrate, compare, quantize
from workbench.precision.qdq import cpu_has_vnni, weight_axis


@pytest.fixture(scope="module")
def digits_model():
    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def table(digits_model):
    return calibrate(digits_model, digits("calibration")[0], "entropy2")


def _producers(model):
    return {o: n for n in model.nodes for o in n.output}


def test_tensorrt_placement_follows_nvidia_recommendations(digits_model, table):
    result = quantize(digits_model, table, target="tensorrt")
    q = result.model
    producers = _producers(q)
    inits = {t.name: t for t in q.proto.graph.initializer}
    for node in q.nodes:
        if node.op_type == "Conv":
            x, w = node.input[0], node.input[1]
            assert producers[x].op_type == "DequantizeLinear", node.name  # activation Q/DQ
            dq = producers[w]
            assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == T.INT8  # int8 weights
            axis = {a.name: a.i for a in dq.attribute}["axis"]
            assert axis == 0  # Conv: output channels
            assert len(nh.to_array(inits[dq.input[1]])) == nh.to_array(inits[dq.input[0]]).shape[axis]
            if len(node.input) > 2:
                assert node.input[2] in inits and inits[node.input[2]].data_type == T.FLOAT  # bias stays float
    for node in q.nodes:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero_point = inits[node.input[2]]
            assert zero_point.data_type == T.INT8 and not nh.to_array(zero_point).any()  # explicit int8 zeros
        if node.op_type == "DequantizeLinear":
            src = inits.get(node.input[0])
            assert src is None or src.data_type != T.INT32  # TensorRT rejects int32-bias DQ
    (add,) = [n for n in q.nodes if n.op_type == "Add"]
    residual = [producers[t].op_type for t in add.input]
    assert residual.count("DequantizeLinear") == 1 and "Conv" in residual  # only the skip input is quantized
    assert result.counts["quantized_nodes"] == 5 and result.counts["skipped_nodes"] == 1
    assert q.precision == "int8" and q.calibrator == "entropy2"
    # The 10-class head (K=64, N=10, and it writes the graph output) stays float; without the rules it is INT8,
    # its weight per output row (Gemm transB=1: axis 0).
    head = result.report.set_index("node").loc["/head/head.2/Gemm"]
    assert not head.quantized and head.note == "K=64, N=10: under 16, kept in float"
    everything = quantize(digits_model, table, target="tensorrt", rules=False)
    assert everything.counts["quantized_nodes"] == 6 and everything.counts["skipped_nodes"] == 0
    gemm = next(n for n in everything.model.nodes if n.op_type == "Gemm")
    weight_dq = _producers(everything.model)[gemm.input[1]]
    assert {a.name: a.i for a in weight_dq.attribute}["axis"] == 0


def test_tensorrt_rtx_builds_int8_layers(digits_model, table):
    layers = build_engine(quantize(digits_model, table).model).layers
    dtypes = [d for ds in layers.output_dtypes for d in ds]
    assert dtypes.count("int8") >= 4


@pytest.fixture(scope="module")
def onnxruntime_int8(digits_model, table):
    return quantize(digits_model, table, target="onnxruntime", reduce_range=True).model


def test_onnxruntime_placement_runs_real_int8_kernels(onnxruntime_int8, tmp_path):
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(onnxruntime_int8.to_bytes(), options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node]
    assert ops.count("QLinearConv") == 4 and "Conv" not in ops  # every Conv became an int8 kernel


def test_onnxruntime_int8_kernels_cannot_saturate(onnxruntime_int8):
    # x86 without VNNI adds pairs of u8 x s8 products in int16: weights within [-64, 64] keep 2 x 255 x 64 < 32768.
    inits = {t.name: nh.to_array(t) for t in onnxruntime_int8.proto.graph.initializer}
    weights = [inits[n.input[0]] for n in onnxruntime_int8.nodes
               if n.op_type == "DequantizeLinear" and inits.get(n.input[0], np.zeros(0, np.int32)).dtype == np.int8]
    assert len(weights) == 4 and max(int(np.abs(w).max()) for w in weights) <= 64  # the 10-class head stays float
    # ONNX Runtime's fused int8 kernels on this CPU compute what the Q/DQ model says (its float reference).
    x = digits("test")[0][:200]
    outputs = []
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(onnxruntime_int8.to_bytes(), options, providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, {"image": x})[0])
    reference, fused = outputs
    assert 10 * np.log10((reference ** 2).sum() / ((reference - fused) ** 2).sum()) > 30


def test_int8_accuracy_on_the_trained_model(digits_model, table):
    test_x, test_y = digits("test")
    for target in ("tensorrt", "onnxruntime"):
        q = apply_precision(digits_model, PrecisionPlan("int8", calibrator="entropy2", target=target), table)
        row = compare(digits_model, q, test_x, labels=test_y).iloc[0]
        assert row.reference_accuracy > 0.97
        assert row.accuracy >= row.reference_accuracy - 0.01 and row.sqnr_db > 20, (target, row.to_dict())


def test_fp8_for_tensorrt(digits_model):
    table = calibrate(digits_model, digits("calibration")[0], "minmax", precision="fp8")
    q = quantize(digits_model, table).model
    assert q.opset >= 19
    assert any(t.data_type == T.FLOAT8E4M3FN for t in q.proto.graph.initializer)
    layers = build_engine(q).layers
    assert "float8" in [d for ds in layers.output_dtypes for d in ds]
    test_x, test_y = digits("test")
    row = compare(digits_model, q, test_x[:100], labels=test_y[:100]).iloc[0]
    assert row.sqnr_db > 15 and row.accuracy >= row.reference_accuracy - 0.03
    with pytest.raises(ConfigError, match="fp8 has no ONNX Runtime CPU kernels"):
        PrecisionPlan("fp8", target="onnxruntime")


def test_transformer_matmuls_and_weight_axes():
    model = load_model("bert_tiny")
    ids = np.random.default_rng(0).integers(0, 1000, (8, 16)).astype(np.int64)
    table = calibrate(model, {"input_ids": ids}, "minmax")
    q = quantize(model, table).model
    producers = _producers(q)
    attention = [n for n in q.nodes if n.op_type == "MatMul" and all(t not in {i.name for i in q.proto.graph.initializer}
                                                                      and producers[t].op_type == "DequantizeLinear"
                                                                      for t in n.input)]
    assert attention  # Q·Kᵀ and scores·V: both activations quantized
    layers = build_engine(q).layers
    assert "int8" in [d for ds in layers.output_dtypes for d in ds]
    matmul = h.make_node("MatMul", ["a", "b"], ["c"])
    assert weight_axis(matmul, 1) == -1
    assert weight_axis(h.make_node("ConvTranspose", ["a", "b"], ["c"]), 1) == 1
    assert weight_axis(h.make_node("Gemm", ["a", "b"], ["c"], transB=0), 1) == 1


def test_excluded_nodes_stay_float_and_bad_requests_are_errors(digits_model, table):
    first_conv = next(n.name for n in digits_model.nodes if n.op_type == "Conv")
    result = quantize(digits_model, table, exclude_nodes=[first_conv])
    row = result.report.set_index("node").loc[first_conv]
    assert not row.quantized and row.note == "excluded"
    conv = next(n for n in result.model.nodes if n.name == first_conv)
    assert _producers(result.model).get(conv.input[0]) is None  # still the float graph input
    with pytest.raises(ConfigError, match="node 'nope' is not in"):
        quantize(digits_model, table, exclude_nodes=["nope"])
    with pytest.raises(ConfigError, match="target 'gpu' is unknown"):
        quantize(digits_model, table, target="gpu")
    relu_only = h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["y"], name="r")], "g",
                                          [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
                                          [h.make_tensor_value_info("y", T.FLOAT, [1, 4])]),
                             opset_imports=[h.make_opsetid("", 17)])
    with pytest.raises(ConfigError, match="nothing to quantize"):
        quantize(load_model(relu_only), table)
    with pytest.raises(ConfigError, match="needs calibration data"):
        apply_precision(digits_model, "int8")
    with pytest.raises(ConfigError, match="precision 'int4' is unknown"):
        PrecisionPlan("int4")


def test_cpu_weight_range_follows_the_cpu(digits_model, table):
    assert cpu_has_vnni("flags\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert cpu_has_vnni("flags\t: fpu avx2 amx_int8\n") and not cpu_has_vnni("flags\t: fpu sse avx2 fma\n")
    result = quantize(digits_model, table, target="onnxruntime")  # decided by this CPU
    inits = {t.name: nh.to_array(t) for t in result.model.proto.graph.initializer}
    widest = max(int(np.abs(inits[n.input[0]]).max()) for n in result.model.nodes
                 if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8)
    assert (widest == 127) == cpu_has_vnni() and (widest <= 64) == (not cpu_has_vnni())
    assert any(("8-bit weights" if cpu_has_vnni() else "7-bit weights") in note for note in result.notes)
    full = quantize(digits_model, table, target="onnxruntime", reduce_range=False).model
    inits = {t.name: nh.to_array(t) for t in full.proto.graph.initializer}
    assert max(int(np.abs(v).max()) for v in inits.values() if v.dtype == np.int8) == 127
    report = result.report.set_index("node")
    assert report.loc["/head/head.2/Gemm"].note.startswith("writes graph output")
