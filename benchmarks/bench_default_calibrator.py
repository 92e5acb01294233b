"""Which calibrator should be the default (issue 26, item 1): entropy2, minmax, auto and percentile (99.99) on every
detector and classifier sample, each quantized for TensorRT (the default placement) and compared with FP32 on
held-out samples that calibration never saw.

Columns: SQNR (dB) of each output against FP32, best-class agreement with FP32 (classifiers: per image; the detector:
per anchor over the 100 anchors FP32 scores highest in each image), accuracy on labels (digits_cnn, the one trained
sample), and for the detector the mean box error in pixels over those anchors. The last table ranks the calibrators
per model (1 = best SQNR); a default must never be the worse one. Run: python benchmarks/bench_default_calibrator.py
(BENCH_MODELS=a,b to choose samples; BENCH_SAMPLES calibration samples per model, default 32).
"""

import os
import sys
import time

import numpy as np
import pandas as pd

from workbench.model import batch_shapes, load_model
from workbench.model.datasets import digits
from workbench.precision import calibrate, compare, quantize, run_outputs

CALIBRATORS = ("entropy2", "minmax", "auto", "percentile")
MODELS = os.environ.get("BENCH_MODELS", "digits_cnn,resnet_tiny,inception_tiny,ocr_recognizer,yolo_detector")
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "32"))
HELD_OUT = 32
TOP_ANCHORS = 100


def data_for(model, name: str):
    """(calibration, held-out, labels): the digits splits for the trained CNN; else seeded random inputs of the
    model's default shape (images in [0, 1] for the detector, as Ultralytics feeds them; clipped normals else)."""
    if name == "digits_cnn":
        x, _ = digits("calibration")
        held, labels = digits("test")
        return x[:SAMPLES], held[:HELD_OUT * 8], labels[:HELD_OUT * 8]
    shape = list(batch_shapes(model, 1)[model.inputs[0].name])
    rng = np.random.default_rng(0)
    shape[0] = SAMPLES + HELD_OUT
    x = rng.random(shape) if name == "yolo_detector" else np.maximum(rng.standard_normal(shape), -2.5)
    x = x.astype(np.float32)
    return x[:SAMPLES], x[SAMPLES:], None


def detector_errors(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """[batch, 4 + classes, anchors]: box error (px) and best-class agreement over FP32's top-scored anchors."""
    scores = reference[:, 4:, :].max(axis=1)
    top = np.argsort(-scores, axis=1)[:, :TOP_ANCHORS]
    pick = lambda a: np.take_along_axis(a, top[:, None, :], axis=2)  # noqa: E731
    ref, got = pick(reference), pick(candidate)
    return {"box_error_px": float(np.abs(ref[:, :4] - got[:, :4]).mean()),
            "class_agreement": float((ref[:, 4:].argmax(1) == got[:, 4:].argmax(1)).mean())}


def measure(name: str) -> list[dict]:
    model = load_model(name)
    calibration, held, labels = data_for(model, name)
    reference = run_outputs(model, held)
    rows = []
    for calibrator in CALIBRATORS:
        start = time.perf_counter()
        table = calibrate(model, calibration, calibrator, only_quantized=True)
        seconds = time.perf_counter() - start
        quantized = quantize(model, table).model
        frame = compare(model, quantized, held, labels=labels, reference_outputs=reference)
        first = frame.iloc[0]
        row = {"model": name, "calibrator": calibrator, "sqnr_db": round(float(frame["sqnr_db"].min()), 2),
               "calibrate_s": round(seconds, 1)}
        if name == "yolo_detector":
            row.update(detector_errors(reference[first["output"]], run_outputs(quantized, held)[first["output"]]))
        elif "top1_agreement" in frame:
            row["class_agreement"] = float(first["top1_agreement"])
        if labels is not None:
            row["accuracy"] = float(first["accuracy"])
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    rows = [r for name in MODELS.split(",") for r in measure(name)]
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nAgainst FP32 on held-out samples (TensorRT placement, rules on):")
    print(frame.to_string(index=False))
    ranks = frame.pivot(index="model", columns="calibrator", values="sqnr_db").rank(axis=1, ascending=False)
    print("\nRank by SQNR per model (1 = best):")
    print(ranks[list(CALIBRATORS)].to_string())
    worst = frame.loc[frame.groupby("model")["sqnr_db"].idxmin(), ["model", "calibrator"]]
    print("\nWorst calibrator per model:", ", ".join(f"{m}: {c}" for m, c in worst.itertuples(index=False)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
