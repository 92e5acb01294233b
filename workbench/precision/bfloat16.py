"""BF16 conversion: the FP16 conversion's structure (which ops stay FP32, where the casts go), in bfloat16.

ONNX Runtime's converter has no bfloat16 mode, so the FP16 graph it makes is retyped: casts and value types become
BFLOAT16 and every weight is rounded to bfloat16 from its original FP32 value (not from the FP16 copy, which
clamps at ±65504). Conv and MaxPool accept bfloat16 only from opset 22, so the model is converted to opset 22.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from typing import Iterable

from .float16 import to_float16
from .graph_edit import with_opset

BF16_OPSET = 22


def _to_bf16(values: np.ndarray, name: str) -> onnx.TensorProto:
    import ml_dtypes  # onnx's own dependency for its bfloat16 type

    return numpy_helper.from_array(np.asarray(values, np.float32).astype(ml_dtypes.bfloat16), name)


def _retype(type_proto: onnx.TypeProto) -> None:
    if type_proto.HasField("tensor_type") and type_proto.tensor_type.elem_type == TensorProto.FLOAT16:
        type_proto.tensor_type.elem_type = TensorProto.BFLOAT16


def to_bfloat16(
    proto: onnx.ModelProto,
    *,
    keep_nodes: Iterable[str] = (),
    keep_op_types: Iterable[str] = (),
    keep_io_types: bool = True,
) -> onnx.ModelProto:
    proto = with_opset(proto, BF16_OPSET, "bf16 (Conv/MaxPool in bfloat16)")
    originals = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == TensorProto.FLOAT}
    half = to_float16(proto, keep_nodes=keep_nodes, keep_op_types=keep_op_types, keep_io_types=keep_io_types)
    graph = half.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT16:
            source = originals.get(tensor.name)
            values = source if source is not None else numpy_helper.to_array(tensor).astype(np.float32)
            graph.initializer[i].CopyFrom(_to_bf16(values, tensor.name))
    for value in [*graph.input, *graph.output, *graph.value_info]:
        _retype(value.type)
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.BFLOAT16
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(_to_bf16(numpy_helper.to_array(attr.t).astype(np.float32), attr.t.name))
    return half
