"""Issue 19: work counts from real shapes — shapes propagated where onnx's inference stops, recurrent and attention
ops counted, If/Loop bodies walked, and what still has no shape said as a lower bound."""

import numpy as np
import onnx
import pytest
from models import kv_cache_decoder
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.model import load_model
from workbench.model.samples import sample_path
from workbench.model.work import lower_bound_note, model_work, work_rows


def _w(name, shape, dtype=np.float32):
    return nh.from_array(np.zeros(shape, dtype), name)


@pytest.fixture(scope="module")
def small_bert(tmp_path_factory):
    from torch_models import export_bert

    path = tmp_path_factory.mktemp("bert") / "bert_small.onnx"
    export_bert(path, layers=1, hidden=32, heads=4, ffn=64)
    return load_model(path)


def test_bert_from_torch_onnx_counts_every_matmul(small_bert):
    from torch_models import bert_macs

    work = model_work(small_bert, {"input_ids": (1, 128), "attention_mask": (1, 128)})
    assert int(work["macs"].sum()) == bert_macs(1, 32, 64, 128)
    assert work["shapes_known"].all() and lower_bound_note(work) is None
    assert "symbolic" in work.attrs["shape_inference"]  # onnx's inference alone leaves the attention MatMuls open


def crnn(hidden=12, classes=20):
    """A CRNN as OCR wheels ship it: Conv, then the width made the sequence through a Reshape whose target is
    computed from Shape (divided, as Paddle writes it), a bidirectional LSTM and a Gemm classifier."""
    nodes = [h.make_node("Conv", ["x", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),             # [N, 8, 4, W]
             h.make_node("Transpose", ["c"], ["t"], name="to_sequence", perm=[3, 0, 1, 2]),      # [W, N, 8, 4]
             h.make_node("Shape", ["t"], ["shape"], name="shape"),
             h.make_node("Gather", ["shape", "zero"], ["width"], name="width", axis=0),
             h.make_node("Div", ["width", "one"], ["width_again"], name="width_div"),
             h.make_node("Gather", ["shape", "one"], ["batch"], name="batch", axis=0),
             h.make_node("Concat", ["width_again", "batch", "features"], ["target"], name="target", axis=0),
             h.make_node("Reshape", ["t", "target"], ["seq"], name="reshape"),                   # [W, N, 32]
             h.make_node("LSTM", ["seq", "lw", "lr"], ["y"], name="lstm", hidden_size=hidden,
                         direction="bidirectional"),                                             # [W, 2, N, H]
             h.make_node("Transpose", ["y"], ["yt"], name="yt", perm=[0, 2, 1, 3]),
             h.make_node("Flatten", ["yt"], ["flat"], name="flat", axis=2),                      # [W*N, 2H]
             h.make_node("Gemm", ["flat", "wg"], ["logits"], name="classifier", transB=1)]
    inits = [_w("wc", (8, 3, 3, 3)), _w("lw", (2, 4 * hidden, 32)), _w("lr", (2, 4 * hidden, hidden)),
             _w("wg", (classes, 2 * hidden)), nh.from_array(np.array([0], np.int64), "zero"),
             nh.from_array(np.array([1], np.int64), "one"), nh.from_array(np.array([32], np.int64), "features")]
    g = h.make_graph(nodes, "crnn", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, "width"])],
                     [h.make_tensor_value_info("logits", T.FLOAT, ["rows", classes])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_crnn_counts_lstm_and_gemm():
    model = load_model(crnn(), name="crnn.onnx")
    width, hidden, classes = 10, 12, 20
    work = model_work(model, {"x": (1, 3, 4, width)}).set_index("op_type")
    assert work.loc["Conv", "macs"] == 8 * 4 * width * 27
    assert work.loc["LSTM", "macs"] == 2 * width * 4 * hidden * (32 + hidden)  # two directions, four gates
    assert work.loc["Gemm", "macs"] == width * 2 * hidden * classes
    assert work["shapes_known"].all()


def _decoder_macs(sequence, past, hidden=16, vocab=100):
    context = past + sequence  # QKᵀ and PV over the whole context, q/k/v projections and the LM head per token
    return sequence * (3 * hidden * hidden + 2 * context * hidden + hidden * vocab)


@pytest.mark.parametrize("sequence,past", [(1, 128), (512, 512)])
def test_llama_style_decoder_matches_hand_formula(sequence, past):
    model = load_model(kv_cache_decoder(), name="decoder.onnx")
    cache = (1, 2, past, 8)
    work = model_work(model, {"input_ids": (1, sequence), "past_key_values.0.key": cache,
                              "past_key_values.0.value": cache})
    assert int(work["macs"].sum()) == _decoder_macs(sequence, past)
    assert lower_bound_note(work) is None


def test_if_bodies_are_walked_and_the_branch_named():
    model = load_model(sample_path("if_model"))
    work = model_work(model, {"input": (1, 64, 32), "state": (1,)})
    hidden, tokens = 32, 64
    assert int(work["macs"].sum()) == tokens * (hidden * hidden + hidden * hidden + hidden)  # encoder, branch, head
    branch = work[work["graph"] != ""]
    assert len(branch) and branch["graph"].str.endswith("/then_branch").all()  # only the counted branch's rows
    [said] = work.attrs["branches"]
    assert "then_branch counted (the larger; else_branch: " in said
    assert ("control flow", said) in work_rows(work)


def _control_flow_model(condition: bool, trips):
    """If on a constant condition (then: a 4x8 MatMul, else: 4x2) followed by a Loop whose body is a 4x4 MatMul."""
    def branch(name, width):
        return h.make_graph([h.make_node("MatMul", ["x", f"{name}_w"], [f"{name}_y"], name=f"{name}_mm")], name, [],
                            [h.make_tensor_value_info(f"{name}_y", T.FLOAT, None)], [_w(f"{name}_w", (4, width))])
    body = h.make_graph([h.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
                         h.make_node("MatMul", ["state", "loop_w"], ["next"], name="loop_mm")], "body",
                        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
                         h.make_tensor_value_info("state", T.FLOAT, [3, 4])],
                        [h.make_tensor_value_info("cond_out", T.BOOL, []),
                         h.make_tensor_value_info("next", T.FLOAT, [3, 4])])
    nodes = [h.make_node("If", ["flag"], ["branch_y"], name="if", then_branch=branch("then", 8),
                         else_branch=branch("else", 2)),
             h.make_node("Loop", ["trips", "go"], ["looped"], name="loop", body=body)]
    inits = [nh.from_array(np.array(condition), "flag"), _w("loop_w", (4, 4)), nh.from_array(np.array(True), "go")]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, [3, 4])]
    if trips is None:
        inputs.append(h.make_tensor_value_info("trips", T.INT64, []))
    else:
        inits.append(nh.from_array(np.array(trips, np.int64), "trips"))
    g = h.make_graph(nodes, "control", inputs, [h.make_tensor_value_info("branch_y", T.FLOAT, [3, "w"]),
                                                 h.make_tensor_value_info("looped", T.FLOAT, [3, 4])], inits)
    nodes[1].input[:] = ["trips", "go", "x"]
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_constant_if_condition_and_loop_trip_count():
    work = model_work(load_model(_control_flow_model(False, 5), name="control.onnx"))
    assert int(work["macs"].sum()) == 3 * 4 * 2 + 5 * (3 * 4 * 4)  # the else branch; the body five times
    assert any("else_branch counted (its condition is constant)" in b for b in work.attrs["branches"])
    assert any("body counted 5 times" in b for b in work.attrs["branches"])
    assert lower_bound_note(work) is None


def test_loop_with_a_run_time_trip_count_is_a_lower_bound():
    work = model_work(load_model(_control_flow_model(True, None), name="control.onnx"), {"trips": ()})
    assert int(work["macs"].sum()) == 3 * 4 * 8 + 3 * 4 * 4
    assert "Loop 'loop': trip count not constant, body counted once" in lower_bound_note(work)


def _nonzero_model():
    """A MatMul fed by NonZero (a data-dependent shape no inference can know) beside a MatMul with known shapes."""
    nodes = [h.make_node("NonZero", ["x"], ["where"], name="nonzero"),
             h.make_node("Transpose", ["where"], ["points"], name="points"),
             h.make_node("Cast", ["points"], ["points_f"], name="cast", to=T.FLOAT),
             h.make_node("MatMul", ["points_f", "w"], ["y"], name="project"),
             h.make_node("MatMul", ["x", "w2"], ["z"], name="dense")]
    g = h.make_graph(nodes, "nonzero", [h.make_tensor_value_info("x", T.FLOAT, [4, 2])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["n", 3]), h.make_tensor_value_info("z", T.FLOAT, [4, 5])],
                     [_w("w", (2, 3)), _w("w2", (2, 5))])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_nodes_without_shapes_make_a_lower_bound():
    work = model_work(load_model(_nonzero_model(), name="nz.onnx"))
    assert int(work["macs"].sum()) == 4 * 2 * 5
    assert lower_bound_note(work).startswith("lower bound: 1 node not counted (ops MatMul)")
    assert work.attrs["lower_bound"] == lower_bound_note(work) and work.attrs["not_counted"] == {"MatMul": 1}
    assert list(work.loc[~work["shapes_known"], "node"]) == ["project"]
    assert dict(work_rows(work))["GMACs"].startswith("at least ")


def test_com_microsoft_attention_ops_are_counted():
    batch, seq, past, hidden, kv = 1, 4, 6, 16, 8
    nodes = [h.make_node("GroupQueryAttention", ["q", "k", "v", "past_k", "past_v", "seqlens", "total"],
                         ["o", "present_k", "present_v"], name="gqa", domain="com.microsoft", num_heads=4,
                         kv_num_heads=2),
             h.make_node("Attention", ["x", "w_qkv", "b_qkv"], ["a"], name="attention", domain="com.microsoft",
                         num_heads=4)]
    inputs = [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in
              [("q", [batch, seq, hidden]), ("k", [batch, seq, kv]), ("v", [batch, seq, kv]),
               ("past_k", [batch, 2, past, 4]), ("past_v", [batch, 2, past, 4]), ("x", [batch, seq, hidden])]]
    inputs += [h.make_tensor_value_info("seqlens", T.INT32, [batch]), h.make_tensor_value_info("total", T.INT32, [])]
    g = h.make_graph(nodes, "fused", inputs, [h.make_tensor_value_info("o", T.FLOAT, [batch, seq, hidden]),
                                              h.make_tensor_value_info("a", T.FLOAT, [batch, seq, hidden])],
                     [_w("w_qkv", (hidden, 3 * hidden)), _w("b_qkv", (3 * hidden,))])
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    work = model_work(load_model(proto, name="fused.onnx", check=False)).set_index("node")
    assert work.loc["attention", "macs"] == seq * hidden * 3 * hidden + 2 * seq * seq * hidden
    assert work.loc["gqa", "shapes_known"]
    assert work.loc["gqa", "macs"] == 2 * seq * (past + seq) * hidden


def test_inspect_says_lower_bound_and_control_flow(run_cli, tmp_path):
    code, out, _ = run_cli("inspect", "if_model")
    assert code == 0 and "then_branch counted (the larger" in out
    path = tmp_path / "nonzero.onnx"
    onnx.save(_nonzero_model(), str(path))
    code, out, _ = run_cli("inspect", path)
    assert code == 0 and "lower bound: 1 node not counted (ops MatMul)" in out and "at least 0.0" in out
    code, out, _ = run_cli("inspect", path, "--json")
    assert code == 0 and '"work_note": "lower bound: 1 node not counted (ops MatMul)' in out


def test_estimate_adds_the_models_own_work():
    from workbench.cli.analysis_commands import _onnx_work_line  # the build estimate runs first is tested elsewhere
    from workbench.engines import build_engine

    model = load_model("if_model")
    info = {}
    line = _onnx_work_line(model, model, build_engine(model), None, info)  # at the engine's own (opt) shapes
    assert info["onnx_macs"] == 64 * (32 * 32 + 32 * 32 + 32) and info["work_note"] is None
    assert info["onnx_work_shapes"] == {"input": [1, 64, 32], "state": [1]} and info["onnx_work_branches"] is None
    assert line.strip().startswith("ONNX model (If 'decoder/If': then_branch counted (the larger")
    assert "0.0001331 GMACs at input:1x64x32" in line


def test_model_panel_says_the_lower_bound(tmp_path):
    from workbench.widgets import ModelPanel

    path = tmp_path / "nonzero.onnx"
    onnx.save(_nonzero_model(), str(path))
    panel = ModelPanel()
    panel.path.value = str(path)
    panel.open_path.click()
    assert "lower bound: 1 node not counted (ops MatMul)" in panel.summary.value and "at least" in panel.summary.value
