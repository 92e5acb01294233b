"""INT8 side by side (issue 26 item 7): the workbench against NVIDIA ModelOpt's ONNX PTQ and ONNX Runtime's
quantize_static, same models, same calibration and held-out data, engines built with TensorRT-RTX (CPU builder).

ModelOpt (``nvidia-modelopt[onnx]``, ``modelopt.onnx.quantization.quantize``, ``quantize_mode='int8'``, calibration
``entropy`` and ``max``, CPU calibration, ``high_precision_dtype`` = ``--float-precision``, fp32 by default like the
workbench's) runs in its own virtual environment, which this script makes on first use (python -m venv + pip
install; torch is pinned to the version of this environment's, so pip takes the same build). It is never a
dependency of the workbench.

Printed as ratios, workbench / ModelOpt: engine layers reading INT8, reformat layers, agreement with FP32 (SQNR dB,
a difference), calibration + quantization time, ONNX file size; and for the CPU target the workbench's ONNX Runtime
placement against quantize_static (QDQ, U8S8, per-channel). Models: the bundled trained digits CNN (real held-out
images) and three generated samples (random weights, random inputs: agreement only).

    python benchmarks/bench_int8_vs_modelopt.py [--models digits_cnn,resnet_tiny] [--venv PATH] [--float-precision fp16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.engines import build_engine
from workbench.engines.estimate.workload import layer_workload
from workbench.model import load_model
from workbench.model.samples import cache_dir
from workbench.precision import calibrate, compare, quantize

MODELOPT = "nvidia-modelopt[onnx]==0.47.0"
MODELS = ("digits_cnn", "resnet_tiny", "inception_tiny", "bert_tiny")

DRIVER = r"""
import json, sys, time
import numpy as np
import modelopt.onnx.quantization as moq
source, data_path, method, out, high = sys.argv[1:6]
loaded = np.load(data_path)
data = {k: loaded[k] for k in loaded.files}
start = time.perf_counter()
moq.quantize(source, quantize_mode="int8", calibration_data=data, calibration_method=method,
             calibration_eps=["cpu"], high_precision_dtype=high, output_path=out, log_level="ERROR")
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def modelopt_python(venv: Path) -> tuple[Path | None, str]:
    """The venv's python with ModelOpt importable, making the venv first; (None, why) when it cannot be had."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import modelopt.onnx.quantization"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, ""
    print(f"making ModelOpt's virtual environment in {venv} (pip install {MODELOPT}) ...", flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode:
        return None, f"python -m venv {venv} failed: {made.stderr.strip()[-400:]}"
    pins = []
    try:
        import torch  # the same torch build as this environment's (a CPU wheel rather than CUDA's 3 GB)

        pins = [f"torch=={torch.__version__}"]
    except ImportError:
        pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pin:
        pin.write("\n".join(pins))
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", pin.name, MODELOPT],
                               capture_output=True, text=True)
    if installed.returncode:
        return None, f"pip install {MODELOPT} failed: {installed.stderr.strip()[-600:]}"
    probe = subprocess.run(check, capture_output=True, text=True)
    if probe.returncode:
        return None, f"ModelOpt installed but does not import: {probe.stderr.strip()[-600:]}"
    return python, ""


def datasets(name: str, model) -> tuple[dict, dict]:
    """(calibration feeds, held-out feeds): the digits splits for the trained CNN, seeded random data otherwise."""
    if name == "digits_cnn":
        from workbench.model.datasets import digits

        return {"image": digits("calibration")[0][:128]}, {"image": digits("test")[0][:200]}
    spec = model.inputs[0]
    if spec.dtype == "int64":
        calib = np.random.default_rng(0).integers(0, 1000, (64, 16))
        held = np.random.default_rng(1).integers(0, 1000, (64, 16))
    else:
        shape = [d if isinstance(d, int) else 1 for d in spec.shape][1:]
        calib = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
        held = np.random.default_rng(1).standard_normal((64, *shape)).astype(np.float32)
    return {spec.name: calib}, {spec.name: held}


def engine_figures(model) -> dict:
    work = layer_workload(build_engine(model), model)
    reads_int8 = sum("int8" in str(p) for p in work["precision"])
    return {"layers": len(work), "int8_layers": int(reads_int8), "reformats": int((work["op"] == "reformat").sum())}


def figures(reference, quantized, held: dict, seconds: float) -> dict:
    row = compare(reference, quantized, held).iloc[0]
    return {"sqnr_db": float(row.sqnr_db), "seconds": seconds, "bytes": len(quantized.to_bytes()),
            **engine_figures(quantized)}


def run_modelopt(python: Path, model, calib: dict, method: str, folder: Path, float_precision: str = "fp32"):
    source, data, out = folder / f"{model.name}.onnx", folder / f"{model.name}_calib.npz", \
        folder / f"{model.name}_modelopt_{method}.onnx"
    model.save(source)
    np.savez(data, **calib)
    done = subprocess.run([str(python), "-c", DRIVER, str(source), str(data), method, str(out),
                           float_precision],
                          capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-800:])
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return load_model(out, name=f"{model.name}_modelopt_{method}"), seconds


def quantize_static_cpu(model, calib: dict, folder: Path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            name, values = next(iter(calib.items()))
            self.batches = iter([{name: values[i:i + 16]} for i in range(0, len(values), 16)])

        def get_next(self):
            return next(self.batches, None)

    source, prepared, out = folder / "qs.onnx", folder / "qs_prepared.onnx", folder / "qs_int8.onnx"
    model.save(source)
    start = time.perf_counter()
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return load_model(out, name=f"{model.name}_quantize_static"), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--venv", default=str(cache_dir() / "modelopt-venv"))
    parser.add_argument("--float-precision", default="fp32", choices=("fp32", "fp16"),
                        help="what both leave unquantized runs in (ModelOpt's high_precision_dtype; its default fp16)")
    args = parser.parse_args()
    python, why = modelopt_python(Path(args.venv))
    if python is None:
        print(f"ModelOpt is not compared: {why}")
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="bench-modelopt-"))
    for name in args.models.split(","):
        model = load_model(name)
        calib, held = datasets(name, model)
        variants = {}
        for calibrator in ("entropy2", "minmax"):
            start = time.perf_counter()
            q = quantize(model, calibrate(model, calib, calibrator, only_quantized=True),
                         float_precision=args.float_precision).model
            variants[f"workbench {calibrator}"] = (q, time.perf_counter() - start)
        if python is not None:
            for method in ("entropy", "max"):
                try:
                    variants[f"modelopt {method}"] = run_modelopt(python, model, calib, method, folder,
                                                                  args.float_precision)
                except RuntimeError as exc:
                    print(f"{name}: ModelOpt {method} failed: {exc}")
        start = time.perf_counter()
        cpu = quantize(model, calibrate(model, calib, "minmax"), target="onnxruntime").model
        variants["workbench cpu target"] = (cpu, time.perf_counter() - start)
        variants["quantize_static U8S8"] = quantize_static_cpu(model, calib, folder)
        for variant, (q, seconds) in variants.items():
            engine = not variant.endswith(("cpu target", "U8S8"))  # CPU-target models are for ONNX Runtime
            row = figures(model, q, held, seconds) if engine else {
                "sqnr_db": float(compare(model, q, held).iloc[0].sqnr_db), "seconds": seconds,
                "bytes": len(q.to_bytes())}
            rows.append({"model": name, "variant": variant, **row})
            print(f"{name:<15} {variant:<22} " + "  ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    import pandas as pd

    frame = pd.DataFrame(rows)
    print("\nAll figures:\n" + frame.to_string(index=False))
    pairs = [("workbench entropy2", "modelopt entropy"), ("workbench minmax", "modelopt max")]
    ratios = []
    for name, group in frame.groupby("model", sort=False):
        by = group.set_index("variant")
        for ours, theirs in pairs:
            if ours in by.index and theirs in by.index:
                a, b = by.loc[ours], by.loc[theirs]
                ratios.append({"model": name, "pair": f"{ours} / {theirs}",
                               "int8_layers": f"{a.int8_layers:.0f}/{b.int8_layers:.0f}",
                               "reformats": f"{a.reformats:.0f}/{b.reformats:.0f}",
                               "agreement_db": f"{a.sqnr_db:.1f} vs {b.sqnr_db:.1f}",
                               "time_ratio": round(a.seconds / b.seconds, 2),
                               "size_ratio": round(a.bytes / b.bytes, 2)})
        if {"workbench cpu target", "quantize_static U8S8"} <= set(by.index):
            a, b = by.loc["workbench cpu target"], by.loc["quantize_static U8S8"]
            ratios.append({"model": name, "pair": "workbench cpu / quantize_static", "int8_layers": "",
                           "reformats": "", "agreement_db": f"{a.sqnr_db:.1f} vs {b.sqnr_db:.1f}",
                           "time_ratio": round(a.seconds / b.seconds, 2), "size_ratio": round(a.bytes / b.bytes, 2)})
    print("\nRatios (workbench / other; agreement = SQNR vs FP32 on held-out data, dB):")
    print(pd.DataFrame(ratios).to_string(index=False))
    if python is None:
        print(f"\nModelOpt rows are missing: {why}")


if __name__ == "__main__":
    main()
