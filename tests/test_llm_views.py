"""Issue 19: LLM views — KV-cache bytes, the fusion view per decoder block, the attention TensorRT fuses."""

import pytest
from models import kv_cache_decoder

from workbench.model import load_model
from workbench.model.kv_cache import describe_kv_cache, kv_cache_table


def test_kv_cache_bytes_per_token_and_at_the_maximum():
    model = load_model(kv_cache_decoder(), name="decoder.onnx")
    cache = (1, 2, 512, 8)
    table = kv_cache_table(model.inputs, [model.resolve_shapes(),  # decode: 128 past tokens; a second profile: 512
                                          {"past_key_values.0.key": cache, "past_key_values.0.value": cache}])
    per_token = 2 * 8 * 4  # kv heads x head size x float32, for key and for value each
    assert list(table["input"]) == ["past_key_values.0.key", "past_key_values.0.value", "total"]
    assert list(table["bytes_per_token"]) == [per_token, per_token, 2 * per_token]
    assert table.iloc[-1].bytes_at_max == 2 * per_token * 512 and table.iloc[-1].max_tokens == 512
    assert describe_kv_cache(table) == "KV cache: 128 B per token (2 inputs); 64.0 KiB at the profile's maximum " \
                                       "(512 tokens)"


def test_fp16_cache_is_half_and_models_without_cache_have_none():
    proto = kv_cache_decoder()
    for value in proto.graph.input[2:]:
        value.type.tensor_type.elem_type = 10  # float16
    model = load_model(proto, name="decoder.onnx", check=False)
    assert kv_cache_table(model.inputs, model.resolve_shapes()).iloc[-1].bytes_per_token == 64
    assert describe_kv_cache(kv_cache_table(load_model("resnet_tiny").inputs, {})) is None


def test_inspect_shows_the_kv_cache(run_cli, tmp_path):
    import onnx

    path = tmp_path / "decoder.onnx"
    onnx.save(kv_cache_decoder(), str(path))
    code, out, _ = run_cli("inspect", path)
    assert code == 0 and "KV cache: 128 B per token (2 inputs); 16.0 KiB at the profile's maximum (128 tokens)" in out
    code, out, _ = run_cli("inspect", path, "--shapes", "past_key_values.0.key:1x2x300x8", "--json")
    assert code == 0 and '"bytes_at_max": 38400' in out  # 128 B per token x 300


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
