"""Issue 19: LLM views — KV-cache bytes, the fusion view per decoder block, the attention TensorRT fuses."""

import pytest
from models import kv_cache_decoder

from workbench.model import load_model
from workbench.model.kv_cache import describe_kv_cache, kv_cache_table


def test_kv_cache_bytes_per_token_and_at_the_maximum():
    model = load_model(kv_cache_decoder(), name="decoder.onnx")
    cache = (1, 2, 512, 8)
    table = kv_cache_table(model.inputs, [model.shapes.resolve(),  # decode: 128 past tokens; a second profile: 512
                                          {"past_key_values.0.key": cache, "past_key_values.0.value": cache}])
    per_token = 2 * 8 * 4  # kv heads x head size x float32, for key and for value each
    assert list(table["input"]) == ["past_key_values.0.key", "past_key_values.0.value", "total"]
    assert list(table["bytes_per_token"]) == [per_token, per_token, 2 * per_token]
    assert table.iloc[-1].bytes_at_max == 2 * per_token * 512 and table.iloc[-1].max_tokens == 512
    assert describe_kv_cache(table) == "KV cache: 128 bytes per token (2 inputs); 0.06 MiB at the profile's " \
                                       "maximum (512 tokens)"


def test_fp16_cache_is_half_and_models_without_cache_have_none():
    proto = kv_cache_decoder()
    for value in proto.graph.input[2:]:
        value.type.tensor_type.elem_type = 10  # float16
    model = load_model(proto, name="decoder.onnx", check=False)
    assert kv_cache_table(model.inputs, model.shapes.resolve()).iloc[-1].bytes_per_token == 64
    assert describe_kv_cache(kv_cache_table(load_model("resnet_tiny").inputs, {})) is None


def test_inspect_shows_the_kv_cache(run_cli, tmp_path):
    import onnx

    path = tmp_path / "decoder.onnx"
    onnx.save(kv_cache_decoder(), str(path))
    code, out, _ = run_cli("inspect", path)
    assert code == 0 and "KV cache: 128 bytes per token (2 inputs); 0.02 MiB at the profile's maximum (128 tokens)" in out
    code, out, _ = run_cli("inspect", path, "--shapes", "past_key_values.0.key:1x2x300x8", "--json")
    assert code == 0 and '"bytes_at_max": 38400' in out  # 128 B per token x 300


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def scoped_decoder(blocks=2, hidden=16, heads=2, vocab=100):
    """A Llama-style decoder with optimum's name scopes (``/model/layers.N/self_attn/q_proj/MatMul``): per block
    q/k/v projections, a KV cache per layer, QKᵀ, softmax, PV, an output projection and a residual Add."""
    import numpy as np
    from onnx import TensorProto as T, helper as h, numpy_helper as nh

    rng = np.random.default_rng(4)
    head = hidden // heads
    inits = [nh.from_array((rng.standard_normal((vocab, hidden)) * 0.1).astype(np.float32), "embed"),
             nh.from_array((rng.standard_normal((hidden, vocab)) * 0.1).astype(np.float32), "lm_head.weight"),
             nh.from_array(np.array([0, 0, heads, head], np.int64), "split_heads"),
             nh.from_array(np.array([0, 0, hidden], np.int64), "merge_heads")]
    nodes = [h.make_node("Gather", ["embed", "input_ids"], ["h0"], name="/model/embed_tokens/Gather")]
    past = ["batch_size", heads, "past_sequence_length", head]
    inputs = [h.make_tensor_value_info("input_ids", T.INT64, ["batch_size", "sequence_length"])]
    outputs = []
    for i in range(blocks):
        scope, x = f"/model/layers.{i}/self_attn", f"h{i}"
        for proj in ("q", "k", "v", "o"):
            inits.append(nh.from_array((rng.standard_normal((hidden, hidden)) * 0.1).astype(np.float32),
                                       f"layers.{i}.{proj}.weight"))
        for proj in ("q", "k", "v"):
            nodes += [h.make_node("MatMul", [x, f"layers.{i}.{proj}.weight"], [f"{i}{proj}f"],
                                  name=f"{scope}/{proj}_proj/MatMul"),
                      h.make_node("Reshape", [f"{i}{proj}f", "split_heads"], [f"{i}{proj}h"],
                                  name=f"{scope}/{proj}_proj/Reshape"),
                      h.make_node("Transpose", [f"{i}{proj}h"], [f"{i}{proj}"], name=f"{scope}/{proj}_proj/Transpose",
                                  perm=[0, 2, 1, 3])]
        for kv in ("key", "value"):
            inputs.append(h.make_tensor_value_info(f"past_key_values.{i}.{kv}", T.FLOAT, past))
            outputs.append(h.make_tensor_value_info(f"present.{i}.{kv}", T.FLOAT, None))
            nodes.append(h.make_node("Concat", [f"past_key_values.{i}.{kv}", f"{i}{kv[0]}"], [f"present.{i}.{kv}"],
                                     name=f"{scope}/Concat_{kv}", axis=2))
        nodes += [h.make_node("Transpose", [f"present.{i}.key"], [f"{i}kt"], name=f"{scope}/Transpose_k",
                              perm=[0, 1, 3, 2]),
                  h.make_node("MatMul", [f"{i}q", f"{i}kt"], [f"{i}s"], name=f"{scope}/MatMul"),
                  h.make_node("Softmax", [f"{i}s"], [f"{i}p"], name=f"{scope}/Softmax", axis=-1),
                  h.make_node("MatMul", [f"{i}p", f"present.{i}.value"], [f"{i}c"], name=f"{scope}/MatMul_1"),
                  h.make_node("Transpose", [f"{i}c"], [f"{i}ct"], name=f"{scope}/Transpose_c", perm=[0, 2, 1, 3]),
                  h.make_node("Reshape", [f"{i}ct", "merge_heads"], [f"{i}a"], name=f"{scope}/Reshape"),
                  h.make_node("MatMul", [f"{i}a", f"layers.{i}.o.weight"], [f"{i}o"], name=f"{scope}/o_proj/MatMul"),
                  h.make_node("Add", [x, f"{i}o"], [f"h{i + 1}"], name=f"/model/layers.{i}/Add")]
    nodes.append(h.make_node("MatMul", [f"h{blocks}", "lm_head.weight"], ["logits"], name="/lm_head/MatMul"))
    for out in outputs:
        out.type.tensor_type.shape.dim.extend([])
    g = h.make_graph(nodes, "scoped_decoder", inputs,
                     [h.make_tensor_value_info("logits", T.FLOAT, ["batch_size", "sequence_length", vocab])]
                     + [h.make_tensor_value_info(o.name, T.FLOAT, ["batch_size", heads, "total", head])
                        for o in outputs], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="optimum")


@pytest.fixture(scope="module")
def decoder_engine():
    """The scoped decoder built once with the TensorRT-RTX CPU builder (seconds)."""
    from workbench.engines import build_engine

    # One profile (decode): with no shapes a decoder's engine gets decode and prefill, each with its own layers.
    model = load_model(scoped_decoder(), name="scoped_decoder.onnx").at_shapes("decode")
    return model, build_engine(model)


def _block_macs(sequence=1, context=129, hidden=16):
    return sequence * (4 * hidden * hidden + 2 * context * hidden)


def test_fusion_view_groups_layers_per_decoder_block(decoder_engine):
    from workbench.engines.llm_views import OUTSIDE, decoder_block, fusion_by_block

    assert decoder_block("/model/layers.3/self_attn/q_proj/MatMul") == "layers.3"
    assert decoder_block("/transformer/h.11/attn/c_attn/MatMul") == "h.11" and decoder_block("/lm_head/MatMul") is None
    model, result = decoder_engine
    table = fusion_by_block(result.layers, model).set_index("block")
    assert list(table.index) == ["layers.0", "layers.1", OUTSIDE]
    assert table.loc["layers.0", "onnx_nodes"] == table.loc["layers.1", "onnx_nodes"] == 9 + 2 + 8  # q/k/v, caches, attention to residual
    assert table.loc["layers.0", "macs"] == table.loc["layers.1", "macs"] == _block_macs()
    assert table.loc[OUTSIDE, "macs"] == 16 * 100  # the LM head (the embedding Gather does no MACs)
    assert table["engine_layers"].sum() == len(result.layers)
    assert table.loc["layers.0", "engine_layers"] >= 1 and table.loc["layers.1", "engine_layers"] >= 1
    assert table["work_share"].sum() == pytest.approx(1.0)


def test_fused_attention_lists_the_onnx_nodes_it_swallowed(decoder_engine, run_cli):
    from workbench.engines.llm_views import describe_fused_attention, fused_attention

    model, result = decoder_engine
    table = fused_attention(result.layers, model)
    assert len(table) and table["region"].str.startswith("Myelin myl").all()
    swallowed = set(table["onnx_node"])
    for i in range(2):
        assert {f"/model/layers.{i}/self_attn/MatMul", f"/model/layers.{i}/self_attn/Softmax",
                f"/model/layers.{i}/self_attn/MatMul_1"} <= swallowed
    qk = table.set_index("onnx_node").loc["/model/layers.0/self_attn/MatMul"]
    total_flops = 2 * (2 * _block_macs() + 16 * 100) + 2 * (129 * 2 * 3) + 2 * 16  # MACs x2, softmaxes, residual Adds
    assert qk.flops == 2 * 129 * 16 and qk.share_of_model == pytest.approx(qk.flops / total_flops)
    for region, rows in table.groupby("region"):
        assert rows["share_of_region"].sum() == pytest.approx(1.0)
    assert "swallowed" in describe_fused_attention(table)[0]


def test_layers_command_and_panel_show_the_llm_views(decoder_engine, run_cli, tmp_path):
    import onnx

    from workbench.widgets.graph_panel import decoder_block_html

    model, result = decoder_engine
    page = decoder_block_html(result.layers, model)
    assert "Engine layers per decoder block" in page and "/model/layers.1/self_attn/Softmax" in page
    assert "no numbered decoder blocks" in decoder_block_html(result.layers.iloc[:0], load_model("resnet_tiny"))
    path = tmp_path / "scoped_decoder.onnx"
    onnx.save(model.proto, str(path))
    code, out, _ = run_cli("layers", path)
    assert code == 0 and "engine layers per decoder block:" in out and "swallowed" in out
    assert "/model/layers.0/self_attn/MatMul" in out
