"""LLM views of an engine: its layers grouped per decoder block, and the attention TensorRT fused into one Myelin
region shown with the ONNX nodes it swallowed and their share of the work.

A decoder block is a name scope exporters give every node of one layer (``/model/layers.3/self_attn/...`` from
torch.onnx and optimum, ``h.3`` in GPT-2, ``blocks.3`` in ViT/Whisper). An engine layer belongs to the block most of
its ONNX origins are in. A Myelin region is the set of kernels of one Myelin graph (TensorRT-RTX and TensorRT 10 name
them ``__myl_*_myl0_3``: graph ``myl0``, kernel 3), or one ``{ForeignNode[first...last]}`` layer; which ONNX nodes it
absorbed and where attention's softmax lies come from ``estimate.regions`` (the mapping the GPU estimate uses).
Work per node comes from ``model.work`` at the shapes the engine was built for.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from ..model.work import fixed_input_copy
from .estimate.regions import onnx_work, region_members

if TYPE_CHECKING:
    from ..model import Model

_BLOCK = re.compile(r"(?:^|[/.])((?:layers|layer|h|blocks|block)[._](\d+))(?=[/._]|$)")
_MYELIN_KERNEL = re.compile(r"_(myl\d+)_\d+$")
OUTSIDE = "(outside blocks)"
BLOCK_COLUMNS = ["block", "onnx_nodes", "engine_layers", "macs", "work_share"]
ATTENTION_COLUMNS = [
    "region",
    "engine_layers",
    "block",
    "onnx_node",
    "op_type",
    "macs",
    "flops",
    "share_of_region",
    "share_of_model",
]


def decoder_block(name: str) -> str | None:
    """``layers.3`` for ``/model/layers.3/self_attn/q_proj/MatMul``; None outside any numbered block."""
    found = _BLOCK.search(name or "")
    return found.group(1).replace("_", ".") if found else None


def _block_order(block: str) -> tuple[int, int]:
    number = re.search(r"(\d+)$", block)
    return (1, 0) if block == OUTSIDE else (0, int(number.group(1)) if number else 0)


def _work_by_node(model, shapes) -> pd.DataFrame:
    work = model.stats.estimate_flops(shapes)
    return work[work["graph"] == ""].set_index("node")


def fusion_by_block(
    layers: pd.DataFrame, model: Model, shapes: Mapping[str, Sequence[int]] | None = None
) -> pd.DataFrame:
    """One row per decoder block (columns ``BLOCK_COLUMNS``), in block order, then the nodes outside any block: its
    ONNX nodes, the engine layers TensorRT made of them, its MACs and its share of the model's MACs. Empty when the
    model's node names carry no numbered blocks."""
    work = _work_by_node(model, shapes)
    node_block = {name: decoder_block(name) or OUTSIDE for name in work.index}
    if all(b == OUTSIDE for b in node_block.values()):
        return pd.DataFrame(columns=BLOCK_COLUMNS)
    nodes = pd.Series(node_block).value_counts()
    macs = work["macs"].groupby(pd.Series(node_block)).sum()
    engine: dict[str, int] = {}
    for origins in layers["onnx_nodes"]:
        blocks = [node_block.get(n) or decoder_block(n) or OUTSIDE for n in origins]
        if blocks:
            owner = max(set(blocks), key=blocks.count)
            engine[owner] = engine.get(owner, 0) + 1
    total = float(work["macs"].sum()) or 1.0
    rows = [
        (b, int(nodes.get(b, 0)), engine.get(b, 0), int(macs.get(b, 0)), float(macs.get(b, 0)) / total)
        for b in sorted(set(nodes.index) | set(engine), key=_block_order)
    ]
    return pd.DataFrame(rows, columns=BLOCK_COLUMNS)


def myelin_regions(layers: pd.DataFrame) -> dict[str, list[int]]:
    """Region name -> row positions of its engine layers: one per Myelin graph (``myl0``) and per ForeignNode."""
    regions: dict[str, list[int]] = {}
    for position, name in enumerate(layers["name"]):
        kernel = _MYELIN_KERNEL.search(str(name))
        if kernel:
            regions.setdefault(f"Myelin {kernel.group(1)}", []).append(position)
        elif str(name).startswith("{ForeignNode["):
            regions.setdefault(str(name), []).append(position)
    return regions


def fused_attention(
    layers: pd.DataFrame, model: Model, shapes: Mapping[str, Sequence[int]] | None = None
) -> pd.DataFrame:
    """Every Myelin region that swallowed an attention (QKᵀ, softmax, PV) with the ONNX nodes it absorbed, one row
    each (columns ``ATTENTION_COLUMNS``): the node's MACs and FLOPs, its share of the region's FLOPs and of the whole
    model's. Heaviest nodes first within a region. Empty when no region holds an attention softmax."""
    resolved = model.shapes.resolve(shapes)
    membership = onnx_work(fixed_input_copy(model.proto, resolved))  # static shapes: attention marked
    softmaxes = {n.name for n in membership.nodes if n.op == "attention-softmax"}
    work = _work_by_node(model, resolved)
    total = float(work["flops"].sum()) or 1.0
    op_of = {node.name: node.op_type for node in model.proto.graph.node}
    frames = []
    for region, positions in myelin_regions(layers).items():
        rows = layers.iloc[positions]
        foreign = region.startswith("{ForeignNode[")
        members: list[str] = []
        for origins in rows["onnx_nodes"]:
            for name in region_members(membership, list(origins), foreign) or []:
                if name not in members:
                    members.append(name)
        if not softmaxes & set(members):
            continue
        part = work.reindex([m for m in members if m in work.index])
        region_flops = float(part["flops"].sum()) or 1.0
        frames.append(
            pd.DataFrame(
                {
                    "region": region,
                    "engine_layers": len(positions),
                    "block": [decoder_block(n) or OUTSIDE for n in part.index],
                    "onnx_node": part.index,
                    "op_type": [op_of.get(n, "") for n in part.index],
                    "macs": part["macs"].astype(int),
                    "flops": part["flops"].astype(int),
                    "share_of_region": part["flops"] / region_flops,
                    "share_of_model": part["flops"] / total,
                }
            ).sort_values("flops", ascending=False, kind="stable")
        )
    if not frames:
        return pd.DataFrame(columns=ATTENTION_COLUMNS)
    return pd.concat(frames, ignore_index=True)[ATTENTION_COLUMNS]


def describe_fused_attention(table: pd.DataFrame) -> list[str]:
    """One line per region: "Myelin myl0 (11 engine layers) swallowed 20 ONNX nodes, 87.5 % of the model's work"."""
    lines = []
    for region, rows in table.groupby("region", sort=False):
        lines.append(
            f"{region} ({int(rows['engine_layers'].iloc[0])} engine layers) swallowed {len(rows)} ONNX "
            f"nodes with the attention, {100 * rows['share_of_model'].sum():.1f} % of the model's work"
        )
    return lines
