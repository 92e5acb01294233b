"""Issue 19: an LLM decoder's prefill and decode presets, two optimization profiles of one engine, and --shapes on
every command that runs the model (calibrate and quantize included)."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from models import kv_cache_decoder

from workbench.errors import ConfigError
from workbench.model import generate_feeds, load_model


@pytest.fixture(scope="module")
def decoder_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("llm") / "decoder.onnx"
    onnx.save(kv_cache_decoder(), str(path))
    return path


def test_prefill_and_decode_presets_run_in_onnx_runtime(decoder_file):
    model = load_model(decoder_file)
    assert model.shapes.presets == ("decode", "prefill")
    prefill = model.shapes.resolve("prefill")
    assert prefill["input_ids"] == (1, 128) and prefill["past_key_values.0.key"] == (1, 2, 0, 8)
    assert prefill["attention_mask"] == (1, 128)  # 0 + 128
    assert "sequence_length from the prefill preset" in model.shapes.describe("prefill")
    assert model.shapes.resolve("decode") == model.shapes.default  # decode is the default
    session = ort.InferenceSession(str(decoder_file), providers=["CPUExecutionProvider"])
    logits, present, _ = session.run(None, generate_feeds(model.at_shapes("prefill")))  # an empty past runs
    assert logits.shape == (1, 128, 100) and present.shape == (1, 2, 128, 8)
    with pytest.raises(ConfigError, match="'prefill' preset is for LLM decoders"):
        load_model("resnet_tiny").shapes.resolve("prefill")


def test_a_decoder_builds_one_engine_with_both_profiles(decoder_file):
    from workbench.engines import BuildConfig, build_engine

    model = load_model(decoder_file)
    named = BuildConfig().named_profiles(model)
    assert list(named) == ["decode", "prefill"]
    assert named["prefill"]["past_key_values.0.key"] == ((1, 2, 0, 8),) * 3
    assert named["decode"]["past_key_values.0.key"] == ((1, 2, 1, 8), (1, 2, 128, 8), (1, 2, 128, 8))
    assert named["prefill"]["input_ids"] == ((1, 1), (1, 128), (1, 128))
    # shapes given, or a preset chosen: one profile
    assert list(BuildConfig().named_profiles(model.at_shapes("prefill"))) == ["default"]
    result = build_engine(model, cache=None)  # TensorRT-RTX takes the zero-length past of the prefill profile
    assert list(result.named_profiles) == ["decode", "prefill"] and result.profiles == named["decode"]
    feeds = {n: a.shape for n, a in generate_feeds(model.at_shapes("prefill")).items()}
    result.check_shapes(feeds)  # prefill shapes fit profile 1
    too_long = {**feeds, "past_key_values.0.key": (1, 2, 300, 8), "past_key_values.0.value": (1, 2, 300, 8),
                "input_ids": (1, 1), "attention_mask": (1, 301)}
    with pytest.raises(ConfigError, match=r"no optimization profile.*'past_key_values\.0\.key'.*max \[1, 2, 128, 8\]"):
        result.check_shapes(too_long)


def test_cli_takes_a_preset_name(run_cli, decoder_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli("inspect", decoder_file, "--shapes", "prefill")
    assert code == 0, err
    assert "input_ids:1x128" in out and "from the prefill preset" in out
    code, out, err = run_cli("build", decoder_file)
    assert code == 0, err
    assert "optimization profiles of the one engine: decode (profile 0" in out and "prefill (profile 1" in out
    code, out, err = run_cli("build", decoder_file, "--shapes", "prefill", "--json")
    assert code == 0, err
    assert list(json.loads(out)["named_profiles"]) == ["default"]


def test_calibrate_and_quantize_take_shapes_and_print_them(run_cli, tmp_path):
    code, out, err = run_cli("calibrate", "digits_cnn", "--calibrator", "minmax", "--calib-data",
                             "digits:calibration", "--samples", "8", "--shapes", "image:1x1x8x8")
    assert code == 0, err
    assert "shapes: image:1x1x8x8" in out
    code, out, err = run_cli("quantize", "digits_cnn", "--precision", "fp16", "--shapes", "image:2x1x8x8",
                             "-o", tmp_path / "h.onnx")
    assert code == 0, err
    assert "shapes: image:2x1x8x8" in out
    written = tmp_path / "bad.onnx"
    code, out, err = run_cli("quantize", "digits_cnn", "--calib-data", "digits:calibration", "--shapes",
                             "image:1x3x8x8", "-o", written)
    assert code == 1 and "image" in err and "dimension 1 is fixed at 1" in err and not written.exists()
    code, out, err = run_cli("calibrate", "digits_cnn", "--calib-data", "digits:calibration", "--shapes", "nope:1x2")
    assert code == 1 and "'nope', which is not an input" in err


def test_zero_lengths_are_accepted_negative_ones_refused():
    from workbench.model import parse_shapes

    assert parse_shapes("past:1x2x0x8") == {"past": (1, 2, 0, 8)}
    with pytest.raises(ConfigError, match="0 or more"):
        parse_shapes({"past": (1, -2)})
    assert np.prod(parse_shapes("x:0")["x"]) == 0
