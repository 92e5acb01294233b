"""Estimated multiply-accumulates (MACs) and FLOPs per node at concrete input shapes.

Convention (fvcore's and the field's): one fused multiply-add is one MAC and two FLOPs; element-wise and
normalization ops add FLOPs without MACs. Estimates, not measurements: they teach where the work is.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import onnx

Shape = Sequence[int]


def _numel(shape: Shape | None) -> int:
    return math.prod(shape) if shape is not None else 0


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _conv(node, ins, outs):
    w, y = ins[1], outs[0]
    if w is None or y is None:
        return None
    # Each output element costs (Cin / group) * prod(kernel) MACs: the weight shape [Cout, Cin/group, k...]
    # already holds the group division.
    macs = _numel(y) * _numel(w[1:])
    return macs, 2 * macs + (_numel(y) if len(ins) > 2 and ins[2] is not None else 0)


def _conv_transpose(node, ins, outs):
    x, w = ins[0], ins[1]
    if x is None or w is None:
        return None
    # Every input element scatters into (Cout / group) * prod(kernel) outputs; weight is [Cin, Cout/group, k...].
    macs = _numel(x) * _numel(w[1:])
    return macs, 2 * macs


def _gemm(node, ins, outs):
    a, y = ins[0], outs[0]
    if a is None or y is None:
        return None
    k = a[0] if _attr(node, "transA", 0) else a[-1]
    macs = _numel(y) * k
    return macs, 2 * macs + (_numel(y) if len(ins) > 2 else 0)


def _matmul(node, ins, outs):
    a, y = ins[0], outs[0]
    if a is None or y is None:
        return None
    macs = _numel(y) * a[-1]
    return macs, 2 * macs


def _recurrent(gates: int):
    """LSTM (4 gates), GRU (3), RNN (1): every step of every direction multiplies the input by W and the hidden
    state by R, W ``[directions, gates * hidden, input]``; X is [seq, batch, input] ([batch, seq, input] at layout 1)."""

    def estimate(node, ins, outs):
        x, w = ins[0], ins[1]
        if x is None or w is None or len(x) != 3:
            return None
        seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        directions, hidden = w[0], w[1] // gates
        macs = directions * seq * batch * gates * hidden * (x[2] + hidden)
        return macs, 2 * macs

    return estimate


def _einsum(node, ins, outs):
    """Every index of the equation is looped over once per MAC (exact for the two-operand contractions exporters
    write: ``bhqd,bhkd->bhqk``)."""
    equation = (_attr(node, "equation", b"") or b"").decode().replace(" ", "")
    terms = equation.split("->")[0].split(",")
    if len(terms) != len(ins) or any(s is None for s in ins) or "." in equation:
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, ins):
        if len(term) != len(shape):
            return None
        sizes.update(zip(term, shape))
    macs = math.prod(sizes.values())
    return macs, 2 * macs


def _present_length(present) -> int | None:
    return present[-2] if present is not None and len(present) >= 4 else None


def _fused_attention(node, ins, outs):
    """com.microsoft Attention / MultiHeadAttention / GroupQueryAttention: QKᵀ and PV over the whole context
    (past + new tokens; Attention and MultiHeadAttention read it from their ``present`` output when it is there), plus
    Attention's packed QKV projection. With GroupQueryAttention's shared buffer (past = the maximum length) the whole
    buffer is counted.
    Query and value widths are taken as the output's width (heads x head size), as these ops define them."""
    y = outs[0] if outs else None
    if y is None or len(y) != 3:
        return None
    batch, seq, width = y
    op = node.op_type
    projection, q_width = 0, width
    if op == "Attention":
        w = ins[1] if len(ins) > 1 else None
        if w is None:
            return None
        projection = batch * seq * w[0] * w[1]
        sizes = _attr(node, "qkv_hidden_sizes")
        q_width = sizes[0] if sizes else w[1] // 3
        past = ins[4] if len(ins) > 4 else None
        context = _present_length(outs[1] if len(outs) > 1 else None) or (seq + (past[-2] if past else 0))
    elif op == "MultiHeadAttention":
        key = ins[1] if len(ins) > 1 else None
        past = ins[6] if len(ins) > 6 else None
        own = (key[1] if len(key) == 3 else key[2]) if key is not None else seq
        context = _present_length(outs[1] if len(outs) > 1 else None) or (own + (past[-2] if past else 0))
    else:  # GroupQueryAttention: its present may be the past's buffer (shared-buffer layout), so past + new tokens
        past = ins[3] if len(ins) > 3 else None
        context = seq + (past[-2] if past else 0)
    macs = projection + batch * seq * context * (q_width + width)
    softmax = batch * seq * context * int(_attr(node, "num_heads", 1) or 1) * 3
    return macs, 2 * macs + softmax


def _pool(node, ins, outs):
    y = outs[0]
    kernel = _attr(node, "kernel_shape")
    if y is None or kernel is None:
        return None
    return 0, _numel(y) * math.prod(kernel)


def _global_pool(node, ins, outs):
    return (0, _numel(ins[0])) if ins[0] is not None else None


def _per_output(flops_per_element: int):
    def estimate(node, ins, outs):
        return (0, flops_per_element * _numel(outs[0])) if outs and outs[0] is not None else None

    return estimate


_ESTIMATORS: dict[str, Callable] = {
    "Conv": _conv,
    "ConvInteger": _conv,
    "QLinearConv": lambda n, i, o: _conv(n, [i[0], i[3]], o),
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "MatMulInteger": _matmul,
    "QLinearMatMul": lambda n, i, o: _matmul(n, [i[0]], o),
    "LSTM": _recurrent(4),
    "GRU": _recurrent(3),
    "RNN": _recurrent(1),
    "Einsum": _einsum,
    "Attention": _fused_attention,
    "MultiHeadAttention": _fused_attention,
    "GroupQueryAttention": _fused_attention,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "ReduceMean": _global_pool,
    "ReduceSum": _global_pool,
    "ReduceMax": _global_pool,
    "Add": _per_output(1),
    "Sub": _per_output(1),
    "Mul": _per_output(1),
    "Div": _per_output(1),
    "Sum": _per_output(1),
    "Relu": _per_output(1),
    "LeakyRelu": _per_output(2),
    "Clip": _per_output(1),
    "Sigmoid": _per_output(4),
    "Tanh": _per_output(4),
    "Erf": _per_output(4),
    "Gelu": _per_output(8),
    "Sqrt": _per_output(1),
    "Pow": _per_output(1),
    "Exp": _per_output(1),
    "HardSwish": _per_output(4),
    "HardSigmoid": _per_output(3),
    "BatchNormalization": _per_output(2),
    "InstanceNormalization": _per_output(5),
    "LayerNormalization": _per_output(5),
    "GroupNormalization": _per_output(5),
    "LRN": _per_output(5),
    "Softmax": _per_output(3),
    "LogSoftmax": _per_output(4),
    "SkipLayerNormalization": _per_output(6),
    "SimplifiedLayerNormalization": _per_output(4),
    "SkipSimplifiedLayerNormalization": _per_output(5),
    "RMSNormalization": _per_output(4),
    "FastGelu": _per_output(8),
    "BiasGelu": _per_output(9),
    "QuickGelu": _per_output(5),
}
COUNTED_OPS = frozenset(_ESTIMATORS)  # ops whose work is counted (any other op counts as none, e.g. Reshape)


def concrete_shapes(shapes: Mapping[str, Sequence]) -> dict[str, tuple[int, ...]]:
    """The shapes of ``shapes`` whose every dimension is a known int (symbolic or unknown ones left out): checked once
    per tensor, for ``estimate_node(..., concrete=True)`` over a whole graph."""
    out = {}
    for name, shape in shapes.items():
        found = _concrete(shape)
        if found is not None:
            out[name] = found
    return out


def _concrete(shape: Sequence | None) -> tuple[int, ...] | None:
    """``shape`` as a tuple when every dimension is a known int, else None."""
    if shape is None:
        return None
    for d in shape:  # a loop, not any(<generator>): this runs per tensor of 50,000-node graphs
        if not isinstance(d, int) or d < 0:
            return None
    return tuple(shape)


def estimate_node(
    node: onnx.NodeProto,
    shapes: Mapping[str, Sequence[int]],
    *,
    concrete: bool = False,
    names: tuple[Sequence[str], Sequence[str]] | None = None,
) -> tuple[int, int, bool]:
    """(MACs, FLOPs, shapes_known) of one node given a map from tensor name to concrete shape (``concrete``: the map
    holds only concrete shapes already, ``concrete_shapes``). ``names``: the node's input and output names when
    the caller has read them already (reading a protobuf field costs microseconds, 50,000 nodes)."""
    estimator = _ESTIMATORS.get(node.op_type)
    if estimator is None:
        return 0, 0, True
    input_names, output_names = names if names is not None else (node.input, node.output)
    if concrete:
        get = shapes.get
        ins = [get(n) if n else None for n in input_names]
        outs = [get(n) if n else None for n in output_names]
    else:
        ins = [_concrete(shapes.get(n)) if n else None for n in input_names]
        outs = [_concrete(shapes.get(n)) if n else None for n in output_names]
    result = estimator(node, ins, outs)
    if result is None:
        return 0, 0, False
    return int(result[0]), int(result[1]), True
