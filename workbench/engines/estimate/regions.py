"""Myelin (ForeignNode) regions and plugins costed from what they contain.

A Myelin region (``{ForeignNode[first...last]}``, or a TensorRT 10 ``__myl_*`` kernel) hides a whole transformer
block: its input and output bytes say nothing of its attention and feed-forward work. Given the ONNX model, the
region is costed from the ONNX nodes it absorbed (its ``Metadata`` list, or the span from its first to its last node
in graph order, which is how TensorRT names it): every MatMul/Gemm/Conv (attention's QKᵀ and PV at the real sequence
lengths, projections, feed-forward) as a GEMM with its own wave fill, every normalization and softmax as one pass over
memory; pointwise ops are assumed fused into those kernels (what Myelin does). From layer JSON alone a region whose
name says attention is costed as one self-attention block at its I/O shape (the assumption is stated); any other
region is "not estimated".

Plugins come from ``data/plugins.csv`` (TensorRT's shipped plugins: passes over memory, and the unit of parallel work:
GroupNorm runs one thread block per (sample, group), so batch 1 with 32 groups fills 32 of the GPU's SMs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import ConfigError
from .gpus import GpuSpec
from .occupancy import memory_seconds, wave_fill

if TYPE_CHECKING:  # model.py imports this module
    from .model import EfficiencyFactors

if TYPE_CHECKING:
    from ...model import Model
    from .gpus import GpuSpec
    from .model import EfficiencyFactors

PLUGIN_TABLE = Path(__file__).resolve().parent / "data" / "plugins.csv"
MATMUL_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulInteger", "QLinearMatMul", "Einsum"}
PASS_OPS = {
    "Softmax": 2,
    "LayerNormalization": 3,
    "GroupNormalization": 3,
    "InstanceNormalization": 3,
    "ReduceMean": 1,
    "RMSNormalization": 3,
    "SkipLayerNormalization": 3,
}
ELEMENT_BYTES = {1: 4, 10: 2, 16: 2, 11: 8, 7: 8, 6: 4, 3: 1, 2: 1, 17: 1, 18: 1, 9: 1}
_ATTENTION_NAME = re.compile(r"attn|attention|softmax|mha|transformer|self_attn|cross_attn", re.IGNORECASE)


@lru_cache(maxsize=1)
def plugin_table() -> pd.DataFrame:
    """TensorRT's shipped plugins: name pattern, what they do, passes over their input bytes, parallel unit."""
    return pd.read_csv(PLUGIN_TABLE)


def plugin_row(*texts: str) -> dict | None:
    """The plugin table's row whose pattern matches one of ``texts`` (layer name, plugin type, tactic), or None."""
    for row in plugin_table().to_dict(orient="records"):
        pattern = re.compile(row["pattern"], re.IGNORECASE)
        if any(pattern.search(str(t or "")) for t in texts):
            return row
    return None


def _proto(model):
    proto = getattr(model, "proto", model)
    if not hasattr(proto, "graph"):
        raise ConfigError(f"model: expected an ONNX ModelProto or a workbench Model, got {type(model).__name__}")
    return proto


@dataclass
class NodeWork:
    name: str
    op: str
    flops: float
    bytes: float  # inputs + outputs + weights, once
    gemm_m: float = float("nan")
    gemm_n: float = float("nan")
    passes: int = 0  # a normalization/softmax: passes over its input (0 = fused into a neighbour)
    weight_bytes: float = 0.0


@dataclass
class OnnxWork:
    """Per ONNX node (graph order): its work, where the shapes are static; ``unknown``: nodes with no static shape."""

    nodes: list[NodeWork]
    order: dict[str, int]
    unknown: set[str] = field(default_factory=set)


def _shapes(proto) -> tuple[dict, dict]:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # noqa: BLE001 - a model shape inference rejects keeps what the model itself declares
        inferred = proto
    shapes, dtypes = {}, {}
    graph = inferred.graph
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        shapes[vi.name] = dims if t.HasField("shape") else None
        dtypes[vi.name] = ELEMENT_BYTES.get(t.elem_type, 4)
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
        dtypes[init.name] = ELEMENT_BYTES.get(init.data_type, 4)
    return shapes, dtypes


def onnx_work(model: Model) -> OnnxWork:
    """Work of every node of the model's main graph, from ONNX shape inference (static dims only)."""
    proto = _proto(model)
    shapes, sizes = _shapes(proto)
    weights = {i.name for i in proto.graph.initializer}
    weights |= {n.output[0] for n in proto.graph.node if n.op_type == "Constant" and n.output}
    nodes, order, unknown = [], {}, set()
    for i, node in enumerate(proto.graph.node):
        name = node.name or (node.output[0] if node.output else f"node{i}")
        order[name] = i
        if node.output:
            order.setdefault(node.output[0], i)
        ins = [shapes.get(x) for x in node.input if x]
        outs = [shapes.get(x) for x in node.output if x]
        if any(s is None or None in s for s in ins + outs):
            if node.op_type in MATMUL_OPS or node.op_type in PASS_OPS:
                unknown.add(name)
            continue

        def nbytes(names):
            return float(sum(math.prod(shapes[x]) * sizes.get(x, 4) for x in names if x and shapes.get(x)))

        w_bytes = nbytes([x for x in node.input if x in weights])
        total = nbytes(node.input) + nbytes(node.output)
        out = outs[0] if outs else []
        out_elems = float(math.prod(out)) if out else 0.0
        if node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
            a = ins[0]
            k = float(a[-1]) if a else 1.0
            if node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute):
                k = float(a[0])
            n = float(out[-1]) if out else 1.0
            nodes.append(
                NodeWork(name, "matmul", 2.0 * out_elems * k, total, out_elems / max(n, 1.0), n, weight_bytes=w_bytes)
            )
        elif node.op_type in ("Conv", "ConvTranspose"):
            w = shapes.get(node.input[1]) or [1, 1]
            groups = next((at.i for at in node.attribute if at.name == "group"), 1)
            per_out = float(math.prod(w[1:])) if node.op_type == "Conv" else float(w[0] * math.prod(w[2:])) / groups
            channels = float(out[1]) if len(out) > 1 else 1.0
            nodes.append(
                NodeWork(
                    name,
                    "matmul",
                    2.0 * out_elems * per_out,
                    total,
                    out_elems / channels,
                    channels,
                    weight_bytes=w_bytes,
                )
            )
        elif node.op_type in PASS_OPS:
            in_bytes = nbytes(node.input[:1])
            nodes.append(
                NodeWork(
                    name,
                    "pass",
                    5.0 * out_elems,
                    in_bytes * PASS_OPS[node.op_type] + nbytes(node.output[:1]),
                    passes=PASS_OPS[node.op_type],
                )
            )
        else:
            nodes.append(NodeWork(name, "fused", out_elems, 0.0))
    _mark_fused_attention(proto, nodes, shapes, sizes)
    return OnnxWork(nodes, order, unknown)


def _mark_fused_attention(proto, nodes: list[NodeWork], shapes: dict, sizes: dict) -> None:
    """Softmax between two weightless MatMuls (QKᵀ -> [scale/mask] -> Softmax -> PV) is one fused attention kernel in
    Myelin: the T x T scores never reach memory. Such a softmax costs the exp() of its scores (``scores``), and the
    two MatMuls no longer read or write the score tensor."""
    by_name = {n.name: n for n in nodes}
    producer, consumers = {}, {}
    for i, node in enumerate(proto.graph.node):
        name = node.name or (node.output[0] if node.output else f"node{i}")
        for out in node.output:
            producer[out] = (name, node)
        for x in node.input:
            consumers.setdefault(x, []).append((name, node))
    for node in proto.graph.node:
        if node.op_type != "Softmax":
            continue
        name = node.name or node.output[0]
        tensor, hops, qk = node.input[0], 0, None
        while tensor in producer and hops < 4:  # walk back over scale / mask / cast
            pname, pnode = producer[tensor]
            if pnode.op_type == "MatMul":
                qk = by_name.get(pname)
                break
            if pnode.op_type not in ("Mul", "Div", "Add", "Cast", "Where", "Sub"):
                break
            tensor, hops = pnode.input[0], hops + 1
        pv = next((by_name.get(c) for c, cnode in consumers.get(node.output[0], []) if cnode.op_type == "MatMul"), None)
        me = by_name.get(name)
        if not (qk and pv and me and qk.weight_bytes == 0 and pv.weight_bytes == 0):
            continue
        score_shape = shapes.get(node.input[0]) or []
        score_bytes = float(math.prod(score_shape)) * sizes.get(node.input[0], 2) if score_shape else 0.0
        me.op, me.bytes, me.passes = "attention-softmax", 0.0, 0
        me.flops = float(math.prod(score_shape)) if score_shape else me.flops  # one exp per score
        qk.bytes = max(qk.bytes - score_bytes, 0.0)
        pv.bytes = max(pv.bytes - score_bytes, 0.0)


def region_members(work: OnnxWork, onnx_nodes: list[str], foreign: bool) -> list[str] | None:
    """The ONNX nodes a region absorbed: its Metadata list, or for ``{ForeignNode[first...last]}`` (two names) every
    node from the first to the last in graph order. None when a named node is not in the model."""
    known = [n for n in onnx_nodes if n in work.order]
    if not known:
        return None
    if foreign and len(onnx_nodes) == 2 and len(known) == 2:
        lo, hi = sorted(work.order[n] for n in known)
        return [n.name for n in work.nodes if lo <= work.order[n.name] <= hi] + [
            n for n in work.unknown if lo <= work.order[n] <= hi
        ]
    return known


def exp_rate(gpu: GpuSpec) -> float:
    """exp() per second on the special-function units: 16 per SM per clock, 1/8 of the FP32 FMA rate."""
    return gpu.peak_tflops["float32"] * 1e12 / 2 / 8


def gemm_seconds(
    flops: float,
    nbytes: float,
    m: float,
    n: float,
    gpu: GpuSpec,
    peak: float,
    factors: EfficiencyFactors,
    *,
    weight_bytes: float = 0.0,
    resident: bool = True,
) -> float:
    """One GEMM kernel: roofline with the wave fill of its 128x128 output tiles (and K splits) against the GPU's
    SMs; activations (``nbytes`` less ``weight_bytes``) from L2 while they fit (``occupancy.py``)."""
    k = flops / (2.0 * max(m, 1) * max(n, 1))
    fill = float(wave_fill(m, n, k, gpu.sm_count))
    memory = float(memory_seconds(nbytes, weight_bytes, gpu, resident=resident))
    return max(flops / (peak * factors.compute * fill), memory / factors.memory) + factors.overhead_us * 1e-6


def attention_seconds(
    flops: float,
    nbytes: float,
    scores: float,
    queries: float,
    batch_heads: float,
    gpu: GpuSpec,
    peak: float,
    factors: EfficiencyFactors,
) -> float:
    """A fused (flash) attention kernel: QKᵀ and PV as GEMMs with one 128-query tile per (batch, head), plus the
    softmax's exp() of every score on the special-function units (not overlapped with the tensor-core math in
    FlashAttention-2-style kernels). Measured on H200 (SDPA, data/h200_kernels.csv): exp is why head dim 40 reaches
    a third of the GEMM rate."""
    return gemm_seconds(flops, nbytes, queries, 128 * batch_heads, gpu, peak, factors) + scores / exp_rate(gpu)


def region_seconds(
    work: OnnxWork, members: list[str], gpu: GpuSpec, precision: str, factors: EfficiencyFactors
) -> dict:
    """Seconds for a region made of ``members``: each GEMM its own kernel (attention's QKᵀ and PV included, as a
    fused attention kernel computes them), each normalization/softmax one kernel of its passes over memory,
    pointwise ops fused. ``unknown`` counts members without static shapes (then the time is a lower bound)."""
    by_name = {n.name: n for n in work.nodes}
    peak, _ = gpu.peak_flops(precision or "float16")
    seconds, gemms, passes, flops = 0.0, 0, 0, 0.0
    attention_flops, fused_attention = 0.0, 0
    for name in members:
        node = by_name.get(name)
        if node is None:
            continue
        if node.op == "matmul":
            gemms += 1
            flops += node.flops
            if node.weight_bytes == 0:
                attention_flops += node.flops
            seconds += gemm_seconds(
                node.flops, node.bytes, node.gemm_m, node.gemm_n, gpu, peak, factors, weight_bytes=node.weight_bytes
            )
        elif node.op == "attention-softmax":
            fused_attention += 1
            seconds += node.flops / exp_rate(gpu)  # exp of every score on the SFUs, inside the fused kernel
        elif node.op == "pass":
            passes += 1
            seconds += float(memory_seconds(node.bytes, 0.0, gpu)) / factors.memory + factors.overhead_us * 1e-6
    unknown = [m for m in members if m in work.unknown]
    return {
        "seconds": seconds,
        "gemms": gemms,
        "passes": passes,
        "flops": flops,
        "attention_flops": attention_flops,
        "unknown": len(unknown),
        "note": (
            f"from {len(members)} ONNX nodes: {gemms} GEMMs ({flops / 1e9:.2f} GFLOP, attention "
            f"{attention_flops / 1e9:.2f}; {fused_attention} fused attention softmax), {passes} norm/softmax passes, "
            f"pointwise fused"
            + (f"; {len(unknown)} nodes without static shapes not costed (lower bound)" if unknown else "")
        ),
    }


def attention_block_from_shapes(shapes: list, precision: str, gpu: GpuSpec, factors: EfficiencyFactors) -> dict | None:
    """A region named like attention, from its I/O shapes alone: one self-attention block over T tokens of width C
    (input [B, T, C], or [B, C, H, W] with T = H*W): QKV and output projections (8·B·T·C² FLOPs) and QKᵀ + PV
    (4·B·T²·C). Head count and any feed-forward or cross-attention are unknown: the figure is an assumption."""
    shape = next((s for s in shapes if s and len(s) in (3, 4) and all(d > 0 for d in s)), None)
    if shape is None:
        return None
    b = shape[0]
    t, c = (shape[1], shape[2]) if len(shape) == 3 else (shape[2] * shape[3], shape[1])
    peak, _ = gpu.peak_flops(precision or "float16")
    size = 2 if precision in ("float16", "bfloat16") else 1 if precision in ("int8", "float8") else 4
    proj = gemm_seconds(8.0 * b * t * c * c, size * (4 * c * c + 8 * b * t * c), b * t, c, gpu, peak, factors)
    attn = gemm_seconds(4.0 * b * t * t * c, size * 4 * b * t * c, t, t, gpu, peak, factors)
    return {
        "seconds": proj + attn + 2 * factors.overhead_us * 1e-6,
        "note": f"assumed one self-attention block over {t} tokens x {c} channels (batch {b}) from the name and "
        f"I/O shape; heads, feed-forward and cross-attention unknown: give the ONNX model to cost it",
    }


def plugin_seconds(
    row: dict, in_shapes: list, in_bytes: float, out_bytes: float, gpu: GpuSpec, factors: EfficiencyFactors
) -> tuple[float, str]:
    """A plugin from the plugin table: ``passes`` over its input plus one write, spread over its parallel units
    (one thread block each); fewer units than SMs reach only that share of the bandwidth."""
    shape = next((s for s in in_shapes if s), None) or [1]
    unit = row["parallel_unit"]
    groups = float(row.get("groups") or 32)
    units = {
        "sample_group": shape[0] * groups,
        "sample_channel": shape[0] * (shape[1] if len(shape) > 1 else 1),
        "rows": float(np.prod(shape[:-1])) if len(shape) > 1 else 1.0,
    }.get(unit, float(gpu.sm_count))
    share = min(1.0, units / gpu.sm_count)
    traffic = in_bytes * float(row["passes"]) + out_bytes
    rate = gpu.memory_bandwidth_gbs * 1e9 * factors.memory * share
    unit_gbs = row.get("unit_gbs")
    if unit_gbs and not (isinstance(unit_gbs, float) and math.isnan(unit_gbs)):
        rate = min(rate, units * float(unit_gbs) * 1e9)  # one thread block streams only so fast (latency-bound)
    seconds = traffic / rate + factors.overhead_us * 1e-6
    return seconds, (
        f"plugin {row['plugin']}: {row['passes']} passes over the input, {units:.0f} parallel "
        f"{unit.replace('_', '/')} units on {gpu.sm_count} SMs"
    )


NOT_ESTIMATED = "not estimated"
SPECIAL_OPS = ("myelin", "plugin", "attention")  # costed here, not by the roofline fit
_MYELIN_GROUP_NORM = re.compile(r"^__myl_\w*Gnor")  # Myelin's fused GroupNorm kernels (__myl_SiluGnor_myl0_3)


def special_layer_costs(
    work: pd.DataFrame, gpu: GpuSpec, factors: EfficiencyFactors, model: Model | None = None
) -> pd.DataFrame:
    """Per layer: seconds (NaN = not estimated), basis and note for Myelin regions and plugins; other layers get
    basis 'roofline' and NaN seconds (the caller keeps its roofline time for them)."""
    ops = work["op"].to_numpy()
    seconds = np.full(len(work), np.nan)
    basis = np.array(["roofline"] * len(work), dtype=object)
    notes = np.array([""] * len(work), dtype=object)
    onnx = onnx_work(model) if model is not None and (ops == "myelin").any() else None
    group_norm = (ops == "norm") & work["name"].astype(str).str.contains(_MYELIN_GROUP_NORM).to_numpy()
    special = np.flatnonzero(np.isin(ops, SPECIAL_OPS) | group_norm)  # only these rows: a 2,000-layer CNN has none
    for i, row in zip(special, work.iloc[special].itertuples(index=False)):
        if row.op == "norm":  # a Myelin GroupNorm kernel, costed like TensorRT's GroupNorm plugin (an assumption)
            seconds[i], note = plugin_seconds(
                plugin_row("GroupNorm"), list(row.input_shapes or [])[-1:], row.bytes / 2, row.bytes / 2, gpu, factors
            )
            basis[i] = "plugin table"
            notes[i] = (
                "Myelin GroupNorm kernel costed as the GroupNorm plugin (assumed: one thread block per "
                "(sample, group), as PyTorch's GroupNorm on H200 and the issue's A100 plugin times show); " + note
            )
            continue
        if row.op == "attention":
            if not (row.gemm_m > 0 and row.gemm_n > 0):
                basis[i], notes[i] = NOT_ESTIMATED, "attention kernel whose Q/K/V shapes cannot be read"
                continue
            peak, _ = gpu.peak_flops(row.precision or "float16")
            seconds[i] = attention_seconds(
                row.flops, row.bytes, row.gemm_m * row.gemm_n * row.gemm_k, row.gemm_m, row.gemm_n, gpu, peak, factors
            )
            basis[i] = "fused attention"
            notes[i] = (
                f"fused attention: {row.gemm_n:.0f} heads x {row.gemm_m:.0f} queries x {row.gemm_k:.0f} keys, "
                f"{row.flops / 1e9:.2f} GFLOP, scores kept on chip"
            )
        elif row.op == "myelin":
            members = (
                region_members(onnx, list(row.onnx_nodes), str(row.name).startswith("{ForeignNode"))
                if onnx is not None
                else None
            )
            cost = region_seconds(onnx, members, gpu, row.precision, factors) if members else None
            if cost and cost["gemms"] + cost["passes"]:
                seconds[i], basis[i], notes[i] = cost["seconds"], "ONNX nodes", cost["note"]
                continue
            guess = (
                attention_block_from_shapes(
                    list(row.input_shapes or []) + list(row.output_shapes or []), row.precision, gpu, factors
                )
                if _ATTENTION_NAME.search(" ".join([str(row.name), *map(str, row.onnx_nodes)]))
                else None
            )
            if guess:
                seconds[i], basis[i], notes[i] = guess["seconds"], "assumed from name and shapes", guess["note"]
            else:
                basis[i] = NOT_ESTIMATED
                notes[i] = (
                    "Myelin region: its I/O bytes say nothing of the work inside; give the ONNX model the "
                    "engine was built from (estimate_engine(..., model=...), CLI --onnx) to cost it"
                    if onnx is None
                    else "Myelin region whose ONNX nodes are not in the model given (or "
                    "have no static shapes): fix the model's input shapes (--shapes) to cost it"
                )
        elif row.op == "plugin":
            plugin = plugin_row(row.name, row.type, row.tactic)
            if plugin is None or not isinstance(row.bytes, float) or math.isnan(row.bytes):
                basis[i] = NOT_ESTIMATED
                notes[i] = (
                    "plugin not in the plugin table (data/plugins.csv)"
                    if plugin is None
                    else "plugin layer without tensor shapes"
                )
                continue
            half = row.bytes / 2  # a norm-like plugin reads and writes tensors of one size
            seconds[i], notes[i] = plugin_seconds(plugin, list(row.input_shapes or []), half, half, gpu, factors)
            basis[i] = "plugin table"
    return pd.DataFrame({"seconds": seconds, "basis": basis, "note": notes}, index=work.index)
