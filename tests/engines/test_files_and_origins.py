"""Files and origins: engine JSON and calibration caches say which TensorRT they are for (never a hard-coded one),
files are written atomically, and a broken TensorRT install is reported as broken."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from workbench.bench import ResultsStore
from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.precision import CalibrationTable, PrecisionPlan, calibrate

from conftest import ENGINE_JSON, ROOT
from models import conv_bn_relu

calibrate_module = sys.modules["workbench.precision.calibrate"]


def _table() -> CalibrationTable:
    frame = pd.DataFrame({"tensor": ["x", "y"], "amax": [1.0, 2.0], "scale": [1 / 127, 2 / 127],
                          "min": [-1.0, 0.0], "max": [1.0, 2.0]})
    return CalibrationTable(frame, "entropy2")


# --- 9: which TensorRT ----------------------------------------------------------------------------------------------
def test_engine_json_reports_the_flavour_and_version_it_states_or_unknown(run_cli, tmp_path):
    code, out, err = run_cli("layers", "--engine-json", ENGINE_JSON / "resnet.onnx.engine.graph.json", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert (info["flavor"], info["version"]) == ("unknown", "unknown")  # trtexec's layer JSON does not say
    code, out, _ = run_cli("layers", "--engine-json", ENGINE_JSON / "resnet.onnx.engine.graph.json")
    assert out.startswith("TensorRT (flavour and version not stated in the file)")
    stated = json.loads((ENGINE_JSON / "resnet.onnx.engine.graph.json").read_text())
    stated.update(TensorRTVersion="8.6.1", flavor="tensorrt")
    (tmp_path / "stated.json").write_text(json.dumps(stated))
    code, out, _ = run_cli("layers", "--engine-json", tmp_path / "stated.json", "--json")
    assert (json.loads(out)["flavor"], json.loads(out)["version"]) == ("tensorrt", "8.6.1")


def test_the_calibration_cache_header_uses_the_installed_tensorrt_unless_told(monkeypatch, tmp_path):
    table = _table()
    monkeypatch.setattr(calibrate_module, "installed_tensorrt_version", lambda: "10.8.0")
    assert table.save_tensorrt_cache(tmp_path / "a.cache").read_text().startswith("TRT-100800-EntropyCalibration2\n")
    assert table.save_tensorrt_cache(tmp_path / "b.cache", "10.3.0").read_text().startswith("TRT-100300-")
    monkeypatch.setattr(calibrate_module, "installed_tensorrt_version", lambda: None)
    with pytest.raises(ConfigError, match="no TensorRT is installed .*tensorrt_version="):
        table.save_tensorrt_cache(tmp_path / "c.cache")
    assert not (tmp_path / "c.cache").exists()
    with pytest.raises(ConfigError, match="'ten' is not a version"):
        table.save_tensorrt_cache(tmp_path / "c.cache", "ten")


def test_the_cli_settles_the_cache_version_before_calibrating(run_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(calibrate_module, "installed_tensorrt_version", lambda: None)
    import workbench.precision

    monkeypatch.setattr(workbench.precision, "calibrate", lambda *a, **k: pytest.fail("calibrated before failing"))
    code, _, err = run_cli("calibrate", "digits_cnn", "--calib-data", "digits:calibration",
                           "--trt-cache", tmp_path / "c.cache")
    assert code == 1 and "--trt-version" in err and err.count("\n") == 1


def test_a_legacy_calibration_cache_loads_as_legacy(tmp_path):
    (tmp_path / "legacy.cache").write_text("TRT-100300-LegacyCalibration\nconv1: 3c010a14\n")
    table = CalibrationTable.load_tensorrt_cache(tmp_path / "legacy.cache")
    assert table.calibrator == "legacy" and table.frame.scale[0] == pytest.approx(0.007876, rel=1e-4)
    again = table.save_tensorrt_cache(tmp_path / "again.cache", "10.3.0").read_text()
    assert again.startswith("TRT-100300-LegacyCalibration\nconv1: 3c010a14")
    assert PrecisionPlan("int8", calibrator="legacy").calibrator == "legacy"  # a plan applied with such a table
    model = load_model(conv_bn_relu(), name="conv_bn_relu")
    with pytest.raises(ConfigError, match="cannot be run"):
        calibrate(model, np.zeros((2, 3, 8, 8), np.float32), "legacy")
    (tmp_path / "odd.cache").write_text("TRT-100300-FancyCalibration\nconv1: 3c010a14\n")
    with pytest.raises(ConfigError, match="'FancyCalibration' is unknown"):
        CalibrationTable.load_tensorrt_cache(tmp_path / "odd.cache")


# --- 14: atomic writes ------------------------------------------------------------------------------------------------
def _writers(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    model = load_model(conv_bn_relu(), name="conv_bn_relu")
    return {"calibration JSON": lambda path: _table().save_json(path),
            "TensorRT calibration cache": lambda path: _table().save_tensorrt_cache(path, "10.3.0"),
            "model (CLI quantize -o)": lambda path: model.save(path),
            "results CSV (CLI history --csv)": lambda path: store.to_csv(path)}


@pytest.mark.parametrize("failure", ["rename", "write"])
def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch, failure):
    for what, write in _writers(tmp_path).items():
        target = tmp_path / f"{what}.out"
        target.write_bytes(b"the old file")
        with monkeypatch.context() as patch:
            if failure == "rename":
                patch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
            else:
                patch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
            with pytest.raises((KeyboardInterrupt, OSError)):
                write(target)
        assert target.read_bytes() == b"the old file", what
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], what  # no temp left
        write(target)
        assert target.read_bytes() != b"the old file", what


# --- 16: a broken TensorRT is not a missing one -------------------------------------------------------------------
def _with_broken(tmp_path, *names) -> dict:
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            'raise ImportError("libnvinfer.so.10: cannot open shared object file")\n')
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))


def test_a_broken_tensorrt_install_is_reported_as_broken(tmp_path):
    env = _with_broken(tmp_path, "tensorrt", "tensorrt_rtx")
    code = ("from workbench.engines.flavor import select_flavor\n"
            "try:\n    select_flavor()\nexcept Exception as exc:\n    print(exc)\n"
            "try:\n    select_flavor('tensorrt')\nexcept Exception as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    auto, asked = out.strip().splitlines()
    assert "no working TensorRT" in auto and "tensorrt is installed but broken" in auto and "libnvinfer" in auto
    assert "not installed" not in auto
    assert "'tensorrt' was asked for but cannot be used: installed but broken" in asked


def test_the_environment_names_a_broken_flavour_beside_the_working_one(tmp_path):
    env = _with_broken(tmp_path, "tensorrt")
    code = "from workbench.engines import tensorrt_environment\nprint(tensorrt_environment())"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("tensorrt_rtx") and "tensorrt is installed but broken" in run.stdout
