"""Calibration and evaluation data for a model when the user gives none (the App and the lessons use it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from ..model.tensors import Shapes
    from .data import DataSource


@dataclass
class DataChoice:
    """Data to calibrate on and to evaluate with; ``labels`` only when the data has them (then accuracy can be
    measured; otherwise only agreement with FP32). ``note`` says in words what was chosen."""

    calibration: DataSource
    evaluation: DataSource
    labels: np.ndarray | None
    note: str


def default_data(model: ModelSource, samples: int = 64, shapes: Shapes | None = None) -> DataChoice:
    """The bundled digits for the trained ``digits_cnn``; otherwise random inputs at the model's default shapes, or
    ``shapes`` (input -> shape, for dynamic dimensions the model leaves open; the batch is set to the sample count),
    floats clipped to [-3, 3] like normalized images: good for speed and for agreement with FP32, not for
    accuracy. ``samples`` random calibration samples, at most 32 for evaluation."""
    from ..model import batch_shapes, generate_feeds, load_model

    model = load_model(model)
    if model.name == "digits_cnn":
        from ..model.datasets import digits

        calibration, _ = digits("calibration")
        test_x, test_y = digits("test")
        return DataChoice(
            calibration,
            test_x,
            test_y,
            f"the bundled digits dataset ({len(calibration)} calibration, {len(test_x)} test images)",
        )
    calibration = generate_feeds(model, batch_shapes(model, samples, shapes), seed=1)
    evaluation = generate_feeds(model, batch_shapes(model, min(samples, 32), shapes), seed=2)
    for spec in model.inputs:
        if spec.dtype.startswith("float"):  # a bounded range, like normalized images
            calibration[spec.name] = np.clip(calibration[spec.name], -3, 3)
            evaluation[spec.name] = np.clip(evaluation[spec.name], -3, 3)
    return DataChoice(
        calibration,
        evaluation,
        None,
        "random inputs: measures speed and agreement with FP32; give real samples for accuracy",
    )
