"""The work each engine layer does: FLOPs, bytes moved, compute precision, GEMM tiling, from TensorRT's own layer
descriptions (the CPU builder's report, or layer-information JSON exported on a GPU).

TREx computed convolution MACs from the same keys (``Kernel``, ``OutMaps``, ``Groups``, ``Weights``); the builder's
Myelin report carries no such keys, so there the weights come from the layer's ``Constants`` and the operation
from the kernel name (``__myl_CorrMulAddRelu`` = correlation, i.e. convolution, + BN + ReLU).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Iterable, Mapping, TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import EngineFileError
from ..layers import layers_frame, normalize_dtype, parse_inspector_json, parse_layer_report

if TYPE_CHECKING:
    from ...files import PathArg
    from ...model import Model
    from ..build import BuildResult

DTYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int8": 1,
    "uint8": 1,
    "float8": 1,
    "float4": 0.5,
    "int4": 0.5,
    "int32": 4,
    "int64": 8,
    "bool": 1,
}
_VECTOR_WIDTH = {"two": 2, "four": 4, "eight": 8, "sixteen": 16, "thirty-two": 32}
# Ops TensorRT runs as GEMMs on tensor cores, and ops that only move or combine memory.
TENSOR_CORE_OPS = ("conv", "gemm")
NO_TIME_OPS = ("noop", "sync", "shape")

WORKLOAD_COLUMNS = [
    "name",
    "type",
    "op",
    "precision",
    "math",
    "accumulate",
    "flops",
    "bytes",
    "weight_bytes",
    "gemm_m",
    "gemm_n",
    "gemm_k",
    "weight_shape",
    "input_shapes",
    "output_shapes",
    "shapes_known",
    "onnx_nodes",
    "kind",
    "tactic",
    "output_formats",
    "inputs",
    "outputs",
    "output_dtypes",
]


# Kernel names say which unit does the math and in what type it accumulates (NVIDIA's naming: xmma
# "<A><B>_<math><acc>_<epilogue>" type strings, cuDNN/cuBLAS "h16816" = half-precision HMMA, "s..." = single-precision
# SIMT or accumulate, "i8816" = IMMA, "icudnn"/"simt" = CUDA-core dot products). On GeForce cards FP16 accumulation
# runs at twice the FP32-accumulate tensor rate, so the accumulator type changes the peak a layer can reach.
_TACTIC_MATH = (
    (re.compile(r"f16f16_f16f16_f16|_h\d{3,5}(?:cudnn|gemm)|hmma.*f16f16_f16"), ("tensor", "float16")),
    (re.compile(r"f16f16f32|f16f16_f16f32|_s\d{3,5}(?:cudnn|gemm)"), ("tensor", "float32")),
    (re.compile(r"tf32"), ("tensor", "float32")),
    (re.compile(r"i8i8_i8i32|i8f16_i8i32|i8f32_i8i32|i8\d{3,4}cudnn|imma"), ("tensor", "int32")),
    (re.compile(r"winograd"), ("winograd", "")),
    (re.compile(r"simt|_icudnn|int_icudnn|scudnn|f32f32_f32f32"), ("simt", "")),
)
# A Winograd convolution F(2x2, 3x3) does 16 multiplies where the direct one does 36 (Lavin & Gray, 2016); larger
# tiles save more, so 2.25 is the smallest saving such a kernel makes.
WINOGRAD_SAVING = 2.25


@lru_cache(maxsize=4096)
def tactic_math(tactic: str) -> tuple[str, str]:
    """('tensor' | 'simt' | 'winograd' (SIMT) | '', accumulator dtype or '') read from a kernel (tactic) name;
    ('', '') when it says nothing (Myelin kernels, tactic ids, CPU builds that chose no kernel)."""
    name = str(tactic or "").lower()
    for pattern, math_acc in _TACTIC_MATH:
        if pattern.search(name):
            return math_acc
    return "", ""


def raw_layers_of(source: BuildResult | PathArg | dict | list[dict]) -> tuple[list[dict], str]:
    """Raw layer dicts and their source from a BuildResult, a layer-information JSON path/dict, or a list of dicts."""
    if hasattr(source, "log") and hasattr(source, "layers"):  # a BuildResult (engines.build)
        raw = parse_layer_report(source.log[source.log.rfind("Layers:") :]) if "Layers:" in source.log else []
        if not raw:
            raise EngineFileError("the build log holds no 'Layers:' report (build with the workbench's build_engine)")
        return raw, "builder-log"
    if isinstance(source, list) and all(isinstance(x, dict) for x in source):
        return list(source), "raw"
    return parse_inspector_json(source), "inspector-json"


def _dims(tensor: Mapping) -> list[int] | None:
    dims = tensor.get("Dimensions")
    if not isinstance(dims, list) or not dims:
        return None
    try:
        out = [int(d) for d in dims]
    except (TypeError, ValueError):
        return None
    return out if all(d >= 0 for d in out) else None


def _dtype(tensor: Mapping) -> str:
    return normalize_dtype(
        tensor.get("Datatype") or tensor.get("Format/Datatype") or tensor.get("DataType") or tensor.get("Type")
    )


def _channel_multiple(tensor: Mapping) -> int:
    """Vectorized formats pad the channel dimension: 'Thirty-two wide channel vectorized' / 'channel % 8 == 0'."""
    return _format_channel_multiple(str(tensor.get("Format/Datatype") or tensor.get("Format") or ""))


@lru_cache(maxsize=1024)
def _format_channel_multiple(text: str) -> int:
    text = text.lower()
    m = re.search(r"(two|four|eight|sixteen|thirty-two) wide channel vectorized", text)
    if m:
        return _VECTOR_WIDTH[m.group(1)]
    m = re.search(r"channel % (\d+) == 0", text)
    return int(m.group(1)) if m else 1


def tensor_bytes(tensor: Mapping) -> float | None:
    dims = _dims(tensor)
    if dims is None:
        return None
    if len(dims) >= 3:
        multiple = _channel_multiple(tensor)
        dims = [dims[0], math.ceil(dims[1] / multiple) * multiple, *dims[2:]]
    return float(math.prod(dims)) * DTYPE_BYTES.get(_dtype(tensor), 4)


def _elements(dims) -> float:
    return float(math.prod(dims)) if dims else 0.0


# Myelin kernel names: __myl_<Op><Op>..._myl<k>_<i>, or '<onnx name>_myl<k>_<i>' for a single op.
_MYELIN_OPS = re.compile(r"^__myl_([A-Za-z]+?)_(?:myl\d+_\d+|0x[0-9a-f]+)$")


_ATTENTION_KERNEL = re.compile(r"^_gemm_mha|fmha|_mha_v\d", re.IGNORECASE)


def classify(raw: Mapping, kind: str, onnx_ops: Iterable[str] = ()) -> str:
    """conv, depthwise, gemm, attention, pool, pointwise, reduce, softmax, norm, reformat, myelin, plugin, noop, sync
    or shape."""
    if kind in ("noop", "sync", "shape"):
        return kind
    if set(raw) <= {"Name"}:  # a names-only file (exported without detailed verbosity)
        return "unknown"
    if "plugin" in str(raw.get("LayerType") or "").lower() or "plugin" in str(raw.get("ParameterType") or "").lower():
        return "plugin"  # a TensorRT plugin: costed from the plugin table (regions.py), not the roofline
    if str(raw.get("LayerType") or "") == "NoOp":  # a reformat TensorRT elided: named like one, costs nothing
        return "noop"
    parameter = str(raw.get("ParameterType") or "")
    layer_type = str(raw.get("LayerType") or "").lower()
    name = str(raw.get("Name") or "")
    if _ATTENTION_KERNEL.search(name) or _ATTENTION_KERNEL.search(str(raw.get("TacticName") or "")):
        return "attention"  # a fused multi-head attention kernel (Myelin's _gemm_mha, fMHA): QK^T, softmax, PV
    m = _MYELIN_OPS.match(name)
    if m:  # a Myelin kernel named after its ops says more than its ONNX nodes (which include fused Q/DQ and bias)
        return _classify_myelin_ops(m.group(1))
    if name.startswith("{ForeignNode"):  # a whole Myelin region: its ONNX ops (MatMul...) do not make it one GEMM
        return "myelin"
    ops = set(onnx_ops)
    if parameter in ("Convolution", "Deconvolution") or layer_type == "correlation" or ops & {"Conv", "ConvTranspose"}:
        groups = int(raw.get("Groups") or 1)
        return "depthwise" if groups > 1 and groups == int(raw.get("OutMaps") or 0) else "conv"
    if parameter in ("MatrixMultiply", "FullyConnected", "Gemm") or layer_type == "gemm" or ops & {"Gemm", "MatMul"}:
        return "gemm"
    if kind == "reformat" or parameter == "Reformat":
        return "reformat"
    if parameter == "Pooling" or ops & {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}:
        return "pool"
    if parameter == "Reduce" or ops & {"ReduceMean", "ReduceSum", "ReduceMax"}:
        return "reduce"
    if parameter == "SoftMax" or "Softmax" in ops:
        return "softmax"
    if ops & {"LayerNormalization", "InstanceNormalization", "GroupNormalization"}:
        return "norm"
    if parameter == "Myelin" or layer_type == "myelin" or name.startswith("{ForeignNode"):
        return "myelin"
    return "pointwise"


def _classify_myelin_ops(ops: str) -> str:
    if "Corr" in ops or "Conv" in ops:
        return "conv"
    if re.search(r"Fc|Gemm|MatMul|Mm|Bmm", ops):
        return "gemm"
    if re.fullmatch(r"(Move|Tran|Copy|Resh|Transpose|Reshape)+", ops):
        return "reformat"
    if "Softmax" in ops or re.search(r"Exp.*Sum.*Div", ops):
        return "softmax"
    if re.search(r"Norm|Gnor|Lnor|Inor|Rnor", ops) or re.search(r"Mean.*Sqrt", ops):
        return "norm"
    if re.search(r"Mean|Sum|Maxr|Minr", ops):
        return "reduce" if not re.search(r"Mean$", ops) else "pool"
    return "pointwise"


def _weights(raw: Mapping) -> tuple[list[int] | None, float]:
    """The main weight tensor's dims (None when only a count is known) and all weights' bytes."""
    if isinstance(raw.get("Weights"), dict):  # inspector JSON: {Type, Count}, Kernel, OutMaps
        total, dims = 0.0, None
        kernel, out_maps = raw.get("Kernel"), int(raw.get("OutMaps") or 0)
        if isinstance(kernel, list) and kernel and out_maps:
            per_map = float(raw["Weights"].get("Count") or 0) / out_maps / _elements(kernel)
            dims = [out_maps, int(round(per_map)), *[int(k) for k in kernel]]
        for key in ("Weights", "Bias"):
            w = raw.get(key)
            if isinstance(w, dict):
                total += float(w.get("Count") or 0) * DTYPE_BYTES.get(normalize_dtype(str(w.get("Type"))), 4)
        return dims, total
    constants = [c for c in raw.get("Constants") or [] if isinstance(c, dict)]
    main, total = None, 0.0
    for c in constants:
        dims = _dims(c)
        if dims is None:
            continue
        total += _elements(dims) * DTYPE_BYTES.get(_dtype(c), 4)
        if len(dims) >= 2 and (main is None or _elements(dims) > _elements(main)):
            main = dims
    return main, total


def _with_fused_conv_keys(raw: Mapping) -> Mapping:
    """A fused ConvActPool layer describes its convolution under ``Conv``-prefixed keys (``ConvOutMaps``,
    ``ConvWeights``...); expose them under the plain names so it is read like any convolution."""
    if "ConvParameterType" not in raw:
        return raw
    out = dict(raw)
    for key, value in raw.items():
        if key.startswith("Conv") and key != "ConvParameterType":
            out.setdefault(key[len("Conv") :], value)
    out["ParameterType"] = raw["ConvParameterType"]
    return out


def _conv_output_elements(raw: Mapping, in_shape, out_shape) -> float:
    """Elements the convolution itself produces: the layer's output, unless a fused pooling shrank it (then the
    size follows from the input, kernel, stride and padding)."""
    kernel, stride = raw.get("Kernel"), raw.get("Stride")
    if "PoolingParameterType" not in raw or not (isinstance(kernel, list) and isinstance(stride, list) and in_shape):
        return _elements(out_shape)
    pre, post = raw.get("PrePadding") or [0] * len(kernel), raw.get("PostPadding") or [0] * len(kernel)
    spatial = [
        (size + a + b - k) // s + 1 for size, k, s, a, b in zip(in_shape[-len(kernel) :], kernel, stride, pre, post)
    ]
    return float(in_shape[0] * int(raw.get("OutMaps") or out_shape[1]) * math.prod(spatial))


def _layer_work(raw: Mapping, op: str) -> dict:
    inputs = [t for t in raw.get("Inputs") or [] if isinstance(t, dict)]
    outputs = [t for t in raw.get("Outputs") or [] if isinstance(t, dict)]
    in_shapes = [_dims(t) for t in inputs]
    out_shapes = [_dims(t) for t in outputs]
    in_bytes = [tensor_bytes(t) for t in inputs]
    out_bytes = [tensor_bytes(t) for t in outputs]
    weight_dims, weight_bytes = _weights(raw)
    known = bool(outputs) and all(s is not None for s in out_shapes + in_shapes)
    # the first floating-point input says the layer's precision (Myelin kernels also take int32 index tensors)
    floats = [_dtype(t) for t in inputs if _dtype(t) in ("float32", "float16", "bfloat16", "float8", "int8")]
    precision = (floats[0] if floats else _dtype(inputs[0]) if inputs else "") or (
        _dtype(outputs[0]) if outputs else ""
    )
    if op in ("conv", "depthwise", "gemm") and isinstance(raw.get("Weights"), dict):
        w_type = normalize_dtype(str(raw["Weights"].get("Type")))
        precision = "int8" if w_type == "int8" else precision
    work = {
        "precision": precision,
        "flops": np.nan,
        "bytes": np.nan,
        "weight_bytes": weight_bytes,
        "gemm_m": np.nan,
        "gemm_n": np.nan,
        "gemm_k": np.nan,
        "weight_shape": weight_dims,
        "input_shapes": in_shapes,
        "output_shapes": out_shapes,
        "shapes_known": known,
    }
    if op in NO_TIME_OPS:
        work.update(flops=0.0, bytes=0.0)
        return work
    if not known:
        return work
    out = out_shapes[0]
    out_elems = _elements(out)
    work["bytes"] = sum(in_bytes) + sum(out_bytes) + weight_bytes
    if op in ("conv", "depthwise"):
        out_elems = _conv_output_elements(raw, in_shapes[0] if in_shapes else None, out)
        channels_out = int(raw.get("OutMaps") or (weight_dims[0] if weight_dims else (out[1] if len(out) > 1 else 1)))
        if isinstance(raw.get("Weights"), dict):
            per_output = float(raw["Weights"].get("Count") or 0) / max(channels_out, 1)
        elif weight_dims and len(weight_dims) >= 3:
            per_output = _elements(weight_dims[1:])
        else:
            per_output = float(in_shapes[0][1]) if in_shapes and len(in_shapes[0]) > 1 else 1.0
        work.update(
            flops=2.0 * out_elems * per_output,
            gemm_m=out_elems / max(channels_out, 1),
            gemm_n=float(channels_out),
            gemm_k=per_output,
        )
    elif op == "gemm":
        n = float(out[-1]) if out else 1.0
        if weight_dims:
            # the output-feature dimension is the weight dimension the output shares: last for row-major GEMMs,
            # second-to-last for Myelin's channel-major 1x1-convolution GEMMs ([1, C_out, H*W])
            shared = [d for d in (out[-1], out[-2] if len(out) > 1 else None) if d and d in weight_dims[-2:]]
            n = float(shared[0]) if shared else n
            k = _elements(weight_dims) / n if n else 0.0
        else:
            k = float(in_shapes[0][-1]) if in_shapes and in_shapes[0] else 1.0
        work.update(flops=2.0 * out_elems * k, gemm_m=out_elems / max(n, 1.0), gemm_n=n, gemm_k=k)
    elif op == "pool":
        window = raw.get("WindowSize")
        taps = (
            _elements(window)
            if isinstance(window, list) and window
            else (_elements(in_shapes[0]) / max(out_elems, 1.0) if in_shapes and in_shapes[0] else 1.0)
        )
        work["flops"] = out_elems * taps
    elif op == "reformat":
        work["flops"] = 0.0
    elif op == "attention":
        work.update(_attention_work(in_shapes))
    else:  # pointwise, reduce, softmax, norm, myelin: about one operation per element read
        work["flops"] = max(out_elems, sum(_elements(s) for s in in_shapes if s))
    return work


def _attention_work(in_shapes: list) -> dict:
    """A fused attention kernel from its inputs Q [.., Lq, d], K (or Kᵀ) and V: 4·BH·Lq·Lk·d FLOPs; ``gemm_m`` = Lq
    (query rows), ``gemm_n`` = BH (batch x heads), ``gemm_k`` = Lk (keys)."""
    q = next((s for s in in_shapes if s and len(s) >= 3), None)
    k = next((s for s in in_shapes[1:] if s and len(s) >= 3), None)
    if q is None or k is None:
        return {}
    heads, lq, d = float(math.prod(q[:-2])), float(q[-2]), float(q[-1])
    lk = float(k[-1] if k[-2] == q[-1] and k[-1] != q[-1] else k[-2])
    return {"flops": 4.0 * heads * lq * lk * d, "gemm_m": lq, "gemm_n": heads, "gemm_k": lk}


def layer_workload(source: BuildResult | PathArg | dict | list[dict], model: Model | None = None) -> pd.DataFrame:
    """One row per engine layer (columns ``WORKLOAD_COLUMNS``): what it computes and moves.

    ``source``: a BuildResult, layer-information JSON (path or parsed) or raw layer dicts. ``model``: the ONNX model
    the engine came from, when known; its op types classify Myelin layers whose names say little.
    """
    raw_layers, origin = raw_layers_of(source)
    frame = layers_frame(raw_layers, source="inspector-json" if origin == "inspector-json" else "builder-log")
    op_of = {}
    if model is not None:
        from ..layers import onnx_node_index

        index = onnx_node_index(model)
        op_of = {name: node.op_type for name, node in index.items()}
    rows = []
    for raw, layer in zip(raw_layers, frame.itertuples(index=False)):
        raw = _with_fused_conv_keys(raw)
        onnx_ops = [op_of[n] for n in layer.onnx_nodes if n in op_of]
        op = classify(raw, layer.kind, onnx_ops)
        math_unit, accumulate = tactic_math(layer.tactic) if op in TENSOR_CORE_OPS else ("", "")
        rows.append(
            {
                "name": layer.name,
                "type": layer.type,
                "op": op,
                "math": math_unit,
                "accumulate": accumulate,
                **_layer_work(raw, op),
                "onnx_nodes": list(layer.onnx_nodes),
                "kind": layer.kind,
                "tactic": layer.tactic,
                "output_formats": list(layer.output_formats),
                "inputs": list(layer.inputs),
                "outputs": list(layer.outputs),
                "output_dtypes": list(layer.output_dtypes),
            }
        )
    df = pd.DataFrame(rows, columns=WORKLOAD_COLUMNS)
    df.attrs["source"] = origin
    return df
