"""FP16 conversion through ONNX Runtime's maintained converter, with its known gaps closed."""

from __future__ import annotations

import onnx
from typing import Iterable

from .graph_edit import toposorted
from .plan import ALWAYS_FP32_OPS


def to_float16(
    proto: onnx.ModelProto,
    *,
    keep_nodes: Iterable[str] = (),
    keep_op_types: Iterable[str] = (),
    keep_io_types: bool = True,
) -> onnx.ModelProto:
    """Convert float32 computation to float16, keeping the given nodes/op types (and unsafe ops) in float32.

    ONNX Runtime's ``onnxruntime.transformers.float16`` (the maintained copy of onnxconverter-common's converter,
    with the Resize-scales fix) does the conversion. Its ``keep_io_types`` path can leave the graph out of
    topological order (onnxconverter-common#208), so the graph is re-sorted with onnx-graphsurgeon.
    """
    from onnxruntime.transformers import float16

    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(ALWAYS_FP32_OPS) | set(keep_op_types))
    converted = float16.convert_float_to_float16(
        onnx.ModelProto.FromString(proto.SerializeToString()),
        keep_io_types=keep_io_types,
        op_block_list=block,
        node_block_list=list(keep_nodes),
        disable_shape_infer=True,
    )
    _drop_cast_round_trips(converted.graph)
    return toposorted(converted, like=proto)


def _drop_cast_round_trips(graph: onnx.GraphProto) -> None:
    """Remove float32 -> float16 -> float32 Cast pairs the converter puts between two nodes kept in FP32 (it casts
    at every kept node's boundary): the kept node's FP32 output then feeds the next kept node directly."""
    to_half = {n.output[0]: n for n in graph.node if n.op_type == "Cast" and _cast_to(n) == onnx.TensorProto.FLOAT16}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    graph_outputs = {o.name for o in graph.output}
    removed = set()
    for half_name, down in to_half.items():
        back = [
            c for c in consumers.get(half_name, []) if c.op_type == "Cast" and _cast_to(c) == onnx.TensorProto.FLOAT
        ]
        if not back:
            continue
        source = down.input[0]
        for cast in back:
            for user in consumers.get(cast.output[0], []):
                for i, t in enumerate(user.input):
                    if t == cast.output[0]:
                        user.input[i] = source
            if cast.output[0] in graph_outputs:
                continue
            removed.add(id(cast))
        if all(id(c) in removed for c in consumers.get(half_name, [])) and half_name not in graph_outputs:
            removed.add(id(down))
    kept = [n for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(kept)


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1)
