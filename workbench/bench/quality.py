"""Which quality numbers — accuracy (needs labels) and agreement with FP32 (top-1, on any inputs) — a benchmark row
may carry.

A quality number belongs to the runtime that produced it. ``workbench.precision`` measures with ONNX Runtime (or
ONNX's reference evaluator), so its numbers go on ONNX Runtime rows only; a TensorRT (or PyTorch) row carries one
only when it was measured by running that backend, which its tags say with ``quality_measured_on``.
"""

from __future__ import annotations

from typing import Mapping

QUALITY_COLUMNS = ("accuracy", "agreement")
MEASURED_ON = "quality_measured_on"
DEFAULT_MEASURED_ON = "onnxruntime"  # what workbench.precision's accuracy_table / compare run


def measured_quality_only(tags: Mapping | None, backend: str | None) -> dict:
    """``tags`` for a row of ``backend``: accuracy/agreement kept only when measured on that backend (then
    ``quality_measured_on`` stays, as provenance); otherwise a note in ``quality_note`` says what was left out and
    why. Applying it twice changes nothing."""
    tags = dict(tags or {})
    measured_on = tags.get(MEASURED_ON, DEFAULT_MEASURED_ON)
    dropped = [c for c in QUALITY_COLUMNS if tags.get(c) is not None and measured_on != backend]
    for column in dropped:
        tags.pop(column)
    if dropped:
        tags.pop(MEASURED_ON, None)
        tags["quality_note"] = (
            f"{' and '.join(dropped)} measured with {measured_on}, not by running {backend}: left out"
        )
    return tags


def quality_tags(row: Mapping) -> dict:
    """Benchmark tags from one row of ``precision.accuracy_table`` (or ``compare``): ``accuracy`` when it was
    measured with labels, otherwise ``agreement`` (its top-1 agreement with FP32 on the same inputs) — never
    agreement stored as accuracy."""
    accuracy = row.get("accuracy")
    if accuracy is not None and accuracy == accuracy:
        return {"accuracy": float(accuracy)}
    agreement = row.get("top1_agreement")
    return {"agreement": float(agreement)} if agreement is not None and agreement == agreement else {}
