"""Issue 19: image size and encoder length from the model's metadata or the files beside it (each with its source),
the Model panel's fallback using the library's rules, and the merged-decoder sample through every command."""

import json
import warnings

import onnx
import pytest
from models import pixel_values_vision
from onnx import TensorProto as T
from onnx import helper as h

from workbench.model import load_model
from workbench.model.samples import merged_decoder


def _save(folder, proto, name="model.onnx", **files):
    folder.mkdir(exist_ok=True)
    onnx.save(proto, str(folder / name))
    for file_name, content in files.items():
        (folder / file_name.replace("_json", ".json")).write_text(json.dumps(content))
    return folder / name


def test_image_size_from_config_preprocessor_or_metadata(tmp_path):
    model = load_model(_save(tmp_path / "a", pixel_values_vision(), config_json={"image_size": 384}))
    assert model.shapes.default == {"pixel_values": (1, 3, 384, 384)}
    sources = model.shapes.sources().set_index("dim")
    assert sources.loc["height", "source"] == "config"
    assert sources.loc["height", "detail"] == "from config.json beside the model (image_size)"
    assert "height, width from the files beside the model" in model.shapes.describe()
    size = {"size": {"height": 512, "width": 480}}
    assert load_model(_save(tmp_path / "b", pixel_values_vision(), preprocessor_config_json=size)
                      ).shapes.default["pixel_values"] == (1, 3, 512, 480)
    tagged = pixel_values_vision()
    h.set_model_props(tagged, {"image_size": "[320, 320]"})
    sources = load_model(tagged).shapes.sources().set_index("dim")
    assert sources.loc["width", "value"] == 320 and sources.loc["width", "source"] == "metadata"
    with pytest.warns(UserWarning, match="config.json beside the model is not readable JSON"):
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "config.json").write_text("{not json")
        onnx.save(pixel_values_vision(), str(tmp_path / "c" / "model.onnx"))
        assert load_model(tmp_path / "c" / "model.onnx").shapes.default["pixel_values"] == (1, 3, 224, 224)


def _encoder(length=1500, hidden=16):
    g = h.make_graph([h.make_node("Identity", ["input_features"], ["last_hidden_state"], name="encoder")], "encoder",
                     [h.make_tensor_value_info("input_features", T.FLOAT, ["batch_size", length, hidden])],
                     [h.make_tensor_value_info("last_hidden_state", T.FLOAT, ["batch_size", length, hidden])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_encoder_length_from_the_encoder_beside_or_config(tmp_path):
    plain = load_model(merged_decoder("merged_decoder"))  # nothing beside: a typical length, said so
    row = plain.shapes.sources().set_index(["input", "axis"]).loc[("encoder_hidden_states", 1)]
    assert row["value"] == 128 and "Whisper's 1500" in row["detail"]
    path = _save(tmp_path / "cfg", merged_decoder("merged_decoder"), "decoder_model_merged.onnx",
                 config_json={"max_source_positions": 1500})
    model = load_model(path)
    shapes = model.shapes.default
    assert shapes["encoder_hidden_states"] == (1, 1500, 16)
    assert shapes["past_key_values.0.encoder.key"] == (1, 2, 1500, 8)  # the cross-attention cache: the same length
    detail = model.shapes.sources().set_index(["input", "axis"]).loc[("encoder_hidden_states", 1), "detail"]
    assert detail == "the encoder's length, from config.json beside the model (max_source_positions)"
    folder = tmp_path / "enc"
    path = _save(folder, merged_decoder("merged_decoder"), "decoder_model_merged.onnx")
    onnx.save(_encoder(1500), str(folder / "encoder_model.onnx"))
    detail = load_model(path).shapes.sources().set_index(["input", "axis"]).loc[("encoder_hidden_states", 1)]
    assert detail["value"] == 1500 and "'last_hidden_state' of encoder_model.onnx beside the model" in detail["detail"]


def test_model_panel_fallback_takes_channels_from_the_conv_weight():
    from workbench.widgets import ModelPanel

    broken = pixel_values_vision()
    h.set_model_props(broken, {"imgsz": "[640, abc]"})  # a shape entry that is no shape: the panel's fallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = ModelPanel("resnet_tiny")
        panel.load(broken)
    assert "is not an image size" in panel.message.value
    row = panel.shape_rows["pixel_values"]
    assert row.opt.value == "1x3x224x224" and "patch_embed" in row.sources.value


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    """One engine cache for the commands below: the engine is built once, then found (as for a user)."""
    return tmp_path_factory.mktemp("merged_decoder_cache")


@pytest.mark.parametrize("command", ["inspect", "layers", "build", "lint", "bench"])
def test_every_command_runs_on_the_merged_decoder_sample_with_no_flags(run_cli, command, tmp_path, monkeypatch,
                                                                      engine_cache):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(engine_cache))
    quick = ("--duration", "0.02", "--warmup", "0.01", "--iterations", "2", "--results", tmp_path / "r.sqlite") \
        if command == "bench" else ()
    code, out, err = run_cli(command, "merged_decoder", *quick)
    assert code == 0, err
    assert "cudaError" not in err + out
    if command != "lint":
        assert "encoder_hidden_states:1x128x16" in out or "encoder_hidden_states" in out
    if command == "build":
        assert "decode (profile 0" in out and "prefill (profile 1" in out
