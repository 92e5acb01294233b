"""Early checks of a precision request against the model: refuse in seconds, before calibrating, what cannot work
(FP16 on an FP16 model, quantizing a model that is quantized already), and never hand back a model that fails
onnx.checker or ONNX Runtime."""

from __future__ import annotations

import onnx
from typing import TYPE_CHECKING

from ..errors import ConfigError, ModelError
from .plan import QUANTIZED

if TYPE_CHECKING:
    from ..model.sources import ModelSource

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# ONNX Runtime's QOperator format (its dynamic/static quantization): integer ops TensorRT has no importer for;
# TensorRT reads quantization as QuantizeLinear/DequantizeLinear pairs around float ops instead.
QOPERATOR_OPS = (
    "ConvInteger",
    "MatMulInteger",
    "QLinearConv",
    "QLinearMatMul",
    "QLinearAdd",
    "QLinearMul",
    "QLinearGlobalAveragePool",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearConcat",
    "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul",
)
_HALF: dict[int, str] = {onnx.TensorProto.FLOAT16: "fp16", onnx.TensorProto.BFLOAT16: "bf16"}
_FLOATS = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE)


def weight_precision(model: ModelSource) -> str | None:
    """'fp16' / 'bf16' when most float weights (initializers and Constant-node tensors) are in that type."""
    counts: dict[int, int] = {}
    for tensor in model.stats.weight_tensors:
        if tensor.data_type in _FLOATS:
            size = 1
            for d in tensor.dims:
                size *= int(d)
            counts[tensor.data_type] = counts.get(tensor.data_type, 0) + size
    if not counts:
        return None
    dominant = max(counts, key=counts.get)
    return _HALF.get(dominant)


def check_precision_request(model: ModelSource, precision: str) -> None:
    """ConfigError naming the model when ``precision`` cannot be applied to it (see the module doc)."""
    ops = {op.split(".")[-1] for op in model.stats.op_histogram}
    qoperator = sorted(ops & set(QOPERATOR_OPS))
    if qoperator:
        raise ConfigError(
            f"{model.label} is already quantized by ONNX Runtime ({', '.join(qoperator)}: its "
            f"quantized operator format): {precision} cannot be applied on top — start from the float "
            "model it was quantized from"
        )
    if precision in QUANTIZED and ops & set(QDQ_OPS):
        raise ConfigError(
            f"{model.label} already has QuantizeLinear/DequantizeLinear nodes (it is quantized): "
            f"quantizing it again to {precision} would stack scales — start from the float model, or "
            "build this one as it is"
        )
    half = weight_precision(model)
    if precision in ("fp16", "bf16") and half is not None:
        raise ConfigError(
            f"{model.label} is already {half} (its weights are {half}): nothing to convert to "
            f"{precision} — build it as it is (`workbench build`), or start from the FP32 model"
        )


def check_written_model(model: ModelSource, what: str) -> None:
    """ModelError when a converted model fails onnx.checker or ONNX Runtime cannot load it: nothing is written."""
    import onnxruntime as ort

    from ..model.loading import weight_free_copy

    try:
        onnx.checker.check_model(weight_free_copy(model.proto))
    except onnx.checker.ValidationError as exc:
        raise ModelError(
            f"{model.label}: the {what} model is not valid ONNX, so it was not written: {' '.join(str(exc).split())}"
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own classes
        raise ModelError(
            f"{model.label}: ONNX Runtime cannot load the {what} model, so it was not written: "
            f"{' '.join(str(exc).split())} — keep the failing node in FP32 with --exclude or "
            "--exclude-op-types"
        ) from None
