import json

import onnx

from conftest import ENGINE_JSON
from models import custom_op


def test_layers_json_keys(run_cli):
    code, out, err = run_cli("layers", "resnet_tiny", "--shapes", "input:2x3x32x32", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["flavor"] in ("tensorrt", "tensorrt_rtx") and info["version"]
    assert info["onnx_nodes"] == 22 and len(info["network_layers"]) > 0
    layer = info["engine_layers"][0]
    assert {"name", "type", "onnx_nodes", "stream", "output_dtypes"} <= set(layer)
    assert any(f["onnx_ops"] == ["Conv", "BatchNormalization", "Relu"] for f in info["fusions"])
    assert {"activation_bytes", "naive_activation_bytes", "weights_bytes"} <= set(info["memory"])


def test_build_writes_engine_and_reports_cache(run_cli, tmp_path):
    out_path = tmp_path / "tiny.engine"
    code, out, err = run_cli("build", "resnet_tiny", "--min-shapes", "input:1x3x32x32", "--opt-shapes",
                             "input:2x3x32x32", "--max-shapes", "input:4x3x32x32", "-o", out_path, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert out_path.read_bytes()[1:4] == b"trt"
    assert first["profiles"]["input"] == {"min": [1, 3, 32, 32], "opt": [2, 3, 32, 32], "max": [4, 3, 32, 32]}
    code, out, _ = run_cli("build", "resnet_tiny", "--min-shapes", "input:1x3x32x32", "--opt-shapes",
                           "input:2x3x32x32", "--max-shapes", "input:4x3x32x32", "--json")
    assert json.loads(out)["cache_hit"] is True and "build_seconds" in json.loads(out)


def test_layers_from_engine_json_with_profile(run_cli):
    code, out, err = run_cli("layers", "--engine-json", ENGINE_JSON / "resnet.onnx.engine.graph.json",
                             "--profile", ENGINE_JSON / "resnet.onnx.engine.profile.json", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert len(info["engine_layers"]) == 36 and all("time_ms" in layer for layer in info["engine_layers"])
    assert {"flavor", "engine_layers", "fusions"} <= set(info)


def test_engine_errors_are_one_line(run_cli, tmp_path):
    path = tmp_path / "custom.onnx"
    onnx.save(custom_op(), str(path))
    code, out, err = run_cli("layers", path)
    assert code == 1 and "mystery_node" in err and "Traceback" not in err and err.count("\n") == 1
    code, _, err = run_cli("build", "resnet_tiny", "--min-shapes", "input:1x3x32x32")
    assert code == 1 and "together" in err
    code, _, err = run_cli("layers")
    assert code == 1 and "--engine-json" in err


def test_env(run_cli):
    code, out, _ = run_cli("env", "--json")
    info = json.loads(out)
    assert code == 0 and {"flavor", "version", "gpu", "can_run_engines", "reason"} <= set(info)


def test_lint_of_layer_json_takes_the_model_as_a_path(run_cli, tmp_path):
    import onnx

    from models import conv_bn_relu

    onnx.save(conv_bn_relu(), tmp_path / "model.onnx")  # --model is a path (it crashed on str.proto before)
    code, out, err = run_cli("lint", ENGINE_JSON / "resnet.onnx.engine.graph.json", "--model", tmp_path / "model.onnx",
                             "--json")
    assert code == 0, err
    assert isinstance(json.loads(out), list)
