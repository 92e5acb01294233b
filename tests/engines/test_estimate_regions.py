"""Myelin regions from their ONNX nodes, plugins from the plugin table, the error band, LLM decode (issue 20)."""

import json

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engines.estimate import RECORDINGS, estimate_engine, gpu_spec
from workbench.engines.estimate.decode import decode_estimate, kv_cache_bytes
from workbench.engines.estimate.regions import PLUGIN_TABLE, onnx_work, plugin_row
from workbench.errors import EngineFileError
from workbench.model import load_model

T, C = 256, 64
DATA = PLUGIN_TABLE.parent


@pytest.fixture(scope="module")
def attention_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = {n: numpy_helper.from_array(rng.standard_normal(s).astype(np.float16), n)
         for n, s in (("wq", (C, C)), ("wk", (C, C)), ("wv", (C, C)), ("w1", (C, 4 * C)), ("w2", (4 * C, C)),
                      ("g", (C,)), ("b", (C,)))}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
             helper.make_node("MatMul", ["x", "wv"], ["v"], name="v_proj"),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1], name="k_t"),
             helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk"),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1, name="attn_softmax"),
             helper.make_node("MatMul", ["p", "v"], ["o"], name="pv"),
             helper.make_node("LayerNormalization", ["o", "g", "b"], ["n"], axis=-1, name="norm"),
             helper.make_node("MatMul", ["n", "w1"], ["h"], name="ff1"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="ff2")]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, T, C])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, T, C])], list(w.values()))
    path = tmp_path_factory.mktemp("block") / "block.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return load_model(path)


def _tensor(name, dims):
    return {"Name": name, "Location": "Device", "Dimensions": dims, "Format/Datatype": "Row major linear FP16 format"}


MYELIN = {"Name": "{ForeignNode[q_proj...ff2]}", "LayerType": "Myelin", "Inputs": [_tensor("x", [1, T, C])],
          "Outputs": [_tensor("y", [1, T, C])], "TacticValue": "0x0"}
GROUPNORM = {"Name": "InstanceNormalization_TRT_0", "LayerType": "PluginV2", "ParameterType": "PluginV2",
             "Inputs": [_tensor("a", [1, 320, 32, 48])], "Outputs": [_tensor("b", [1, 320, 32, 48])]}
UNKNOWN_PLUGIN = {**GROUPNORM, "Name": "MyCompanyWarp_0"}


def test_onnx_work_counts_attention_matmuls(attention_model):
    work = {n.name: n for n in onnx_work(attention_model).nodes}
    assert work["qk"].flops == 2 * T * T * C and work["qk"].weight_bytes == 0  # QK^T at the real sequence length
    assert work["ff1"].flops == 2 * T * C * 4 * C and work["ff1"].weight_bytes == C * 4 * C * 2
    assert work["attn_softmax"].op == "attention-softmax" and work["attn_softmax"].flops == T * T  # flash: exp only
    assert work["norm"].op == "pass" and work["act"].op == "fused"
    assert work["qk"].bytes == 2 * 2 * T * C  # reads Q and K; the T x T scores stay on chip


def test_myelin_region_from_onnx_nodes_and_lower_bound_without(attention_model):
    engine = {"Layers": [MYELIN, GROUPNORM]}
    without = estimate_engine(engine, "a100")
    assert without.lower_bound and without.not_estimated == [MYELIN["Name"]]
    assert without.label.startswith("LOWER BOUND") and "ONNX model" in without.layers.loc[0, "note"]
    with_model = estimate_engine(engine, "a100", model=attention_model)
    row = with_model.layers.iloc[0]
    assert not with_model.lower_bound and row["basis"] == "ONNX nodes"
    assert "5 GEMMs" not in row["note"] and "7 GEMMs" in row["note"] and "1 fused attention softmax" in row["note"] and "1 norm/softmax" in row["note"]
    spec = gpu_spec("a100")
    io_only_ms = 2 * 2 * T * C / (spec.memory_bandwidth_gbs * 1e9) * 1e3
    assert row["estimated_ms"] > 5 * io_only_ms  # 7 kernels, not one pass over the region's I/O


def test_myelin_only_json_without_onnx_says_what_would_make_it_estimable():
    with pytest.raises(EngineFileError, match="ONNX model"):
        estimate_engine({"Layers": [MYELIN]}, "a100")


def test_attention_named_region_is_an_assumption_from_shapes():
    named = {**MYELIN, "Name": "{ForeignNode[/down/attn1/to_q/MatMul.../down/attn1/to_out/MatMul]}"}
    est = estimate_engine({"Layers": [named]}, "a100")
    assert est.layers.loc[0, "basis"] == "assumed from name and shapes" and "assumed" in est.layers.loc[0, "note"]


def test_plugins_from_the_table_and_unknown_not_estimated():
    assert plugin_row("InstanceNormalization_TRT_3")["passes"] == 3 and plugin_row("MyCompanyWarp") is None
    est = estimate_engine({"Layers": [GROUPNORM, UNKNOWN_PLUGIN]}, "a100")
    assert list(est.layers["basis"]) == ["plugin table", "not estimated"] and est.lower_bound
    spec = gpu_spec("a100")
    full_gpu_ms = 4 * 320 * 32 * 48 * 2 / (spec.memory_bandwidth_gbs * 1e9) * 1e3
    # batch 1 x 32 groups = 32 thread blocks on 108 SMs: well below a full-GPU pass (H200: 35 us for 64x96, measured)
    assert est.layers.loc[0, "estimated_ms"] > 3 * full_gpu_ms
    assert est.band["unseen_fraction"] == pytest.approx(1.0)


def test_error_band_of_a_recording_and_of_an_unlike_engine():
    rec = RECORDINGS[0]
    est = estimate_engine(rec.graph, "a100")
    assert est.band["unseen_fraction"] == 0 and not est.lower_bound and rec.name not in est.band["notes"]
    assert est.band["on_this_gpu"] and est.band["resembling"]
    h200 = estimate_engine(rec.graph, "h200")
    assert any("no recording on h200" in n for n in h200.band["notes"])
    fp8 = json.loads(rec.graph.read_text())
    for layer in fp8["Layers"]:
        for t in layer.get("Inputs", []) + layer.get("Outputs", []):
            t["Format/Datatype"] = "Row major linear FP8 format"
    band = estimate_engine(fp8, "h200").band
    assert any("no recording has float8" in n for n in band["notes"]), band["notes"]


def test_decode_tokens_per_second_against_the_h200_measurement():
    rows = pd.read_csv(DATA / "h200_kernels.csv")
    rows = rows[rows["kind"] == "decode"]
    assert len(rows) == 3 and (rows["dtype"] == "bfloat16").all()
    for row in rows.itertuples():
        s = json.loads(row.shape)
        est = decode_estimate(s["weight_bytes"] / 2, "h200", kv_bytes=s["kv_bytes"], batch=s["batch"],
                              context=s["context"], layers=s["layers"], hidden=s["hidden"])
        assert est.bound.startswith("memory") and 0.8 < est.step_ms / row.time_ms < 1.25
    big_batch = decode_estimate(8e9, "h200", batch=4096)
    assert big_batch.bound == "compute"
    assert kv_cache_bytes(32, 8, 128, 2048) == 2 * 32 * 8 * 128 * 2048 * 2


def test_h200_measurements_are_labelled_and_match_the_gpu_table():
    meta = json.loads((DATA / "h200_kernels.meta.json").read_text())
    assert meta["device"] == "NVIDIA H200" and "PyTorch kernels on H200" in meta["label"]
    assert gpu_spec("h200").sm_count == meta["sm_count"]


def test_cli_onnx_regions_lower_bound_and_decode(run_cli, attention_model, tmp_path):
    engine = tmp_path / "engine.json"
    engine.write_text(json.dumps({"Layers": [MYELIN, GROUPNORM]}))
    code, out, _ = run_cli("estimate", "--engine-json", engine, "--gpu", "a100")
    assert code == 0 and "(lower bound)" in out and "not estimated: 1 layers" in out and "--onnx" in out
    onnx_path = tmp_path / "block.onnx"
    onnx.save(attention_model.proto, onnx_path)
    code, out, _ = run_cli("estimate", "--engine-json", engine, "--onnx", onnx_path, "--gpu", "a100", "--json")
    info = json.loads(out)
    assert code == 0 and not info["lower_bound"] and info["layers"][0]["basis"] == "ONNX nodes"
    engine.write_text(json.dumps({"Layers": [MYELIN]}))
    code, _, err = run_cli("estimate", "--engine-json", engine, "--gpu", "a100")
    assert code == 1 and "ONNX model" in err and "--onnx" in err
    code, out, _ = run_cli("estimate", "--decode-params", "8e9", "--gpu", "h200")
    assert code == 0 and "tokens/s" in out and "bound: memory" in out
    code, _, err = run_cli("estimate", "--decode-params", "8e9", "--decode", "layers=x", "--gpu", "h200")
    assert code == 1 and "--decode" in err


def test_h200_kernel_checks_cover_every_kind_and_big_gemms_and_decode_hold():
    from workbench.engines.estimate.gpu_check import h200_kernel_checks

    checks = h200_kernel_checks()
    assert set(checks["kind"]) == {"attention", "groupnorm", "layernorm", "conv", "gemm", "decode-gemm", "decode"}
    held = checks[checks["kind"].isin(["decode", "decode-gemm", "layernorm"]) |
                  checks["kernel"].str.contains("m8192|m4096 n4096|m2048 n14336")]
    assert len(held) > 20 and held["ratio"].between(0.6, 1.75).all(), held
