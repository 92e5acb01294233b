"""Numerical safety of Q/DQ and calibration: zero and constant activations get valid scales, shared weights are
quantized once, Gemm/MatMul weights given as input A are quantized per output row, and histogram growth stays
within a fixed memory budget whatever the order of batches."""

import tracemalloc

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.engines import build_engine
from workbench.model import load_model
from workbench.precision import calibrate, compare, quantize
from workbench.precision.histogram import MAX_BINS, TensorHistogram
from workbench.precision.qdq import weight_axis


def _model(nodes, inputs, outputs, initializers, opset=17):
    graph = h.make_graph(nodes, "g", inputs, outputs, initializers)
    return load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", opset)]))


def _zero_branch_model():
    """x -> Mul(x, 0) -> z (all zeros whatever x) -> MatMul(z, w) -> + MatMul(x, w2) -> y."""
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Mul", ["x", "zero"], ["z"], name="zero_out"),
             h.make_node("MatMul", ["z", "w"], ["a"], name="mm_zero"),
             h.make_node("MatMul", ["x", "w2"], ["b"], name="mm_x"),
             h.make_node("Add", ["a", "b"], ["y"], name="add")]
    return _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["N", 8])],
                  [h.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
                  [nh.from_array(np.zeros((1, 8), np.float32), "zero"),
                   nh.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w"),
                   nh.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w2")])


def _qdq_scales(model) -> dict[str, np.ndarray]:
    inits = {t.name: t for t in model.proto.graph.initializer}
    return {n.name: nh.to_array(inits[n.input[1]]) for n in model.nodes
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[1] in inits}


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_an_all_zero_activation_gets_a_valid_nonzero_scale(target):
    model = _zero_branch_model()
    x = np.random.default_rng(1).normal(size=(16, 8)).astype(np.float32)
    table = calibrate(model, x, "entropy2")
    assert table.amax["z"] == 0.0 and table.scales["z"] > 0
    quantized = quantize(model, table, target=target, rules=False).model  # the mechanics, not the placement rules
    scales = _qdq_scales(quantized)
    assert scales and all(np.all(s > 0) and np.all(np.isfinite(s)) for s in scales.values()), scales
    row = compare(model, quantized, x).iloc[0]
    assert np.isfinite(row.max_abs_error) and row.sqnr_db > 20
    if target == "tensorrt":
        build_engine(quantized)  # TensorRT rejects a zero scale


def test_a_constant_activation_keeps_its_range_with_every_calibrator():
    nodes = [h.make_node("Mul", ["x", "zero"], ["z"], name="zero_out"),
             h.make_node("Add", ["z", "three"], ["c"], name="constant"),
             h.make_node("MatMul", ["c", "w"], ["y"], name="mm")]
    model = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["N", 8])],
                   [h.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
                   [nh.from_array(np.zeros((1, 8), np.float32), "zero"),
                    nh.from_array(np.full((1, 8), 3.0, np.float32), "three"),
                    nh.from_array(np.ones((8, 4), np.float32), "w")])
    x = np.random.default_rng(2).normal(size=(16, 8)).astype(np.float32)
    for calibrator in ("minmax", "entropy", "entropy2", "percentile", "mse"):
        amax = calibrate(model, x, calibrator).amax["c"]
        assert amax == pytest.approx(3.0, rel=1e-3), calibrator  # never clipped to a sliver of the constant


def test_a_weight_shared_by_two_quantized_nodes_gets_one_initializer():
    rng = np.random.default_rng(3)
    nodes = [h.make_node("MatMul", ["x", "w"], ["a"], name="first"),
             h.make_node("MatMul", ["a", "w"], ["y"], name="second")]
    model = _model(nodes, [h.make_tensor_value_info("x", T.FLOAT, ["N", 6])],
                   [h.make_tensor_value_info("y", T.FLOAT, ["N", 6])],
                   [nh.from_array(rng.normal(size=(6, 6)).astype(np.float32), "w")])
    x = rng.normal(size=(32, 6)).astype(np.float32)
    result = quantize(model, calibrate(model, x, "minmax"), rules=False)  # tiny GEMMs: rules off
    proto = result.model.proto
    onnx.checker.check_model(proto, full_check=True)
    names = [t.name for t in proto.graph.initializer]
    assert len(names) == len(set(names)), names
    int8 = [t for t in proto.graph.initializer if t.data_type == T.INT8 and len(t.dims) == 2]
    assert len(int8) == 1  # one quantized copy of w, read by both MatMuls through one DequantizeLinear
    dq_of_w = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == int8[0].name]
    assert len(dq_of_w) == 1
    readers = [n.name for n in proto.graph.node if dq_of_w[0].output[0] in n.input]
    assert sorted(readers) == ["first", "second"]
    assert compare(model, result.model, x).iloc[0].sqnr_db > 15  # two chained int8 layers on 6 features


@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_with_the_weight_as_input_a_is_quantized_per_output_row(trans_a):
    rng = np.random.default_rng(4)
    rows, inner = 3, 5  # output rows M differ from the reduced axis K, so a wrong axis shows
    weight = rng.normal(size=(rows, inner)).astype(np.float32)
    weight[0] *= 100.0  # one row much larger: per-tensor (or per-K) scales would wreck the other rows
    stored = weight.T.copy() if trans_a else weight
    gemm = h.make_node("Gemm", ["w", "x"], ["y"], name="gemm", transA=trans_a, transB=1)
    model = _model([gemm], [h.make_tensor_value_info("x", T.FLOAT, ["N", inner])],
                   [h.make_tensor_value_info("y", T.FLOAT, [rows, "N"])], [nh.from_array(stored, "w")])
    assert weight_axis(gemm, 0) == trans_a
    x = rng.normal(size=(16, inner)).astype(np.float32)
    quantized = quantize(model, calibrate(model, x, "minmax"), rules=False).model  # tiny GEMM: rules off
    (dq,) = [n for n in quantized.nodes if n.op_type == "DequantizeLinear" and n.output[0] in
             next(g for g in quantized.nodes if g.op_type == "Gemm").input[:1]]
    axis = {a.name: a.i for a in dq.attribute}["axis"]
    assert axis == trans_a and _qdq_scales(quantized)[dq.name].shape == (rows,)
    session = ort.InferenceSession(quantized.to_bytes(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})[0]
    want = weight @ x.T
    row_error = np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)
    assert row_error.max() < 0.05, row_error  # every row keeps its own precision


def test_matmul_weight_axes():
    matmul = h.make_node("MatMul", ["a", "b"], ["c"])
    assert weight_axis(matmul, 1) == -1 and weight_axis(matmul, 0) == -2
    assert weight_axis(h.make_node("Gemm", ["a", "b"], ["c"], transB=1), 1) == 0


@pytest.mark.parametrize("tiny", [1e-4, 1e-30, 1e-42])
def test_histogram_growth_stays_within_a_fixed_budget_with_tiny_values_first(tiny):
    rng = np.random.default_rng(5)
    hist = TensorHistogram("t")
    normal = rng.normal(size=50_000).astype(np.float32)
    tracemalloc.start()
    try:
        hist.update(np.full(1000, tiny, np.float32))
        hist.update(-np.full(1000, tiny, np.float32))
        hist.update(normal)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    budget = MAX_BINS * 8 * 4 + normal.nbytes * 4  # the counts (a few copies) and the batch's own temporaries
    assert peak < budget, f"peak {peak / 2**20:.1f} MiB"
    assert len(hist.counts) <= MAX_BINS and hist.counts.sum() == 52_000
    assert hist.absmax == pytest.approx(float(np.abs(normal).max()))
    counts, edges = hist.histogram()
    median_bin = np.searchsorted(np.cumsum(counts), counts.sum() / 2)
    assert edges[median_bin] == pytest.approx(np.median(np.abs(np.concatenate([normal, [tiny] * 2000]))),
                                              abs=2 * (edges[1] - edges[0]))
