"""INT4 weight-only (AWQ-style per-group scales) and SmoothQuant on the Llama-style decoder sample (issue 26)."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T

from workbench.engines import build_engine
from workbench.engines.estimate.workload import layer_workload
from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.precision import calibrate, compare, quantize
from workbench.precision.smoothquant import smooth, smoothquant
from workbench.precision.weight_only import quantize_weights_int4


def decode_feeds(batch: int, seed: int, past: int = 16) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {"input_ids": rng.integers(0, 512, (batch, 1)), "attention_mask": np.ones((batch, past + 1), np.int64)}
    for layer in range(2):
        for kind in ("key", "value"):
            feeds[f"past_key_values.{layer}.{kind}"] = rng.standard_normal((batch, 4, past, 16)).astype(np.float32)
    return feeds


@pytest.fixture(scope="module")
def llama():
    return load_model("llama_tiny")


@pytest.fixture(scope="module")
def calib():
    return decode_feeds(48, 1)


@pytest.fixture(scope="module")
def held_out():
    return decode_feeds(48, 2)


def _logits(row_frame):
    return row_frame[row_frame.output == "logits"].iloc[0]


def test_llama_sample_is_a_kv_cache_decoder(llama):
    names = [i.name for i in llama.inputs]
    assert names[:2] == ["input_ids", "attention_mask"] and "past_key_values.1.value" in names
    assert [o.name for o in llama.outputs][:2] == ["logits", "present.0.key"]
    assert llama.stats.op_histogram["MatMul"] == 19 and llama.stats.op_histogram["Sigmoid"] == 2  # 7 per layer + 4 attention + head


def test_int4_awq_block_quantization_beats_round_to_nearest(llama, calib, held_out):
    rtn = quantize_weights_int4(llama, method="rtn", block_size=16)
    awq = quantize_weights_int4(llama, calib, method="awq", block_size=16)
    q = awq.model
    onnx.checker.check_model(q.proto, full_check=True)
    assert q.opset >= 21 and q.precision == "int4"
    dq = [n for n in q.nodes if n.op_type == "DequantizeLinear"]
    assert len(dq) == 15  # every projection and the lm_head; the attention MatMuls read no weight
    assert all({a.name: a.i for a in n.attribute}["block_size"] == 16 for n in dq)
    assert sum(t.data_type == T.INT4 for t in q.proto.graph.initializer) == 15
    assert not any(t.data_type == T.FLOAT and len(t.dims) == 2 and t.dims[0] == 64 and t.dims[1] == 128
                   for t in q.proto.graph.initializer)  # no float copy of a weight is left behind
    assert awq.report["quantized"].all() and "round-to-nearest" in awq.report.note.iloc[0]
    rtn_row, awq_row = _logits(compare(llama, rtn.model, held_out)), _logits(compare(llama, q, held_out))
    assert awq_row.sqnr_db > rtn_row.sqnr_db + 3, (awq_row.sqnr_db, rtn_row.sqnr_db)
    fp32_bytes = sum(np.prod(t.dims) * 4 for t in llama.proto.graph.initializer if t.data_type == T.FLOAT)
    assert build_engine(q).memory["weights_bytes"] < 0.5 * fp32_bytes  # TensorRT-RTX keeps the weights in int4


def test_int4_weights_with_fp16_activations(llama, held_out):
    w4a16 = quantize_weights_int4(llama, method="rtn", block_size=32, float_precision="fp16")
    onnx.checker.check_model(w4a16.model.proto, full_check=True)
    fp32_rest = quantize_weights_int4(llama, method="rtn", block_size=32)
    a, b = _logits(compare(llama, w4a16.model, held_out)), _logits(compare(llama, fp32_rest.model, held_out))
    assert abs(a.sqnr_db - b.sqnr_db) < 1.0
    precisions = layer_workload(build_engine(w4a16.model), w4a16.model)["precision"].value_counts()
    assert precisions.get("float16", 0) > precisions.get("float32", 0)


def test_int4_errors(llama):
    with pytest.raises(ConfigError, match="needs calibration data"):
        quantize_weights_int4(llama, method="awq")
    with pytest.raises(ConfigError, match="method 'gptq' is unknown"):
        quantize_weights_int4(llama, method="gptq")
    with pytest.raises(ConfigError, match="power of two"):
        quantize_weights_int4(llama, method="rtn", block_size=24)
    with pytest.raises(ConfigError, match="no MatMul .* can take INT4"):
        quantize_weights_int4(load_model("resnet_tiny"), method="rtn")


def test_smoothquant_moves_outliers_into_weights_and_helps_int8(llama, calib, held_out):
    smoothed = smooth(llama, calib)
    assert _logits(compare(llama, smoothed.model, held_out)).sqnr_db > 80  # the same function in float
    report = smoothed.report
    assert (report.outlier_ratio_after < report.outlier_ratio_before).all()
    assert report.outlier_ratio_before.max() > 10 > report.outlier_ratio_after.max()
    plain = quantize(llama, calibrate(llama, calib, "minmax", only_quantized=True))
    sq = smoothquant(llama, calib)
    onnx.checker.check_model(sq.model.proto, full_check=True)
    assert "SmoothQuant alpha 0.5" in sq.notes[-1] and sq.counts["quantized_nodes"] == plain.counts["quantized_nodes"]
    plain_row, sq_row = _logits(compare(llama, plain.model, held_out)), _logits(compare(llama, sq.model, held_out))
    assert sq_row.sqnr_db > plain_row.sqnr_db and sq_row.top1_agreement >= plain_row.top1_agreement
    precisions = layer_workload(build_engine(sq.model), sq.model)["precision"].value_counts()
    assert precisions.get("int8", 0) >= 8
    with pytest.raises(ConfigError, match="alpha 1.5 must be in"):
        smooth(llama, calib, alpha=1.5)


def test_cli_quantize_llm(run_cli, tmp_path, calib):
    folder = tmp_path / "feeds"
    folder.mkdir()
    for start in (0, 16):
        np.savez(folder / f"batch{start}.npz", **{k: v[start:start + 16] for k, v in calib.items()})
    out = tmp_path / "int4.onnx"
    code, stdout, err = run_cli("quantize-llm", "llama_tiny", "--method", "rtn", "--block-size", "16",
                                "-o", out, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["precision"] == "int4" and info["quantized_nodes"] == 15 and load_model(out).opset >= 21
    code, stdout, err = run_cli("quantize-llm", "llama_tiny", "--method", "smoothquant", "--calib-data", folder,
                                "-o", tmp_path / "sq.onnx", "--json")
    assert code == 0 and json.loads(stdout)["precision"] == "int8", err
    code, _, err = run_cli("quantize-llm", "llama_tiny", "-o", tmp_path / "x.onnx")
    assert code != 0 and "--method awq needs --calib-data" in err
