"""What calibration costs against plain inference (issue 19, item 5): calibrating N samples must cost at most 1.5x
N plain forward passes of the same model. Measured in one run, per model and calibrator:

- plain: N forward passes, one sample each, in an ONNX Runtime session with its default optimizations (created
  and warmed up before timing: what serving the model costs);
- calibration: ``calibrate(model, data, calibrator, only_quantized=True)`` as ``quantize`` runs it, everything
  included (the quantizability check, the calibration session, batching, histograms, threshold search).

The ratio is calibration / plain. Models: the YOLO sample (a detector), a transformer encoder (bert_tiny at
sequence 128) and a CNN (the ResNet-50-shaped sample at 112x112). BENCH_SAMPLES (default 16) and BENCH_MODELS
(comma-separated sample names) change what runs. Run: python benchmarks/bench_calibration_cost.py
"""

import os
import time

import numpy as np
import onnxruntime as ort
import pandas as pd

from workbench.model import batch_shapes, generate_feeds, load_model
from workbench.model.samples import resnet
from workbench.precision import calibrate

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "16"))
MODELS = os.environ.get("BENCH_MODELS", "yolo_detector,bert_tiny,resnet50@112").split(",")
CALIBRATORS = ("minmax", "entropy2", "percentile", "auto")
GOAL = 1.5


def model_and_data(name: str):
    if name == "resnet50@112":
        model = load_model(resnet("resnet50", (3, 4, 6, 3), (64, 128, 256, 512), True, 64, 112, 1000),
                           name="resnet50_112")
    else:
        model = load_model(name)
    shapes = {"input_ids": (SAMPLES, 128), "attention_mask": (SAMPLES, 128), "token_type_ids": (SAMPLES, 128)}
    feeds = generate_feeds(model, batch_shapes(model, SAMPLES, {k: v for k, v in shapes.items()
                                                               if k in {i.name for i in model.inputs}}), seed=0)
    for spec in model.inputs:
        if spec.dtype.startswith("float"):
            feeds[spec.name] = np.clip(feeds[spec.name], 0.0, 1.0) if name == "yolo_detector" else \
                np.clip(feeds[spec.name], -3, 3)
    return model, feeds


def plain_seconds(model, feeds) -> float:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])
    one = lambda i: {k: v[i:i + 1] for k, v in feeds.items()}  # noqa: E731
    session.run(None, one(0))
    start = time.perf_counter()
    for i in range(SAMPLES):
        session.run(None, one(i))
    return time.perf_counter() - start


def main() -> None:
    rows = []
    for name in MODELS:
        model, feeds = model_and_data(name)
        plain = plain_seconds(model, feeds)
        for calibrator in CALIBRATORS:
            start = time.perf_counter()
            table = calibrate(model, feeds, calibrator, only_quantized=True)
            seconds = time.perf_counter() - start
            rows.append({"model": model.name, "calibrator": calibrator, "samples": SAMPLES,
                         "tensors": len(table), "plain_s": round(plain, 2), "calibration_s": round(seconds, 2),
                         "ratio": round(seconds / plain, 2)})
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(f"\nCalibration of {SAMPLES} samples / {SAMPLES} plain forward passes (goal <= {GOAL}):")
    print(frame.to_string(index=False))
    over = frame[frame["ratio"] > GOAL]
    print("\nall within the goal" if over.empty else
          "\nover the goal: " + ", ".join(f"{r.model} {r.calibrator} {r.ratio}" for r in over.itertuples()))


if __name__ == "__main__":
    main()
