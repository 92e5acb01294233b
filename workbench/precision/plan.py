"""PrecisionPlan: the precision a strongly typed engine should run in, written into the ONNX model itself.

TensorRT 11 and TensorRT-RTX take precision from the model (Casts, Q/DQ), not from builder flags, so a plan is
applied to the ONNX graph and the result is built (or run by ONNX Runtime) like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..model.loading import PRECISION_KEY

# Precisions this version can write into a model.
PRECISIONS = ("fp32", "fp16")

# Ops whose float inputs must stay FP32 (scales, coordinates, index-producing ops), on top of ONNX Runtime's
# converter's own block list (NonMaxSuppression, TopK, Range, RoiAlign, CumSum, Min, Max, Upsample, ai.onnx.ml).
ALWAYS_FP32_OPS = ("Resize", "RandomNormal", "RandomUniform", "Multinomial", "Einsum")


@dataclass(frozen=True)
class PrecisionPlan:
    """Target precision with exceptions kept in FP32.

    ``keep_nodes``: node names kept in FP32 (e.g. the most sensitive layers); ``keep_op_types``: op types kept in
    FP32 (e.g. ``("LayerNormalization", "Softmax")`` after attention). ``keep_io_types``: inputs and outputs stay
    FP32, so callers feed and read float32 whatever the precision inside.
    """

    precision: str = "fp32"
    keep_nodes: tuple[str, ...] = field(default_factory=tuple)
    keep_op_types: tuple[str, ...] = field(default_factory=tuple)
    keep_io_types: bool = True

    def __post_init__(self):
        name = str(self.precision).lower()
        if name not in PRECISIONS:
            raise ConfigError(f"precision '{self.precision}' is unknown or not available (precisions: "
                              f"{', '.join(PRECISIONS)})")
        object.__setattr__(self, "precision", name)
        for attr in ("keep_nodes", "keep_op_types"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, attr, tuple(value))

    def check_against(self, model) -> None:
        """Raise ConfigError when a kept node or op type does not exist in ``model``."""
        names = {n.name for n in model.nodes}
        missing = [n for n in self.keep_nodes if n not in names]
        if missing:
            raise ConfigError(f"keep_nodes: node '{missing[0]}' is not in {model.label}")
        ops = set(model.op_histogram)
        unknown = [o for o in self.keep_op_types if o not in ops]
        if unknown:
            raise ConfigError(f"keep_op_types: op type '{unknown[0]}' does not occur in {model.label} "
                              f"(ops: {', '.join(sorted(ops))})")

    @property
    def label(self) -> str:
        kept = len(self.keep_nodes) + len(self.keep_op_types)
        return self.precision + (f" (+{kept} kept in fp32)" if kept else "")


def _set_metadata(proto, values: dict) -> None:
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)


def apply_precision(model, plan: PrecisionPlan | str):
    """The model converted to ``plan``: a new Model named ``<name>_<precision>`` (FP32 returns the model itself)."""
    from ..model import load_model

    plan = plan if isinstance(plan, PrecisionPlan) else PrecisionPlan(plan)
    model = load_model(model)
    plan.check_against(model)
    if plan.precision == "fp32":
        return model
    if plan.precision == "fp16":
        from .float16 import to_float16

        proto = to_float16(model.proto, keep_nodes=plan.keep_nodes, keep_op_types=plan.keep_op_types,
                           keep_io_types=plan.keep_io_types)
        _set_metadata(proto, {PRECISION_KEY: plan.precision})
        converted = load_model(proto, name=f"{model.name}_fp16")
        converted.label = f"{model.label} (fp16)"
        return converted
    raise AssertionError(plan.precision)  # PRECISIONS and this function move together
