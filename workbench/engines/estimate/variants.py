"""Estimate a model's engine time per precision: convert (FP16) or quantize (INT8 Q/DQ for TensorRT), build with
the CPU builder, and estimate each engine on a GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from typing import Sequence

from ...errors import ConfigError, EngineBuildError
from ...precision.plan import PRECISIONS, is_quantized
from .model import EngineEstimate, estimate_engine

if TYPE_CHECKING:
    from ...model import Model
    from ...model.sources import ModelSource
    from ...model.tensors import Shapes
    from ...precision.data import CalibrationData
    from ...progress import ProgressCallback
    from ..config import BuildConfig
    from .gpus import GpuSpec
    import threading

VARIANTS = PRECISIONS  # every precision the workbench writes can be estimated


def parse_variants(text: str | Sequence[str]) -> tuple[str, ...]:
    items = [v.strip().lower() for v in (text.split(",") if isinstance(text, str) else text) if str(v).strip()]
    unknown = [v for v in items if v not in VARIANTS]
    if not items or unknown:
        raise ConfigError(
            f"precision variant(s) {', '.join(unknown) or '(none)'} unknown (variants: {', '.join(VARIANTS)})"
        )
    return tuple(dict.fromkeys(items))


def opt_shapes(config: BuildConfig) -> dict | None:
    """The shapes a build's ``config`` optimizes for (opt of each (min, opt, max)): where random calibration inputs
    are made."""
    from ..config import normalize_shape_range

    return {name: normalize_shape_range(name, value)[1] for name, value in config.shapes.items()} or None


def precision_variant(
    model: Model, precision: str, shapes: Shapes | None = None, calibration: CalibrationData | None = None
) -> Model:
    """The model in ``precision``. INT8/FP8 without calibration data calibrate on random inputs: the Q/DQ
    placement, hence the engine and its time, is the same whatever the scales; only accuracy would differ."""
    from ...model import generate_feeds, load_model
    from ...precision import PrecisionPlan, apply_precision

    model = load_model(model)
    if precision == "fp32":
        return model
    if is_quantized(precision) and calibration is None:
        calibration = [generate_feeds(model, shapes, seed=s) for s in range(2)]
        return apply_precision(model, PrecisionPlan(precision, calibrator="minmax"), calibration)
    return apply_precision(model, PrecisionPlan(precision), calibration)


def own_precision(model: "Model") -> str:
    """The precision a model is in as it is: the one the workbench wrote into it, else that of most of its float
    weights (an FP16 export), else fp32."""
    from ...precision.guards import weight_precision

    return model.precision or weight_precision(model) or "fp32"


def estimate_model(
    model: ModelSource,
    gpu: GpuSpec | str,
    precisions: Sequence[str] = ("fp32", "fp16", "int8"),
    *,
    shapes: Shapes | None = None,
    calibration: CalibrationData | None = None,
    config: BuildConfig | None = None,
    cache: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[pd.DataFrame, dict[str, EngineEstimate]]:
    """Build the model once per precision (CPU builder) and estimate each engine on ``gpu``; setting ``cancel`` (a
    ``threading.Event``) stops the build in flight (EngineBuildError) and builds no further precision.
    ``config``: a BuildConfig for every build (default: ``shapes`` and the builder's defaults); ``cache``: use the
    engine cache.

    Returns a table (precision, engine_layers, estimated_ms, not-estimated layers, % of the estimated time in layers
    the fit never saw, lower_bound, speedup_vs_first; ``attrs["label"]``: each variant's error band) and the
    estimates by precision.
    """
    from ...model import load_model
    from ..build import build_engine
    from ..config import BuildConfig

    precisions = parse_variants(precisions)
    model = load_model(model)
    config = config if config is not None else BuildConfig(shapes=dict(shapes or {}))
    shapes = shapes or opt_shapes(config)
    estimates, rows = {}, []
    for i, precision in enumerate(precisions):
        if on_progress:
            on_progress(f"building {precision}", i / len(precisions))
        if cancel is not None and cancel.is_set():
            raise EngineBuildError(f"estimate of {model.name} stopped before {precision}")
        variant = precision_variant(model, precision, shapes, calibration)
        result = build_engine(variant, config, cache=cache, cancel=cancel)
        est = estimate_engine(result, gpu, model=variant)
        # "fp32" builds the model as it is: an FP16 file's engine is FP16, and said so
        label = own_precision(model) if precision == "fp32" else precision
        estimates[label] = est
        rows.append(
            {
                "precision": label,
                "engine_layers": len(est.layers),
                "estimated_ms": est.total_ms,
                "layers_without_shapes": len(est.layers_without_shapes),
                "not_estimated_layers": est.band.get("not_estimated_layers", 0),
                "unseen_time_%": round(100 * est.band.get("unseen_fraction", 0.0), 1),
                "lower_bound": est.lower_bound,
            }
        )
    if on_progress:
        on_progress("done", 1.0)
    table = pd.DataFrame(rows)
    table["speedup_vs_" + table["precision"].iloc[0]] = table["estimated_ms"].iloc[0] / table["estimated_ms"]
    labels = dict.fromkeys(est.label for est in estimates.values())  # each variant's own error band
    table.attrs["label"] = (
        next(iter(labels)) if len(labels) == 1 else " | ".join(f"{p}: {e.label}" for p, e in estimates.items())
    )
    return table, estimates
