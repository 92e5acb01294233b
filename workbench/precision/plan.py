"""PrecisionPlan: the precision a strongly typed engine should run in, written into the ONNX model itself.

TensorRT 11 and TensorRT-RTX take precision from the model (Casts, Q/DQ), not from builder flags, so a plan is
applied to the ONNX graph and the result is built (or run by ONNX Runtime) like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TYPE_CHECKING

from ..errors import ConfigError
from ..model.loading import PRECISION_KEY, SOURCE_KEY
from .calibrators import DEFAULT_CALIBRATOR
from .graph_edit import set_metadata

if TYPE_CHECKING:
    import pandas as pd
    from ..model import Model
    from ..model.sources import ModelSource
    from .calibrate import CalibrationTable
    from .data import DataSource

# The precision registry: every precision this version can write into a model, and the quantized ones (Q/DQ with
# calibrated scales). CLI choices, panel choices and estimate variants all come from here.
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")
QUANTIZED = ("int8", "fp8")
FLOAT_CONVERSIONS = tuple(p for p in PRECISIONS if p != "fp32" and p not in QUANTIZED)  # fp16, bf16
# What the layers an INT8/FP8 plan leaves unquantized compute in (``float_precision``; ModelOpt's default is fp16).
REMAINDER_PRECISIONS = ("fp32", *FLOAT_CONVERSIONS)


def is_quantized(precision: str | None) -> bool:
    """INT8 or FP8: needs calibration data (or random inputs, for timing only)."""
    return precision in QUANTIZED


# Ops whose float inputs must stay FP32 (scales, coordinates, index-producing ops), on top of ONNX Runtime's
# converter's own block list (NonMaxSuppression, TopK, Range, RoiAlign, CumSum, Min, Max, Upsample, ai.onnx.ml).
ALWAYS_FP32_OPS = ("Resize", "RandomNormal", "RandomUniform", "Multinomial", "Einsum")


# Outputs past this magnitude are kept in FP32 by FP16/BF16 plans given calibration data (ModelOpt AutoCast's
# default: FP16's 65504 leaves little headroom once values are multiplied and summed downstream).
FRAGILE_MAGNITUDE = 512.0
# Op types TensorRT warns about in FP16 after self-attention ("may cause overflow"): keep_op_types for transformers.
ATTENTION_FRAGILE_OPS = ("LayerNormalization", "Softmax")


def fragile_nodes(
    model: ModelSource, data: DataSource, *, max_magnitude: float = FRAGILE_MAGNITUDE, **calibration_options: Any
) -> pd.DataFrame:
    """Nodes whose outputs reach ``max_magnitude`` on ``data`` (calibration data): candidates to keep in FP32.

    Returns a DataFrame (node, op, tensor, absmax) of the offenders, largest first.
    """
    import pandas as pd

    from ..model import load_model
    from .calibrate import activation_tensors, collect_histograms
    from .data import CalibrationData

    model = load_model(model)
    tensors = [t for t in activation_tensors(model) if t not in {i.name for i in model.inputs}]
    stream = data if isinstance(data, CalibrationData) else CalibrationData(data, model, **calibration_options)
    hists = collect_histograms(model, stream, tensors)
    producer = {o: n for n in model.nodes for o in n.output}
    rows = [(producer[t].name, producer[t].op_type, t, h.absmax) for t, h in hists.items() if h.absmax >= max_magnitude]
    return pd.DataFrame(rows, columns=["node", "op", "tensor", "absmax"]).sort_values(
        "absmax", ascending=False, ignore_index=True
    )


@dataclass(frozen=True)
class PrecisionPlan:
    """Target precision with exceptions kept in FP32.

    ``keep_nodes``: node names kept in FP32 (e.g. the most sensitive layers); ``keep_op_types``: op types kept in
    FP32 (e.g. ``("LayerNormalization", "Softmax")`` after attention). ``keep_io_types``: inputs and outputs stay
    FP32, so callers feed and read float32 whatever the precision inside.
    INT8/FP8 only: ``calibrator`` (one of CALIBRATORS, default DEFAULT_CALIBRATOR), ``percentile`` and ``target``
    (``tensorrt``: NVIDIA's Q/DQ placement; ``onnxruntime``: what ONNX Runtime's CPU kernels fuse);
    ``float_precision``: what the unquantized layers compute in (fp32, or fp16/bf16 for the tensorrt target).
    """

    precision: str = "fp32"
    keep_nodes: tuple[str, ...] = field(default_factory=tuple)
    keep_op_types: tuple[str, ...] = field(default_factory=tuple)
    keep_io_types: bool = True
    calibrator: str = DEFAULT_CALIBRATOR
    percentile: float = 99.99
    target: str = "tensorrt"
    float_precision: str = "fp32"

    def __post_init__(self) -> None:
        name = str(self.precision).lower()
        if name not in PRECISIONS:
            raise ConfigError(
                f"precision '{self.precision}' is unknown or not available (precisions: {', '.join(PRECISIONS)})"
            )
        object.__setattr__(self, "precision", name)
        for attr in ("keep_nodes", "keep_op_types"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, attr, tuple(value))
        from .calibrators import check_calibrator
        from .qdq import TARGETS

        # "legacy": a plan applied with a table read from a TensorRT cache (calibrating with it is refused)
        object.__setattr__(self, "calibrator", check_calibrator(self.calibrator, allow_legacy=True))
        if self.target not in TARGETS:
            raise ConfigError(f"target '{self.target}' is unknown (targets: {', '.join(TARGETS)})")
        if self.precision == "fp8" and self.target == "onnxruntime":
            raise ConfigError("fp8 has no ONNX Runtime CPU kernels: use target='tensorrt' for fp8")
        if not 0 < float(self.percentile) <= 100:
            raise ConfigError(f"percentile {self.percentile} must be in (0, 100], e.g. 99.99")
        from .float_remainder import check_float_precision

        object.__setattr__(self, "float_precision", check_float_precision(self.float_precision, self.target))
        if self.float_precision != "fp32" and self.precision not in QUANTIZED:
            raise ConfigError(
                f"float_precision is for int8/fp8 plans (the layers left unquantized); a "
                f"{self.precision} plan converts everything already"
            )

    def check_against(self, model: ModelSource) -> None:
        """Raise ConfigError when a kept node or op type does not exist in ``model``."""
        names = {n.name for n in model.nodes}
        missing = [n for n in self.keep_nodes if n not in names]
        if missing:
            raise ConfigError(f"keep_nodes: node '{missing[0]}' is not in {model.label}")
        ops = set(model.stats.op_histogram)
        unknown = [o for o in self.keep_op_types if o not in ops]
        if unknown:
            raise ConfigError(
                f"keep_op_types: op type '{unknown[0]}' does not occur in {model.label} (ops: {', '.join(sorted(ops))})"
            )

    @property
    def label(self) -> str:
        kept = len(self.keep_nodes) + len(self.keep_op_types)
        name = self.precision
        if self.precision in QUANTIZED:
            name += f" {self.calibrator}" + (f" {self.percentile:g}" if self.calibrator == "percentile" else "")
            name += f" for {self.target}"
            name += f", rest {self.float_precision}" if self.float_precision != "fp32" else ""
        return name + (f" (+{kept} kept in fp32)" if kept else "")


def apply_precision(
    model: ModelSource,
    plan: PrecisionPlan | str,
    calibration: CalibrationTable | DataSource | None = None,
    **calibrate_options: Any,
) -> Model:
    """The model converted to ``plan``: a new Model named ``<name>_<precision>`` (FP32 returns the model itself).

    INT8/FP8 need ``calibration``: a CalibrationTable, or calibration data (anything ``calibrate`` takes; the
    plan's calibrator runs on it, with ``calibrate_options`` such as samples=, batch_size=, fusion_groups=).
    FP16/BF16 with calibration data also keep in FP32 every node whose output reaches ``FRAGILE_MAGNITUDE``
    there (see ``fragile_nodes``).
    """
    from ..model import load_model

    plan = plan if isinstance(plan, PrecisionPlan) else PrecisionPlan(plan)
    model = load_model(model)
    plan.check_against(model)
    if plan.precision == "fp32":
        return model
    if plan.precision in QUANTIZED:
        from .calibrate import CalibrationTable, calibrate
        from .qdq import quantize

        if calibration is None:
            raise ConfigError(f"{plan.precision} needs calibration data (or a CalibrationTable)")
        # Histogram only the tensors the target's quantizer reads (TensorRT: those that get Q/DQ, a fifth of
        # YOLO's, say) — same scales.
        calibrate_options = {
            "only_quantized": True,
            "target": plan.target,
            "exclude_nodes": plan.keep_nodes,
            "exclude_op_types": plan.keep_op_types,
            **calibrate_options,
        }
        table = (
            calibration
            if isinstance(calibration, CalibrationTable)
            else calibrate(
                model,
                calibration,
                plan.calibrator,
                precision=plan.precision,
                percentile=plan.percentile,
                **calibrate_options,
            )
        )
        if table.precision != plan.precision:
            raise ConfigError(f"the calibration table is for {table.precision}, the plan asks for {plan.precision}")
        return quantize(
            model,
            table,
            target=plan.target,
            exclude_nodes=plan.keep_nodes,
            exclude_op_types=plan.keep_op_types,
            float_precision=plan.float_precision,
        ).model
    if plan.precision in ("fp16", "bf16"):
        from .bfloat16 import to_bfloat16
        from .float16 import to_float16

        if calibration is not None:
            extra = tuple(fragile_nodes(model, calibration, **calibrate_options)["node"])  # type: ignore[arg-type]
            plan = replace(plan, keep_nodes=tuple(dict.fromkeys(plan.keep_nodes + extra)))

        convert = to_float16 if plan.precision == "fp16" else to_bfloat16
        proto = convert(
            model.proto, keep_nodes=plan.keep_nodes, keep_op_types=plan.keep_op_types, keep_io_types=plan.keep_io_types
        )
        set_metadata(proto, {PRECISION_KEY: plan.precision, SOURCE_KEY: model.source_model})
        converted = load_model(proto, name=f"{model.name}_{plan.precision}")
        converted.label = f"{model.label} ({plan.precision})"
        return converted
    raise AssertionError(plan.precision)  # PRECISIONS and this function move together
