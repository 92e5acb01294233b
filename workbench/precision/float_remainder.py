"""FP16/BF16 for what quantization leaves in float (ModelOpt's default ``high_precision_dtype='fp16'``).

A Q/DQ model computes everything between a DequantizeLinear and the next QuantizeLinear (BatchNorm, activations,
softmax, LayerNorm, the kept heads) in the float type the graph carries. Strongly typed TensorRT takes that type from
the model, so FP32 there means FP32 kernels. Here the Q/DQ model goes through the workbench's own FP16 conversion
(``float16.to_float16``: ONNX Runtime's maintained converter, FP32-only ops kept, Cast round trips removed). Q/DQ
nodes are converted like any other: their scales become FP16 and DequantizeLinear writes FP16 directly, as TensorRT
reads them (opset 19 allows FP16/BF16 scales). Inputs and outputs stay FP32.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ConfigError
from ..model import load_model
from .graph_edit import set_metadata, with_opset
from .plan import REMAINDER_PRECISIONS

FLOAT_PRECISION_KEY = "workbench.float_precision"  # metadata: the float type of the unquantized compute
QDQ_FLOAT_OPSET = 19  # QuantizeLinear/DequantizeLinear take FP16/BF16 scales from opset 19
FP16_SMALLEST_NORMAL = float(np.finfo(np.float16).tiny)


def check_float_precision(float_precision: str, target: str = "tensorrt") -> str:
    """The normalized name, or ConfigError: one of REMAINDER_PRECISIONS, and only for the TensorRT target."""
    name = str(float_precision).lower()
    if name not in REMAINDER_PRECISIONS:
        raise ConfigError(
            f"float_precision '{float_precision}' is unknown (the unquantized layers run in one of: "
            f"{', '.join(REMAINDER_PRECISIONS)})"
        )
    if name != "fp32" and target != "tensorrt":
        raise ConfigError(
            f"float_precision '{name}' is for the tensorrt target: ONNX Runtime's CPU has no fast "
            f"{name} kernels and would not fuse {name} Q/DQ into its integer operators — keep fp32 "
            "for target='onnxruntime'"
        )
    return name


def with_float_remainder(result: Any, float_precision: str) -> Any:
    """``result`` (a QuantizationResult of the TensorRT target) with its unquantized compute in FP16 or BF16.

    FP32 returns ``result`` unchanged. Scales below FP16's smallest normal number lose precision in FP16: how many
    there are is noted in the result."""
    float_precision = check_float_precision(float_precision, result.target)
    if float_precision == "fp32":
        return result
    from .bfloat16 import to_bfloat16
    from .float16 import to_float16

    model = result.model
    proto = with_opset(model.proto, QDQ_FLOAT_OPSET, f"{float_precision} Q/DQ scales")
    convert = to_float16 if float_precision == "fp16" else to_bfloat16
    converted = convert(proto, keep_io_types=True)
    notes = list(result.notes)
    if float_precision == "fp16":
        tiny = _subnormal_scales(model.proto)
        if tiny:
            notes.append(
                f"{tiny} Q/DQ scale(s) are below FP16's smallest normal number ({FP16_SMALLEST_NORMAL:.3g}) "
                "and lose precision in FP16: use float_precision='bf16' or keep those nodes in fp32"
            )
    set_metadata(converted, {FLOAT_PRECISION_KEY: float_precision})
    out = load_model(converted, name=f"{model.name}_{float_precision}")
    out.label = f"{model.label} (rest {float_precision})"
    return replace(result, model=out, notes=notes)


def _subnormal_scales(proto: onnx.ModelProto) -> int:
    """How many scale values of the Q/DQ nodes are positive and below FP16's smallest normal number."""
    scales = {n.input[1] for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
    count = 0
    for tensor in proto.graph.initializer:
        if tensor.name in scales:
            values = numpy_helper.to_array(tensor).astype(np.float32)
            count += int(((values > 0) & (values < FP16_SMALLEST_NORMAL)).sum())
    return count
