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
    python benchmarks/bench_int8_vs_modelopt.py --only calibration-time [--repeats 5] [--cpus 0,1]

Timing: every variant of a model is timed once per repeat, round-robin, in an order that rotates every repeat,
after one untimed warm-up round (imports, file cache); a ratio is the median of the per-repeat ratios, printed with
their spread. ``--cpus`` pins this process and ModelOpt's (which inherits the affinity) to the same CPUs; ONNX
Runtime's default intra-op pool is the same on both sides. ``--only calibration-time`` times calibration +
quantization alone (no engine builds, no agreement), for the time ratios.
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
SAMPLES = {"yolo_detector": 32, "resnet50": 32}  # calibration (and held-out) samples where 64 would take minutes
PAIRS = (
    ("workbench entropy2", "modelopt entropy"),
    ("workbench minmax", "modelopt max"),
    ("workbench cpu target", "quantize_static U8S8"),
)

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
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", pin.name, MODELOPT], capture_output=True, text=True
    )
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
    from workbench.model import batch_shapes

    spec = model.inputs[0]
    if spec.dtype == "int64":
        calib = np.random.default_rng(0).integers(0, 1000, (64, 16))
        held = np.random.default_rng(1).integers(0, 1000, (64, 16))
    else:
        shape = batch_shapes(model, 1)[spec.name][1:]  # dynamic height/width: the sample's default (YOLO 320)
        count = SAMPLES.get(name, 64)
        calib = np.random.default_rng(0).standard_normal((count, *shape)).astype(np.float32)
        held = np.random.default_rng(1).standard_normal((count, *shape)).astype(np.float32)
    return {spec.name: calib}, {spec.name: held}


def engine_figures(model) -> dict:
    work = layer_workload(build_engine(model), model)
    reads_int8 = sum("int8" in str(p) for p in work["precision"])
    return {"layers": len(work), "int8_layers": int(reads_int8), "reformats": int((work["op"] == "reformat").sum())}


def figures(reference, quantized, held: dict, seconds: float) -> dict:
    row = compare(reference, quantized, held).iloc[0]
    return {
        "sqnr_db": float(row.sqnr_db),
        "seconds": seconds,
        "bytes": len(quantized.to_bytes()),
        **engine_figures(quantized),
    }


def run_modelopt(python: Path, model, calib: dict, method: str, folder: Path, float_precision: str = "fp32"):
    source, data, out = (
        folder / f"{model.name}.onnx",
        folder / f"{model.name}_calib.npz",
        folder / f"{model.name}_modelopt_{method}.onnx",
    )
    model.save(source)
    np.savez(data, **calib)
    done = subprocess.run(
        [str(python), "-c", DRIVER, str(source), str(data), method, str(out), float_precision],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
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
            self.batches = iter([{name: values[i : i + 16]} for i in range(0, len(values), 16)])

        def get_next(self):
            return next(self.batches, None)

    source, prepared, out = folder / "qs.onnx", folder / "qs_prepared.onnx", folder / "qs_int8.onnx"
    model.save(source)
    start = time.perf_counter()
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return load_model(out, name=f"{model.name}_quantize_static"), time.perf_counter() - start


def timed_variants(
    name: str, model, calib: dict, python: Path | None, folder: Path, float_precision: str, repeats: int
) -> tuple[dict, dict]:
    """({variant: last quantized model}, {variant: [seconds per repeat]}), timed round-robin (see the module doc)."""

    def ours(calibrator: str):
        return lambda: (
            quantize(
                model, calibrate(model, calib, calibrator, only_quantized=True), float_precision=float_precision
            ).model
        )

    runs = {"workbench entropy2": ours("entropy2"), "workbench minmax": ours("minmax")}
    if python is not None:
        for method in ("entropy", "max"):
            runs[f"modelopt {method}"] = lambda method=method: run_modelopt(
                python, model, calib, method, folder, float_precision
            )
    runs["workbench cpu target"] = lambda: (
        quantize(
            model, calibrate(model, calib, "minmax", only_quantized=True, target="onnxruntime"), target="onnxruntime"
        ).model
    )
    runs["quantize_static U8S8"] = lambda: quantize_static_cpu(model, calib, folder)
    models, seconds = {}, {v: [] for v in runs}
    order = list(runs)
    for repeat in range(repeats + 1):  # round 0: warm-up, not counted
        for variant in order[repeat % len(order) :] + order[: repeat % len(order)]:
            if variant not in runs:
                continue
            start = time.perf_counter()
            try:
                got = runs[variant]()
            except RuntimeError as exc:  # ModelOpt failed on this model: its rows are left out
                print(f"{name}: {variant} failed: {exc}")
                del runs[variant], seconds[variant]
                continue
            elapsed = time.perf_counter() - start
            if isinstance(got, tuple):  # ModelOpt's and quantize_static's own timing (no process start-up)
                got, elapsed = got
            models[variant] = got
            if repeat:
                seconds[variant].append(elapsed)
    return models, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--venv", default=str(cache_dir() / "modelopt-venv"))
    parser.add_argument(
        "--float-precision",
        default="fp32",
        choices=("fp32", "fp16"),
        help="what both leave unquantized runs in (ModelOpt's high_precision_dtype; its default fp16)",
    )
    parser.add_argument(
        "--only", choices=("calibration-time",), help="calibration-time: time ratios alone (no engines, no agreement)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per variant, interleaved (default 5 with --only calibration-time, else 1)",
    )
    parser.add_argument("--cpus", default=None, help="pin both sides to these CPUs, e.g. 0 or 0,1")
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.only else 1)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    print(f"CPUs {sorted(os.sched_getaffinity(0))}, {repeats} interleaved repeats after a warm-up round", flush=True)
    python, why = modelopt_python(Path(args.venv))
    if python is None:
        print(f"ModelOpt is not compared: {why}")
    rows, ratios = [], []
    folder = Path(tempfile.mkdtemp(prefix="bench-modelopt-"))
    for name in args.models.split(","):
        model = load_model(name)
        calib, held = datasets(name, model)
        variants, seconds = timed_variants(name, model, calib, python, folder, args.float_precision, repeats)
        for variant, q in variants.items():
            row = {"seconds": float(np.median(seconds[variant]))}
            if not args.only:
                engine = not variant.endswith(("cpu target", "U8S8"))  # CPU-target models are for ONNX Runtime
                row = (
                    figures(model, q, held, row["seconds"])
                    if engine
                    else {
                        "sqnr_db": float(compare(model, q, held).iloc[0].sqnr_db),
                        "seconds": row["seconds"],
                        "bytes": len(q.to_bytes()),
                    }
                )
            rows.append({"model": name, "variant": variant, **row})
            print(
                f"{name:<15} {variant:<22} "
                + "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                flush=True,
            )
        for ours, theirs in PAIRS:
            if ours in seconds and theirs in seconds:
                per_repeat = np.array(seconds[ours]) / np.array(seconds[theirs])
                ratios.append(
                    {
                        "model": name,
                        "pair": f"{ours} / {theirs}",
                        "ours_s": round(float(np.median(seconds[ours])), 3),
                        "theirs_s": round(float(np.median(seconds[theirs])), 3),
                        "time_ratio": round(float(np.median(per_repeat)), 2),
                        "spread": f"{per_repeat.min():.2f}-{per_repeat.max():.2f}",
                    }
                )
    import pandas as pd

    frame = pd.DataFrame(rows)
    print("\nAll figures (seconds: median over repeats):\n" + frame.to_string(index=False))
    print(
        f"\nTime ratios (workbench / other, calibration + quantization; median of {repeats} per-repeat ratios, "
        "spread min-max):"
    )
    print(pd.DataFrame(ratios).to_string(index=False))
    if args.only:
        return
    figures_ratios = []
    for name, group in frame.groupby("model", sort=False):
        by = group.set_index("variant")
        for ours, theirs in PAIRS:
            if ours in by.index and theirs in by.index:
                a, b = by.loc[ours], by.loc[theirs]
                engine = "int8_layers" in a and not ours.endswith("cpu target")
                figures_ratios.append(
                    {
                        "model": name,
                        "pair": f"{ours} / {theirs}",
                        "int8_layers": f"{a.int8_layers:.0f}/{b.int8_layers:.0f}" if engine else "",
                        "reformats": f"{a.reformats:.0f}/{b.reformats:.0f}" if engine else "",
                        "agreement_db": f"{a.sqnr_db:.1f} vs {b.sqnr_db:.1f}",
                        "time_ratio": round(a.seconds / b.seconds, 2),
                        "size_ratio": round(a.bytes / b.bytes, 2),
                    }
                )
    print("\nRatios (workbench / other; agreement = SQNR vs FP32 on held-out data, dB):")
    print(pd.DataFrame(figures_ratios).to_string(index=False))
    if python is None:
        print(f"\nModelOpt rows are missing: {why}")


if __name__ == "__main__":
    main()
