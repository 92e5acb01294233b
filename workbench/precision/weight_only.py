"""INT4 weight-only quantization with per-group scales (AWQ-style), written as block-quantized DequantizeLinear.

Each MatMul weight [K, N] is stored as int4 with one scale per ``block_size`` rows of K and per output column:
``DequantizeLinear(w_int4, scales [K/block_size, N], axis=0, block_size=...)`` (opset 21), the form TensorRT's
INT4 weight-only GEMMs and ONNX Runtime both read. Activations stay in float.

AWQ (Lin et al., "Activation-aware Weight Quantization", 2023): weight channels that meet large activations matter
most. Per activation tensor, a per-channel scale ``s = mean|x| ** alpha`` is searched over ``alpha`` (0 is plain
round-to-nearest), minimizing the error of ``(x / s) @ Q(diag(s) W)`` against ``x @ W`` on calibration rows; the
MatMuls that read one tensor (q/k/v, gate/up) share ``s``. ``1 / s`` is folded into the RMSNorm gamma that writes
the tensor when it can be, else a Mul is inserted before the MatMuls. Written here because ONNX Runtime's own
``MatMul4BitsQuantizer`` writes its MatMulNBits contrib op, which TensorRT cannot read; AWQ's clip search is not done.
"""

from __future__ import annotations

from typing import Any, Collection, Iterable

import numpy as np
import onnx
import pandas as pd
from onnx import helper, numpy_helper

from ..errors import ConfigError
from ..model import load_model
from ..model.loading import CALIBRATOR_KEY, PRECISION_KEY, SOURCE_KEY
from .channel_stats import collect_channel_stats, weight_of, weighted_matmuls
from .graph_edit import set_metadata, toposorted, with_opset

INT4_OPSET = 21  # DequantizeLinear's block_size and the int4 type
INT4_MAX = 7.0  # symmetric int4: scale = amax / 7, values clipped to [-8, 7]
DEFAULT_BLOCK_SIZE = 32
AWQ_ALPHAS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))  # the scale-exponent grid (AWQ's own: 20 points)
METHODS = ("awq", "rtn")


def fake_quantize_int4(weight: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(int4 values as int8 [K, N], scales [K / block_size, N]) of ``weight`` [K, N], symmetric per group."""
    k, n = weight.shape
    groups = weight.reshape(k // block_size, block_size, n)
    amax = np.abs(groups).max(axis=1)
    scale = np.where(amax > 0, amax, 1.0) / INT4_MAX
    q = np.clip(np.rint(groups / scale[:, None, :]), -8, INT4_MAX).astype(np.int8)
    return q.reshape(k, n), scale.astype(np.float32)


def dequantize_int4(q: np.ndarray, scale: np.ndarray, block_size: int) -> np.ndarray:
    """Float32 values of int4 ``q`` [K, N] with per-group ``scale`` [K / block_size, N]."""
    return (q.astype(np.float32) * np.repeat(scale, block_size, axis=0)).astype(np.float32)


def _search_scales(
    rows: np.ndarray, mean_abs: np.ndarray, weights: list[np.ndarray], block_size: int, alphas: Iterable[float]
) -> tuple[np.ndarray, float, float, float]:
    """(s, alpha, error with s, round-to-nearest error): AWQ's grid search for one activation tensor."""
    x = rows.astype(np.float32)
    reference = [x @ w for w in weights]

    def error(s: np.ndarray) -> float:
        total = 0.0
        for w, ref in zip(weights, reference):
            q, scale = fake_quantize_int4(w * s[:, None], block_size)
            total += float(np.mean(((x / s) @ dequantize_int4(q, scale, block_size) - ref) ** 2))
        return total

    base = np.maximum(mean_abs, 1e-8).astype(np.float32)
    ones = np.ones_like(base)
    rtn = error(ones)
    best = (ones, 0.0, rtn)
    for alpha in alphas:
        if alpha == 0:
            continue
        s = base**alpha
        s = s / np.sqrt(s.max() * s.min())  # centred on 1 (AWQ's normalization)
        e = error(s)
        if e < best[2]:
            best = (s.astype(np.float32), float(alpha), e)
    return best[0], best[1], best[2], rtn


def quantize_weights_int4(
    model: Any,
    data: Any = None,
    *,
    method: str = "awq",
    block_size: int = DEFAULT_BLOCK_SIZE,
    alphas: Iterable[float] = AWQ_ALPHAS,
    exclude_nodes: Collection[str] = (),
    samples: int | None = None,
    batch_size: int | None = None,
    float_precision: str = "fp32",
) -> Any:
    """``model`` with the weights of its MatMuls in int4 (per-group scales), as a QuantizationResult.

    ``method``: ``awq`` (activation-aware scales searched on ``data``, anything ``calibrate`` takes) or ``rtn``
    (round to nearest, no data). MatMuls whose K is not a multiple of ``block_size``, or with K or N under 16, stay
    float; the report says why, and for AWQ the chosen alpha and the output error relative to round-to-nearest.
    ``float_precision='fp16'`` (or bf16) runs the activations in that type: W4A16, AWQ's deployment form.
    """
    from .float_remainder import check_float_precision, with_float_remainder
    from .qdq import QuantizationResult

    float_precision = check_float_precision(float_precision)
    model = load_model(model)
    if method not in METHODS:
        raise ConfigError(f"INT4 method '{method}' is unknown (methods: {', '.join(METHODS)})")
    if not isinstance(block_size, int) or block_size < 2 or block_size & (block_size - 1):
        raise ConfigError(f"block_size {block_size!r} must be a power of two of at least 2 (e.g. 32, 64, 128)")
    if method == "awq" and data is None:
        raise ConfigError("INT4 AWQ needs calibration data (activations decide the scales); method='rtn' needs none")
    proto = with_opset(model.proto, INT4_OPSET, "INT4 block quantization (DequantizeLinear block_size)")
    graph = proto.graph
    candidates = weighted_matmuls(graph, exclude_nodes=set(exclude_nodes))
    rows, chosen = [], []
    for index, why in candidates:
        node = graph.node[index]
        k = int(next(t for t in graph.initializer if t.name == node.input[1]).dims[0])
        if not why and k % block_size:
            why = f"K={k} is not a multiple of block_size {block_size}"
        if why:
            rows.append((node.name, node.op_type, False, why))
        else:
            chosen.append(index)
    if not chosen:
        raise ConfigError(
            f"no MatMul of {model.label} can take INT4 weights: "
            f"{rows[0][3] if rows else 'no MatMul reads a 2-D weight'}"
        )
    by_input: dict[str, list[int]] = {}
    for index in chosen:
        by_input.setdefault(graph.node[index].input[0], []).append(index)
    stats = (
        collect_channel_stats(model, data, list(by_input), samples=samples, batch_size=batch_size)
        if method == "awq"
        else {}
    )
    smoothing = {}
    notes = []
    for tensor, indices in by_input.items():
        weights = [weight_of(graph, graph.node[i]) for i in indices]
        if method == "awq":
            s, alpha, err, rtn = _search_scales(stats[tensor].rows, stats[tensor].mean_abs, weights, block_size, alphas)
            note = f"awq alpha {alpha:g}: output error {err / rtn:.2f}x round-to-nearest's" if rtn else "awq"
        else:
            s, note = None, "round to nearest"
        if s is not None and not np.allclose(s, 1.0):
            smoothing[tensor] = s
        for i, w in zip(indices, weights):
            _write_int4_weight(graph, graph.node[i], w * s[:, None] if tensor in smoothing else w, block_size)
            rows.append((graph.node[i].name, "MatMul", True, note))
    folded = apply_input_scales(graph, {t: 1.0 / s for t, s in smoothing.items()}, by_input)
    if smoothing:
        notes.append(
            f"AWQ scales: {folded} of {len(smoothing)} folded into the RMSNorm/producer weights, the rest "
            "applied by a Mul before the MatMuls"
        )
    _drop_unused_initializers(graph)
    proto = toposorted(proto)
    set_metadata(proto, {PRECISION_KEY: "int4", CALIBRATOR_KEY: method, SOURCE_KEY: model.source_model})
    out = load_model(proto, name=f"{model.name}_int4_{method}")
    out.label = f"{model.label} (int4 weights, {method})"
    report = pd.DataFrame(rows, columns=["node", "op", "quantized", "note"])
    return with_float_remainder(QuantizationResult(out, report, "tensorrt", "int4", method, notes), float_precision)


def _write_int4_weight(graph, node, weight: np.ndarray, block_size: int) -> None:
    import ml_dtypes  # onnx's own dependency for its int4 type

    q, scale = fake_quantize_int4(weight, block_size)
    name = node.input[1]
    q_name, s_name, out = f"{name}_int4", f"{name}_int4_scale", f"{name}_int4_dequantized"
    graph.initializer.extend(
        [numpy_helper.from_array(q.astype(ml_dtypes.int4), q_name), numpy_helper.from_array(scale, s_name)]
    )
    graph.node.append(
        helper.make_node(
            "DequantizeLinear", [q_name, s_name], [out], name=f"{name}_DequantizeLinear", axis=0, block_size=block_size
        )
    )
    node.input[1] = out


def apply_input_scales(graph: onnx.GraphProto, factors: dict[str, np.ndarray], readers: dict[str, list[int]]) -> int:
    """Multiply each activation tensor by its per-channel ``factors`` before the MatMuls in ``readers`` read it.

    Folded into the producer when it is a Mul by a 1-D weight of K values (an RMSNorm/LayerNorm gamma) and only
    those MatMuls read the tensor; else a Mul node is inserted. Returns how many were folded."""
    initializers = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    readers_of: dict[str, int] = {}
    for n in graph.node:
        for t in n.input:
            readers_of[t] = readers_of.get(t, 0) + 1
    outputs = {o.name for o in graph.output}
    folded = 0
    for tensor, factor in factors.items():
        node = producer.get(tensor)
        gamma = next(
            (
                i
                for i in (node.input if node is not None and node.op_type == "Mul" else [])
                if i in initializers and list(initializers[i].dims) == [len(factor)]
            ),
            None,
        )
        if (
            gamma is not None
            and readers_of.get(tensor, 0) == len(readers[tensor])
            and tensor not in outputs
            and readers_of.get(gamma, 0) == 1
        ):
            values = numpy_helper.to_array(initializers[gamma]).astype(np.float32) * factor
            initializers[gamma].CopyFrom(numpy_helper.from_array(values.astype(np.float32), gamma))
            folded += 1
            continue
        scale_name, scaled = f"{tensor}_channel_scale", f"{tensor}_channel_scaled"
        graph.initializer.append(numpy_helper.from_array(factor.astype(np.float32), scale_name))
        graph.node.append(helper.make_node("Mul", [tensor, scale_name], [scaled], name=f"{tensor}_ChannelScale"))
        for i in readers[tensor]:
            graph.node[i].input[0] = scaled
    return folded


def _drop_unused_initializers(graph) -> None:
    used = {t for n in graph.node for t in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def int4_weight_bytes(model: Any) -> int:
    """Bytes of the int4 weights in ``model`` (two values per byte), for size comparisons."""
    return sum(
        len(t.raw_data) for t in load_model(model).proto.graph.initializer if t.data_type == onnx.TensorProto.INT4
    )
