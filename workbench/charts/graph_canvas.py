"""The graph at scale: a GraphData as the compact payload of the bundled canvas renderer (``graph_canvas.js``), for
the offline HTML export and the Jupyter widget alike.

Hierarchy first: above ``HIERARCHY_MIN_NODES`` nodes with name scopes, the view opens collapsed by name scope (each
group with its node count and ops); only the groups are laid out here, and a group's own nodes are laid out in the
browser when it is opened. Search and fusion links work on every node, collapsed or not.

The payload is columnar (one list per field, repeated strings as indexes into tables), so 50,000 nodes stay a few
megabytes of JSON: nodes' names, op/label/category/precision indexes, box widths; edges' source, target, tensor and
shape indexes; the top scene's positions.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..graph import GraphData, layered_layout
from ..graph.data import collapse_with_rows
from ..graph.layout import LINE_PX, label_widths, node_labels, scope_depth
from .graph_colors import node_colors

HIERARCHY_MIN_NODES = 600  # nodes: larger graphs open grouped by name scope (as the notebook panel does)
MAX_NAME_CHARS = 2000  # a longer node or tensor name is cut, with its length said (10,000-character names
# would make megabytes of payload)


@lru_cache(maxsize=1)
def renderer_js() -> str:
    """The bundled renderer (package data: nothing fetched, no CDN)."""
    return files(__package__).joinpath("graph_canvas.js").read_text(encoding="utf-8")


class _Table:
    """Distinct strings -> small ints (labels, ops, tensor shapes repeat across thousands of nodes)."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def __call__(self, value) -> int:
        value = str(value)
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.index)
        return found

    def indexes(self, values) -> list[int]:
        """``[self(v) for v in values]`` in one comprehension (387,000 calls at 50,000 nodes)."""
        index = self.index
        values = list(map(str, values))
        for v in dict.fromkeys(values):  # the distinct values, in first-seen order (as one setdefault per value)
            if v not in index:
                index[v] = len(index)
        return list(map(index.__getitem__, values))

    @property
    def values(self) -> list[str]:
        return list(self.index)


def _cut(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else f"{name[:MAX_NAME_CHARS]}… ({len(name)} characters)"


def _compacted(values) -> list[float | int]:
    """Coordinates to 0.1 px, written without ".0" when whole (a fifth of the payload's numbers), rounded by numpy
    at once."""
    rounded = np.round(np.asarray(values, dtype=float), 1)
    whole = rounded == np.floor(rounded)
    return [int(v) if w else v for v, w in zip(rounded.tolist(), whole.tolist())]


def _scene(graph: GraphData, ref) -> dict:
    """Positions of a laid-out graph (y downwards, rounded) and its edges by row, with ``ref`` mapping a row to the
    payload's item reference (a node index >= 0, or -(group + 1))."""
    nodes = graph.nodes
    row = {node_id: k for k, node_id in enumerate(nodes["id"].tolist())}
    return {
        "x": _compacted(nodes["x"]),
        "y": _compacted(-nodes["y"]),
        "w": _compacted(nodes["width"]),
        "ref": ref,
        "es": [row[s] for s in graph.edges["source"].tolist()],
        "et": [row[t] for t in graph.edges["target"].tolist()],
    }


def canvas_view(
    graph: GraphData, *, color_by: str = "category", hierarchy: bool | None = None, depth: int | None = None
) -> dict:
    """The payload of one pane: every node of ``graph`` and its top scene — the laid-out graph, or with
    ``hierarchy`` (default: above ``HIERARCHY_MIN_NODES`` nodes), its name-scope groups at ``depth`` (default
    ``scope_depth``) laid out, each group's nodes left to the browser."""
    nodes = graph.nodes
    n = len(nodes)
    labels = node_labels(graph) if "label" not in nodes else nodes["label"].tolist()
    colors, legend = node_colors(graph, color_by)
    palette = _Table()
    for c in legend.values():
        palette(c)
    label_table, op_table, cat_table, precision_table = _Table(), _Table(), _Table(), _Table()
    tensor_table, shape_table = _Table(), _Table()
    names = [_cut(str(v)) for v in nodes["name"].tolist()]
    two_lines = any("<br>" in label for label in labels)
    view: dict[str, Any] = {
        "title": graph.title,
        "kind": graph.kind,
        "names": names,
        "label": label_table.indexes(label.replace("<br>", "\n") for label in labels),
        "width": _compacted(label_widths(labels)),
        "op": op_table.indexes(nodes["op"].tolist()),
        "category": cat_table.indexes(nodes["category"].tolist()),
        "precision": precision_table.indexes(nodes["precision"].tolist()),
        "color": palette.indexes(colors),
        "height": LINE_PX * (2 if two_lines else 1) + 8,
        "notes": list(graph.notes),
    }
    if "fusion_reason" in nodes:
        view["extra"] = ["why no engine layer: " + r if r else "" for r in nodes["fusion_reason"].tolist()]
    row = {node_id: k for k, node_id in enumerate(nodes["id"].tolist())}
    edges = graph.edges
    # columns as lists: iterating pandas' Arrow strings costs microseconds per value
    view["edges"] = {
        "s": [row[s] for s in edges["source"].tolist()],
        "t": [row[t] for t in edges["target"].tolist()],
        "tensor": tensor_table.indexes(_cut(str(t)) for t in edges["tensor"].tolist()),
        "shape": shape_table.indexes(
            f"{s} {d}".strip() for s, d in zip(edges["shape"].tolist(), edges["dtype"].tolist())
        ),
    }
    grouped = None
    if hierarchy is None:  # a graph collapsed already (``workbench graph --collapse``) is drawn as it is
        hierarchy = n > HIERARCHY_MIN_NODES and graph.kind != "engine" and not graph.counts["groups"]
    if hierarchy:
        depth = depth or scope_depth(graph)
        grouped, members_of, row_of_kept = collapse_with_rows(graph, depth)
        if grouped.counts["groups"] == 0:
            grouped = None
    if grouped is None:
        if "x" not in nodes:
            layered_layout(graph)
        view["scene"] = _scene(graph, list(range(n)))
        view["groups"] = []
    else:
        view["groupColor"] = palette("#bcbd22")
        categories = nodes["category"].tolist()
        view["groups"], ref, group_ops = [], [], _Table()
        for gid, name, details in zip(*(grouped.nodes[c].tolist() for c in ("id", "name", "details"))):
            if gid in members_of:
                members = members_of[gid]
                ref.append(-len(view["groups"]) - 1)
                view["groups"].append(
                    {
                        "name": _cut(str(name)),
                        "count": len(members),
                        "members": members,
                        "ops": group_ops(details.get("ops", "")),  # "groupOps" index
                        "work": details.get("work") or _counted(categories, members),
                    }
                )
            else:
                ref.append(row_of_kept[gid])
        view["groupOps"] = group_ops.values
        layered_layout(grouped)
        view["scene"] = _scene(grouped, ref)
    view["palette"] = palette.values
    view["labelTable"], view["ops"] = label_table.values, op_table.values
    view["categories"], view["precisions"] = cat_table.values, precision_table.values
    view["tensors"], view["shapes"] = tensor_table.values, shape_table.values
    return view


def _counted(categories: list[str], members: list[int]) -> str:
    """A group's work when its nodes' shapes (hence FLOPs) are unknown: its node categories, counted, and said so."""
    counted = Counter(categories[m] for m in members)
    return "FLOPs unknown (shapes unknown); nodes: " + ", ".join(f"{c} ×{k}" for c, k in counted.most_common(4))
