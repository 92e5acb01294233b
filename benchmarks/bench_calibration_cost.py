"""What calibration costs against plain inference (issue 19, item 5): calibrating N samples must cost at most 1.5x
N plain forward passes of the same model. Measured in one run, per model and calibrator, interleaved and repeated:

- plain: N forward passes, one sample each, in an ONNX Runtime session with the options the calibration session
  uses (full graph optimizations, ONNX Runtime's default intra-op threads), created and warmed up before timing:
  what serving the model costs;
- calibration: ``calibrate(model, data, calibrator, only_quantized=True)`` as ``quantize`` runs it, everything
  included (the quantizability check, the calibration session, batching, histograms, threshold search).

Each round times plain, then every calibrator, then plain again; a calibrator's ratio in that round is its time over
the mean of the two plain timings around it (the shared machine's load drifts). ROUNDS rounds (default 3); the
median ratio is reported with its spread (min..max). Models: the YOLO sample (a detector) and a CNN (the
ResNet-50-shaped sample at 112x112); bert_tiny (sequence 128) on request. BENCH_SAMPLES (default 16; "16,64" runs
both), BENCH_MODELS (comma-separated) and BENCH_ROUNDS change what runs. session_s: the calibration session's build,
the fixed part of every calibration. The histogram counting runs in the compiled kernel where the install built it
(printed first); BENCH_KERNEL=numpy counts with numpy instead, for a comparison (the same counts).
Run: python benchmarks/bench_calibration_cost.py
"""

import os
import time

import numpy as np
import onnxruntime as ort
import pandas as pd

from workbench.model import batch_shapes, generate_feeds, load_model
from workbench.model.samples import resnet
from workbench.precision import calibrate, histogram
from workbench.precision.calibrate import calibration_session

SAMPLE_COUNTS = [int(s) for s in os.environ.get("BENCH_SAMPLES", "16").split(",")]
MODELS = os.environ.get("BENCH_MODELS", "yolo_detector,resnet50@112").split(",")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CALIBRATORS = ("minmax", "entropy2", "percentile", "auto")
GOAL = 1.5


def load(name: str):
    if name == "resnet50@112":
        return load_model(
            resnet("resnet50", (3, 4, 6, 3), (64, 128, 256, 512), True, 64, 112, 1000), name="resnet50_112"
        )
    return load_model(name)


def data_for(model, name: str, samples: int) -> dict:
    shapes = {"input_ids": (samples, 128), "attention_mask": (samples, 128), "token_type_ids": (samples, 128)}
    inputs = {i.name for i in model.inputs}
    feeds = generate_feeds(
        model, batch_shapes(model, samples, {k: v for k, v in shapes.items() if k in inputs}), seed=0
    )
    for spec in model.inputs:
        if spec.dtype.startswith("float"):
            low = 0.0 if name == "yolo_detector" else -3.0
            feeds[spec.name] = np.clip(feeds[spec.name], low, 1.0 if name == "yolo_detector" else 3.0)
    return feeds


def plain_session(model) -> ort.InferenceSession:
    """The calibration session's options (calibrate.calibration_session), so the comparison is like for like."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])


def plain_seconds(session, feeds, samples: int) -> float:
    start = time.perf_counter()
    for i in range(samples):
        session.run(None, {k: v[i : i + 1] for k, v in feeds.items()})
    return time.perf_counter() - start


def session_seconds(model, tensors: list[str]) -> float:
    """Building the calibration session for ``tensors`` (those a calibration chose; median of 3): the fixed part of
    every calibration, which N plain passes of an already built session do not include."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        calibration_session(model, tensors)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    if os.environ.get("BENCH_KERNEL") == "numpy":
        histogram.kernel = None
    print(
        "histogram counting: "
        + ("the compiled kernel" if histogram.kernel else "numpy (BENCH_KERNEL=numpy, or the kernel is not built)"),
        flush=True,
    )
    rows = []
    for name in MODELS:
        model = load(name)
        session = plain_session(model)
        build_s = None
        for samples in SAMPLE_COUNTS:
            feeds = data_for(model, name, samples)
            plain_seconds(session, feeds, 1)  # warm-up
            warm = calibrate(model, feeds, "minmax", only_quantized=True)  # warm-up (first-use caches of the model)
            if build_s is None:
                build_s = session_seconds(model, warm.frame["tensor"].tolist())
            ratios: dict[str, list[float]] = {c: [] for c in CALIBRATORS}
            spent: dict[str, list[float]] = {c: [] for c in CALIBRATORS}
            plains, tensors = [], {}
            for _ in range(ROUNDS):
                before = plain_seconds(session, feeds, samples)
                for calibrator in CALIBRATORS:
                    start = time.perf_counter()
                    tensors[calibrator] = len(calibrate(model, feeds, calibrator, only_quantized=True))
                    seconds = time.perf_counter() - start
                    after = plain_seconds(session, feeds, samples)
                    ratios[calibrator].append(seconds / ((before + after) / 2))
                    spent[calibrator].append(seconds)
                    plains.append(after)
                    before = after
            for calibrator in CALIBRATORS:
                r = np.array(ratios[calibrator])
                rows.append(
                    {
                        "model": model.name,
                        "samples": samples,
                        "calibrator": calibrator,
                        "tensors": tensors[calibrator],
                        "plain_s": round(float(np.median(plains)), 3),
                        "calibration_s": round(float(np.median(spent[calibrator])), 3),
                        "session_s": round(build_s, 3),
                        "ratio": round(float(np.median(r)), 2),
                        "spread": f"{r.min():.2f}..{r.max():.2f}",
                    }
                )
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(f"\nCalibration of N samples / N plain forward passes, median of {ROUNDS} rounds (goal <= {GOAL}):")
    print(frame.to_string(index=False))
    print("session_s: building the calibration session, inside every calibration's time (plain_s has none)")
    if frame["samples"].nunique() > 1:
        print_fixed_and_per_sample(frame)
    over = frame[frame["ratio"] > GOAL]
    print(
        "\nall within the goal"
        if over.empty
        else "\nover the goal: "
        + ", ".join(f"{r.model}@{r.samples} {r.calibrator} {r.ratio}" for r in over.itertuples())
    )


def print_fixed_and_per_sample(frame: pd.DataFrame) -> None:
    """Calibration time as a fixed part plus a part per sample (a least-squares line over the sample counts run),
    both in plain forward passes: the fixed part (the session build, the first batch's allocations, the threshold
    searches) is what decides small N, the per-sample ratio what decides large N; and the N from which the goal
    holds, where the per-sample ratio is under it."""
    rows = []
    for (model, calibrator), group in frame.groupby(["model", "calibrator"], sort=False):
        n = group["samples"].to_numpy(float)
        per_pass = float((group["plain_s"] * n).sum() / (n * n).sum())  # plain: N passes, no fixed part
        slope, fixed = np.polyfit(n, group["calibration_s"].to_numpy(float), 1)
        per_sample = slope / per_pass
        rows.append(
            {
                "model": model,
                "calibrator": calibrator,
                "fixed_s": round(fixed, 3),
                "fixed_in_passes": round(fixed / per_pass, 1),
                "per_sample_ratio": round(per_sample, 2),
                "goal_from_N": int(np.ceil(max(fixed, 0.0) / ((GOAL - per_sample) * per_pass)))
                if per_sample < GOAL
                else "never",
            }
        )
    print("\nFixed part and part per sample (a line through the sample counts above; plain passes as the unit):")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
