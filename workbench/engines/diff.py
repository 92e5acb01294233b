"""Compare two engines of the same model layer by layer (TREx's compare_engines, aligned through ONNX nodes).

TREx matched layers by a type-and-shape signature with a beam search because its files had no ONNX origins; both
TensorRT sources here name each layer's ONNX nodes, so a region is a connected group of layers of A and B that share
ONNX nodes (fusion may differ: one layer in A, three in B). Layers with no ONNX origin (reformats, inserted copies)
join the region of the next layer on their side, so "reformats added or removed" show up where they happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import EngineMismatchError
from .estimate import layer_workload

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model import Model
    from .build import BuildResult

REGION_COLUMNS = [
    "region",
    "change",
    "onnx_nodes",
    "a_layers",
    "b_layers",
    "a_precisions",
    "b_precisions",
    "a_fused_ops",
    "b_fused_ops",
    "a_tactics",
    "b_tactics",
    "a_reformats",
    "b_reformats",
    "reformats_delta",
    "a_ms",
    "b_ms",
    "delta_ms",
]
SAME_MODEL_MIN_OVERLAP = 0.5  # share of ONNX nodes (Q/DQ aside) the two engines must have in common
_SKIP = ("noop", "sync", "shape")


def _is_qdq(name: str) -> bool:
    return "QuantizeLinear" in name or "DequantizeLinear" in name


@dataclass
class EngineSide:
    """One engine to compare: its layer workload, times per layer (measured, estimated or None) and a label."""

    label: str
    layers: pd.DataFrame
    time_ms: np.ndarray | None
    time_source: str
    op_types: dict

    @classmethod
    def of(
        cls,
        source: BuildResult | PathArg | dict | list[dict],
        *,
        label: str | None = None,
        profile: PathArg | pd.DataFrame | None = None,
        model: Model | None = None,
        gpu: str | None = None,
    ) -> EngineSide:
        if model is None and hasattr(source, "model") and hasattr(source, "log"):
            model = source.model
        work = layer_workload(source, model=model)
        time_ms, time_source = None, "none"
        if profile is not None:
            from .layers import join_profile, read_profile

            time_ms = join_profile(work, read_profile(profile))["time_ms"].to_numpy(dtype=float)
            time_source = "measured"
        elif gpu is not None:
            from .estimate import estimate_engine

            time_ms = estimate_engine(work, gpu).layers["estimated_ms"].to_numpy(dtype=float)
            time_source = f"estimated ({gpu})"
        op_types = {}
        if model is not None:
            from .layers import onnx_node_index

            op_types = {name: node.op_type for name, node in onnx_node_index(model).items()}
        if label is None:
            from pathlib import Path

            model_name = getattr(getattr(source, "model", None), "name", None)
            label = model_name or (Path(source).name if isinstance(source, (str, Path)) else "engine")
        return cls(label, work, time_ms, time_source, op_types)


@dataclass
class EngineDiff:
    a: EngineSide
    b: EngineSide
    regions: pd.DataFrame  # one row per aligned region (REGION_COLUMNS)
    layer_regions: dict  # "a"/"b" -> region id per layer (-1: not in any region, e.g. sync)
    totals: pd.DataFrame  # metric, a, b, delta

    def to_dict(self) -> dict:
        regions = self.regions.replace({np.nan: None}).to_dict(orient="records")
        return {
            "a": self.a.label,
            "b": self.b.label,
            "time_source": {"a": self.a.time_source, "b": self.b.time_source},
            "totals": self.totals.replace({np.nan: None}).to_dict(orient="records"),
            "regions": regions,
        }

    def _repr_html_(self) -> str:
        return (
            f"<b>{self.a.label}</b> vs <b>{self.b.label}</b>"
            + self.totals.to_html(index=False)
            + self.regions.drop(columns=["a_tactics", "b_tactics"]).to_html(index=False)
        )


class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x, y):
        self.parent[self.find(x)] = self.find(y)


def _check_same_model(a: EngineSide, b: EngineSide) -> None:
    nodes = [{n for ns in s.layers["onnx_nodes"] for n in ns if not _is_qdq(n)} for s in (a, b)]
    if not nodes[0] or not nodes[1]:
        return  # names-only files: nothing to check against
    overlap = len(nodes[0] & nodes[1]) / min(len(nodes[0]), len(nodes[1]))
    if overlap < SAME_MODEL_MIN_OVERLAP:
        raise EngineMismatchError(
            f"engines '{a.label}' and '{b.label}' do not come from the same model: only {overlap:.0%} of their ONNX "
            f"nodes are shared (e.g. A has {sorted(nodes[0])[:3]}, B has {sorted(nodes[1])[:3]}); compare two "
            "builds of one model"
        )


def _fused_ops(side: EngineSide, nodes) -> str:
    ops = [side.op_types.get(n) or n for n in nodes if not _is_qdq(n)]  # Q/DQ fold into their neighbours
    return " + ".join(dict.fromkeys(ops))


def diff_engines(
    a: BuildResult | PathArg | dict | list[dict],
    b: BuildResult | PathArg | dict | list[dict],
    *,
    a_profile: PathArg | pd.DataFrame | None = None,
    b_profile: PathArg | pd.DataFrame | None = None,
    model: Model | None = None,
    gpu: str | None = None,
    labels: Sequence[str] | None = None,
) -> EngineDiff:
    """Align the layers of engines ``a`` and ``b`` (BuildResults or layer-information JSON) region by region.

    Times come from ``a_profile`` / ``b_profile`` when given, else from the estimate on ``gpu`` when given.
    Raises EngineMismatchError for engines of two different models.
    """
    sides = [
        EngineSide.of(src, label=(labels[i] if labels else None), profile=prof, model=model, gpu=gpu)
        for i, (src, prof) in enumerate(((a, a_profile), (b, b_profile)))
    ]
    _check_same_model(*sides)
    uf = _UnionFind()
    for key, side in zip("ab", sides):
        for i, nodes in enumerate(side.layers["onnx_nodes"]):
            for n in nodes:
                if not _is_qdq(n):
                    uf.union((key, i), ("onnx", n))
            qdq = [n for n in nodes if _is_qdq(n)]
            if qdq and len(qdq) == len(nodes):  # a standalone Q/DQ layer: keep it on its side's region graph
                uf.union((key, i), (key + "-qdq", qdq[0]))
            elif qdq:
                for n in qdq:
                    uf.union((key, i), (key + "-qdq", n))
    # layers without ONNX origin join the next (else previous) layer's region on their side
    owner = {}
    for key, side in zip("ab", sides):
        kinds = side.layers["op"].tolist()
        has_origin = [bool(ns) for ns in side.layers["onnx_nodes"]]
        for i in range(len(kinds)):
            if kinds[i] in _SKIP:
                owner[(key, i)] = None
            elif has_origin[i]:
                owner[(key, i)] = uf.find((key, i))
        for i in range(len(kinds)):
            if (key, i) in owner:
                continue
            j = next((k for k in range(i + 1, len(kinds)) if owner.get((key, k))), None)
            if j is None:
                j = next((k for k in range(i - 1, -1, -1) if owner.get((key, k))), None)
            owner[(key, i)] = owner[(key, j)] if j is not None else ("orphan", key, i)
    order, region_of_root = [], {}
    for key in "ab":
        for i in range(len(sides["ab".index(key)].layers)):
            root = owner[(key, i)]
            if root is not None and root not in region_of_root:
                region_of_root[root] = len(order)
                order.append(root)
    members = {r: {"a": [], "b": []} for r in range(len(order))}
    layer_regions = {}
    for key, side in zip("ab", sides):
        ids = []
        for i in range(len(side.layers)):
            root = owner[(key, i)]
            rid = region_of_root[root] if root is not None else -1
            ids.append(rid)
            if rid >= 0:
                members[rid][key].append(i)
        layer_regions[key] = ids
    rows = []
    for rid in range(len(order)):
        row = {"region": rid}
        nodes = []
        for key, side in zip("ab", sides):
            idx = members[rid][key]
            layers = side.layers.iloc[idx]
            compute = layers[layers["op"] != "reformat"]
            for ns in compute["onnx_nodes"]:
                nodes.extend(n for n in ns if not _is_qdq(n) and n not in nodes)
            row[f"{key}_layers"] = list(layers["name"])
            row[f"{key}_precisions"] = sorted({p for p in compute["precision"] if p})
            row[f"{key}_fused_ops"] = [_fused_ops(side, ns) for ns in compute["onnx_nodes"]]
            row[f"{key}_tactics"] = [t for t in compute["tactic"] if t]
            row[f"{key}_reformats"] = int((layers["op"] == "reformat").sum())
            row[f"{key}_ms"] = (
                float(np.nansum(side.time_ms[idx]))
                if side.time_ms is not None and idx
                else (0.0 if side.time_ms is not None else np.nan)
            )
        row["onnx_nodes"] = nodes
        row["reformats_delta"] = row["b_reformats"] - row["a_reformats"]
        row["delta_ms"] = row["b_ms"] - row["a_ms"]
        if not row["a_layers"] or not row["b_layers"]:
            row["change"] = "only in A" if row["a_layers"] else "only in B"
        else:
            changes = []
            if row["a_precisions"] != row["b_precisions"]:
                changes.append("precision")
            if len(row["a_fused_ops"]) != len(row["b_fused_ops"]) or any(  # type: ignore[arg-type]
                x.replace(" ", "") != y.replace(" ", "")
                for x, y in zip(row["a_fused_ops"], row["b_fused_ops"])  # type: ignore[call-overload]
            ):
                changes.append("fusion")
            if row["reformats_delta"]:
                changes.append("reformats")
            if not changes and row["a_tactics"] != row["b_tactics"]:
                changes.append("tactic")
            row["change"] = ", ".join(changes) or "same"
        rows.append(row)
    regions = pd.DataFrame(rows, columns=REGION_COLUMNS)
    totals = _totals(sides)
    return EngineDiff(sides[0], sides[1], regions, layer_regions, totals)


def _totals(sides) -> pd.DataFrame:
    def stats(side: EngineSide) -> dict:
        work = side.layers
        timed = side.time_ms is not None
        return {
            "layers": int((~work["op"].isin(_SKIP)).sum()),
            "reformat layers": int((work["op"] == "reformat").sum()),
            "weights (MB)": float(work["weight_bytes"].sum()) / 1e6,
            f"time (ms, {side.time_source})": float(np.nansum(side.time_ms)) if timed else np.nan,
        }

    a, b = stats(sides[0]), stats(sides[1])
    rows = []
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        metric = ka if ka == kb else ka.split(" (")[0] + " (ms)"
        rows.append({"metric": metric, "a": va, "b": vb, "delta": vb - va})
    return pd.DataFrame(rows)
