"""INT8 Q/DQ inside a Scan body (issue 19, what to build 5): an RNN-like Scan whose cell multiplies the step's input
by a weight of the main graph and its carried state by a weight of the body. Calibration sees every iteration (the
lifted tensors stack over them); a body inside the Scan's body is left float and says so."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.model import load_model
from workbench.precision import calibrate, compare, quantize
from workbench.precision.control_flow import NESTED_NOTE, lift_body_tensors
from workbench.precision.guards import check_written_model

STEPS, BATCH, HIDDEN = 6, 2, 32


def _rnn_scan(
    *, output_axes: bool = False, shapeless_body: bool = False, nested_if: bool = False, cell_matmuls: bool = True
) -> onnx.ModelProto:
    """input [steps, batch, hidden] -> Relu -> Scan(h_t = Tanh(x_t·W_in + h_{t-1}·W_rec)) -> stacked h_t.
    ``output_axes``: the Scan lists scan_output_axes/directions (lifted outputs need one each);
    ``shapeless_body``: the body declares its inputs without shapes (as converters write them);
    ``nested_if``: the cell also holds an If whose branches have a MatMul (a body inside a body), taken by the sign
    of h0's sum (a main-graph tensor: quantization noise never flips the branch);
    ``cell_matmuls=False``: the cell adds x_t and h_{t-1} instead (the nested If's MatMuls are then the only ones)."""
    rng = np.random.default_rng(0)
    weight = lambda name: nh.from_array((rng.standard_normal((HIDDEN, HIDDEN)) / 6).astype(np.float32), name)  # noqa: E731
    shape = None if shapeless_body else [BATCH, HIDDEN]
    cell = [
        h.make_node("MatMul", ["x_t", "scan.w_in"], ["xw"], name="cell/mm_in"),
        h.make_node("MatMul", ["h_prev", "scan.w_rec"], ["hu"], name="cell/mm_rec"),
        h.make_node("Add", ["xw", "hu"], ["pre"], name="cell/add"),
        h.make_node("Tanh", ["pre"], ["h_next"], name="cell/tanh"),
    ]
    body_weights = [weight("scan.w_rec")]
    if not cell_matmuls:
        cell = [
            h.make_node("Add", ["x_t", "h_prev"], ["pre"], name="cell/add"),
            h.make_node("Tanh", ["pre"], ["h_next"], name="cell/tanh"),
        ]
        body_weights = []
    if nested_if:
        branch = lambda tag: h.make_graph(  # noqa: E731
            [
                h.make_node("MatMul", ["h_next", f"{tag}.w"], [f"{tag}_m"], name=f"{tag}/mm"),
                h.make_node("Relu", [f"{tag}_m"], [f"{tag}_y"], name=f"{tag}/relu"),
            ],
            tag,
            [],
            [h.make_tensor_value_info(f"{tag}_y", T.FLOAT, None)],
            [weight(f"{tag}.w")],
        )
        cell += [
            h.make_node(
                "If",
                ["positive"],
                ["gated"],
                name="cell/If",
                then_branch=branch("nested_then"),
                else_branch=branch("nested_else"),
            ),
            h.make_node("Add", ["h_next", "gated"], ["y_t"], name="cell/out"),
        ]
    else:
        cell.append(h.make_node("Identity", ["h_next"], ["y_t"], name="cell/out"))
    body = h.make_graph(
        cell,
        "cell",
        [h.make_tensor_value_info("h_prev", T.FLOAT, shape), h.make_tensor_value_info("x_t", T.FLOAT, shape)],
        [h.make_tensor_value_info("h_next", T.FLOAT, shape), h.make_tensor_value_info("y_t", T.FLOAT, shape)],
        body_weights,
    )
    axes = {"scan_output_axes": [0], "scan_output_directions": [0]} if output_axes else {}
    nodes = [
        h.make_node("Relu", ["input"], ["x"], name="stem/relu"),
        h.make_node("ReduceSum", ["h0"], ["h0_sum"], name="gate/sum", keepdims=0),
        h.make_node("Greater", ["h0_sum", "zero"], ["positive"], name="gate/greater"),
        h.make_node("Scan", ["h0", "x"], ["h_last", "ys"], name="rnn/Scan", body=body, num_scan_inputs=1, **axes),
    ]
    graph = h.make_graph(
        nodes,
        "rnn",
        [
            h.make_tensor_value_info("input", T.FLOAT, [STEPS, BATCH, HIDDEN]),
            h.make_tensor_value_info("h0", T.FLOAT, [BATCH, HIDDEN]),
        ],
        [h.make_tensor_value_info("ys", T.FLOAT, [STEPS, BATCH, HIDDEN])],
        [weight("scan.w_in"), nh.from_array(np.array(0.0, np.float32), "zero")],
    )
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _samples(count: int, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "input": rng.standard_normal((STEPS, BATCH, HIDDEN)).astype(np.float32),
            "h0": (rng.standard_normal((BATCH, HIDDEN)) / 2).astype(np.float32),
        }
        for _ in range(count)
    ]


def _scan_bodies(proto: onnx.ModelProto) -> list[onnx.GraphProto]:
    return [a.g for n in proto.graph.node if n.op_type == "Scan" for a in n.attribute if a.name == "body"]


@pytest.mark.parametrize("variant", [{}, {"output_axes": True}, {"shapeless_body": True}])
def test_scan_body_matmuls_are_calibrated_quantized_and_agree(variant):
    model = load_model(_rnn_scan(**variant), name="rnn_scan")
    samples = _samples(8)
    table = calibrate(model, samples, "minmax", only_quantized=True)
    # x_t and h_prev exist only inside the body; the main graph's weight read by the body is not an activation.
    assert set(table.frame["tensor"]) == {"x_t", "h_prev"}, table.frame
    # A range covers every iteration: x_t's max is the max of Relu(input) over all steps, not one step's.
    seen = max(float(np.maximum(s["input"], 0).max()) for s in samples)
    assert table.amax["x_t"] == pytest.approx(seen, rel=1e-6)
    assert table.frame.set_index("tensor").loc["x_t", "count"] == len(samples) * STEPS * BATCH * HIDDEN
    result = quantize(model, table)
    inner = result.report.set_index("node")
    assert (
        inner.loc["cell/mm_in | body | rnn/Scan", "quantized"]
        and inner.loc["cell/mm_rec | body | rnn/Scan", "quantized"]
    )
    body = _scan_bodies(result.model.proto)[0]
    ops = [n.op_type for n in body.node]
    assert ops.count("QuantizeLinear") == 2 and ops.count("DequantizeLinear") == 4, ops  # 2 activations, 2 weights
    assert not [t for t in result.model.proto.graph.initializer if t.name == "scan.w_in"]  # its int8 copy only
    check_written_model(result.model, "int8")  # onnx.checker and ONNX Runtime
    for sample in _samples(3, seed=7):
        row = compare(model, result.model, sample).iloc[0]
        assert row.sqnr_db > 20 and row.cosine > 0.99, row  # a wrong scale/axis or one step's range: far lower


def test_an_iteration_range_is_wider_than_the_first_steps():
    """The lifted tensor is the body's value at every step, stacked: feeding only the first step large values must
    widen h_prev's range only through the steps that follow it."""
    proto = _rnn_scan()
    lifted = lift_body_tensors(proto, ["xw", "h_prev"])
    assert sorted(lifted.values()) == ["h_prev", "xw"]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    sample = _samples(1)[0]
    names = {body: outer for outer, body in lifted.items()}
    xw, h_prev = session.run([names["xw"], names["h_prev"]], sample)
    assert xw.shape == (STEPS, BATCH, HIDDEN) and h_prev.shape == (STEPS, BATCH, HIDDEN)
    np.testing.assert_allclose(h_prev[0], sample["h0"])  # step 0 reads h0, step t the output of step t-1
    ys = ort.InferenceSession(_rnn_scan().SerializeToString(), providers=["CPUExecutionProvider"]).run(["ys"], sample)[
        0
    ]
    np.testing.assert_allclose(h_prev[1:], ys[:-1], rtol=1e-6)
    weight = nh.to_array(next(t for t in proto.graph.initializer if t.name == "scan.w_in"))
    np.testing.assert_allclose(xw, np.maximum(sample["input"], 0) @ weight, rtol=1e-5, atol=1e-5)


def test_a_body_inside_the_scan_body_is_left_float_and_says_so():
    model = load_model(_rnn_scan(nested_if=True), name="rnn_nested")
    samples = _samples(6)
    result = quantize(model, calibrate(model, samples, "minmax", only_quantized=True))
    report = result.report.set_index("node")
    for branch in ("then_branch", "else_branch"):
        tag = branch.replace("_branch", "")
        row = report.loc[f"nested_{tag}/mm | {branch} | cell/If | body | rnn/Scan"]
        assert not row.quantized and row.note == NESTED_NOTE
    assert report.loc["cell/mm_in | body | rnn/Scan", "quantized"]
    assert any("nested in another body" in n and "cell/If" in n for n in result.notes), result.notes
    nested_if = next(n for n in _scan_bodies(result.model.proto)[0].node if n.op_type == "If")
    assert not [n for a in nested_if.attribute for n in a.g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    check_written_model(result.model, "int8")
    for sample in _samples(4, seed=9):  # both branches of the nested If (h0's sign), each within the Scan
        row = compare(model, result.model, sample).iloc[0]
        assert row.sqnr_db > 20, row


def test_weighted_ops_only_in_a_nested_body_fail_before_calibrating_and_say_why():
    from workbench.errors import ConfigError
    from workbench.precision.preflight import check_quantizable

    model = load_model(_rnn_scan(nested_if=True, cell_matmuls=False), name="rnn_nested_only")
    with pytest.raises(
        ConfigError,
        match=r"rnn_nested_only.*2 inside If body, nested .not entered: a body inside "
        r"a body is left in float",
    ):
        check_quantizable(model)
    with pytest.raises(ConfigError, match="a body inside a body is left in float"):
        calibrate(model, _samples(2), "minmax", only_quantized=True)
