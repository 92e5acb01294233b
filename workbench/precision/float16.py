"""FP16 conversion through ONNX Runtime's maintained converter, with its known gaps closed."""

from __future__ import annotations

import onnx

from .graph_edit import toposorted
from .plan import ALWAYS_FP32_OPS


def to_float16(proto: onnx.ModelProto, *, keep_nodes=(), keep_op_types=(), keep_io_types: bool = True
               ) -> onnx.ModelProto:
    """Convert float32 computation to float16, keeping the given nodes/op types (and unsafe ops) in float32.

    ONNX Runtime's ``onnxruntime.transformers.float16`` (the maintained copy of onnxconverter-common's converter,
    with the Resize-scales fix) does the conversion. Its ``keep_io_types`` path can leave the graph out of
    topological order (onnxconverter-common#208), so the graph is re-sorted with onnx-graphsurgeon.
    """
    from onnxruntime.transformers import float16

    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(ALWAYS_FP32_OPS) | set(keep_op_types))
    converted = float16.convert_float_to_float16(onnx.ModelProto.FromString(proto.SerializeToString()),
                                                 keep_io_types=keep_io_types, op_block_list=block,
                                                 node_block_list=list(keep_nodes), disable_shape_infer=True)
    return toposorted(converted, like=proto)
