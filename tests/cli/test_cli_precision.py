"""`workbench quantize` and `workbench calibrate`."""

import json

import numpy as np

from workbench.model import load_model
from workbench.model.datasets import digits


def test_quantize_json_with_a_folder_of_samples(run_cli, tmp_path):
    folder = tmp_path / "calib"
    folder.mkdir()
    calib_x, _ = digits("calibration")
    for i in range(0, 100, 25):
        np.save(folder / f"batch{i}.npy", calib_x[i:i + 25])
    out = tmp_path / "q.onnx"
    code, stdout, err = run_cli("quantize", "digits_cnn", "--precision", "int8", "--calibrator", "entropy2",
                                "--calib-data", folder, "--samples", "60", "--target", "tensorrt", "-o", out,
                                "--json")
    assert code == 0, err
    info = json.loads(stdout)
    # 4 Conv + the skip Add; the 10-class Gemm head stays float (K or N under 16, and it writes the output)
    assert info["output"] == str(out) and info["quantized_nodes"] == 5 and info["by_op"]["Conv"] == 4
    assert info["skipped_nodes"] == 1 and len(info["tensors"]) == 4  # only the tensors that get Q/DQ calibrated
    assert {"tensor", "amax", "scale"} <= set(info["tensors"][0])
    assert all(abs(t["scale"] - t["amax"] / 127) < 1e-9 for t in info["tensors"])
    q = load_model(out)
    assert q.precision == "int8" and q.calibrator == "entropy2"
    assert q.stats.op_histogram["QuantizeLinear"] == info["quantize_linear"]


def test_quantize_for_onnxruntime_and_fp16(run_cli, tmp_path):
    code, stdout, err = run_cli("quantize", "digits_cnn", "--calib-data", "digits:calibration", "--calibrator",
                                "percentile", "--percentile", "99.9", "--target", "onnxruntime",
                                "-o", tmp_path / "cpu.onnx", "--json")
    assert code == 0, err
    assert json.loads(stdout)["target"] == "onnxruntime"
    code, stdout, err = run_cli("quantize", "digits_cnn", "--precision", "fp16", "-o", tmp_path / "h.onnx", "--json")
    assert code == 0 and load_model(tmp_path / "h.onnx").precision == "fp16"


def test_calibrate_writes_json_and_tensorrt_cache(run_cli, tmp_path):
    code, stdout, err = run_cli("calibrate", "digits_cnn", "--calibrator", "minmax", "--calib-data",
                                "digits:calibration", "-o", tmp_path / "t.json", "--trt-cache", tmp_path / "c.cache",
                                "--trt-version", "10.3.0", "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["calibrator"] == "minmax" and len(info["tensors"]) >= 10
    assert (tmp_path / "c.cache").read_text().startswith("TRT-100300-MinMaxCalibration\nimage: ")
    assert json.loads((tmp_path / "t.json").read_text())["calibrator"] == "minmax"


def test_precision_cli_errors_are_one_line(run_cli, tmp_path):
    cases = [
        (("quantize", "digits_cnn", "-o", tmp_path / "x.onnx"), "--calib-data is required"),
        (("quantize", "digits_cnn", "--calib-data", tmp_path / "nope", "-o", tmp_path / "x.onnx"), "does not exist"),
        (("calibrate", "digits_cnn", "--calibrator", "kl", "--calib-data", "digits:calibration"),
         "calibrator 'kl' is unknown"),
        (("quantize", "digits_cnn", "--exclude", "conv99", "--calib-data", "digits:calibration",
          "-o", tmp_path / "x.onnx"), "node 'conv99' is not in"),
    ]
    for argv, message in cases:
        code, _, err = run_cli(*argv)
        assert code == 1 and message in err and err.count("\n") <= 2, err
