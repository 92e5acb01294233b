"""Node categories (colour groups) for ONNX ops, TensorRT network layers and engine layers."""

from __future__ import annotations

from functools import lru_cache

CATEGORIES = {  # category -> colour
    "convolution/matmul": "#1f77b4",
    "normalization": "#9467bd",
    "activation": "#2ca02c",
    "elementwise": "#ff7f0e",
    "pooling/reduction": "#17becf",
    "data movement": "#8c564b",
    "quantize/dequantize": "#d62728",
    "reformat/sync": "#7f7f7f",
    "input/output": "#000000",
    "group": "#bcbd22",
    "other": "#e377c2",
}

PRECISION_COLORS = {
    "float32": "#4c72b0",
    "float16": "#55a868",
    "bfloat16": "#64b5cd",
    "int8": "#c44e52",
    "uint8": "#dd8452",
    "float8": "#8172b2",
    "int32": "#937860",
    "int64": "#937860",
    "bool": "#8c8c8c",
}

_EXACT = {
    "convolution/matmul": {
        "conv",
        "convtranspose",
        "gemm",
        "matmul",
        "convolution",
        "correlation",
        "deconvolution",
        "matrix_multiply",
        "fullyconnected",
        "qlinearconv",
        "qlinearmatmul",
        "fusedconv",
        "fusedmatmul",
        "matmulinteger",
        "convinteger",
        "einsum",
        "attention",
    },
    "normalization": {
        "batchnormalization",
        "layernormalization",
        "instancenormalization",
        "groupnormalization",
        "normalization",
        "lrn",
        "skiplayernormalization",
        "simplifiedlayernormalization",
        "rmsnorm",
    },
    "activation": {
        "relu",
        "leakyrelu",
        "prelu",
        "sigmoid",
        "tanh",
        "gelu",
        "erf",
        "softmax",
        "logsoftmax",
        "clip",
        "elu",
        "selu",
        "hardsigmoid",
        "hardswish",
        "softplus",
        "mish",
        "biasgelu",
        "fastgelu",
        "activation",
        "softmax_layer",
    },
    "elementwise": {
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "sqrt",
        "exp",
        "log",
        "abs",
        "neg",
        "reciprocal",
        "sum",
        "max",
        "min",
        "where",
        "equal",
        "less",
        "greater",
        "not",
        "and",
        "or",
        "cast",
        "elementwise",
        "unary",
        "pointwise",
        "kgen",
        "identity",
        "dropout",
        "floor",
        "ceil",
        "round",
        "sign",
    },
    "pooling/reduction": {
        "maxpool",
        "averagepool",
        "globalaveragepool",
        "globalmaxpool",
        "reducemean",
        "reducesum",
        "reducemax",
        "reducemin",
        "reduceprod",
        "pooling",
        "reduce",
        "topk",
        "argmax",
        "argmin",
        "cumsum",
    },
    "data movement": {
        "reshape",
        "transpose",
        "concat",
        "concatenation",
        "split",
        "slice",
        "gather",
        "gatherelements",
        "gathernd",
        "scatter",
        "scatternd",
        "flatten",
        "squeeze",
        "unsqueeze",
        "shape",
        "expand",
        "pad",
        "padding",
        "tile",
        "shuffle",
        "resize",
        "constant",
        "constantofshape",
        "range",
        "depthtospace",
        "spacetodepth",
        "onehot",
        "nonzero",
        "size",
        "gather_layer",
        "copy",
        "move",
    },
    "quantize/dequantize": {"quantizelinear", "dequantizelinear", "quantize", "dequantize", "dynamicquantizelinear"},
    "reformat/sync": {"reformat", "noop", "signal", "wait", "reformatting", "myelin_signal", "myelin_wait"},
}
_LOOKUP = {op: cat for cat, ops in _EXACT.items() for op in ops}


@lru_cache(maxsize=4096)  # ops repeat: 50,000 nodes have a few dozen distinct ones
def _op_key(op: str) -> str:
    return op.lower().replace(" ", "").replace("-", "")


def category(op: str, name: str = "", kind: str = "") -> str:
    """The colour group of an op / layer type (``kind`` is the engine layer's compute/inserted/sync flag)."""
    if kind in ("inserted", "sync"):
        return "reformat/sync"
    key = _op_key(str(op))
    if key in _LOOKUP:
        return _LOOKUP[key]
    lowered = f"{key} {name.lower()}"
    for needle, cat in (
        ("conv", "convolution/matmul"),
        ("corr", "convolution/matmul"),
        ("gemm", "convolution/matmul"),
        ("matmul", "convolution/matmul"),
        ("norm", "normalization"),
        ("pool", "pooling/reduction"),
        ("reduce", "pooling/reduction"),
        ("quantiz", "quantize/dequantize"),
        ("reformat", "reformat/sync"),
        ("relu", "activation"),
        ("softmax", "activation"),
        ("shuffle", "data movement"),
        ("concat", "data movement"),
        ("slice", "data movement"),
    ):
        if needle in lowered:
            return cat
    return "other"
