"""Node colours of the graph views (plotly and canvas alike), in a module without plotly: the canvas export reads it
without importing plotly's figure modules."""

from __future__ import annotations

from ..errors import ConfigError
from ..graph import CATEGORIES, PRECISION_COLORS, GraphData

STREAM_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
COLOR_MODES = ("category", "precision", "stream")
UNSET = "#c7c7c7"


# What an empty value of a colouring column means (fusion_reason_kind: only unmapped nodes have a reason).
EMPTY_LABELS = {"fusion_reason_kind": "in an engine layer"}


def node_colors(graph: GraphData, color_by: str) -> tuple[list[str], dict[str, str]]:
    """Per-node colours and the legend (label -> colour) for ``color_by``: category, precision, stream, or the name
    of any other node column (e.g. a ``reason`` column on unmapped nodes), coloured by its distinct values."""
    nodes = graph.nodes
    if color_by not in COLOR_MODES and color_by not in nodes.columns:
        raise ConfigError(f"color_by '{color_by}' is unknown (choose {', '.join(COLOR_MODES)} or a node column)")
    io = nodes["category"] == "input/output"
    if color_by == "category":
        keys = list(nodes["category"])
        palette = CATEGORIES
    elif color_by == "precision":
        keys = ["input/output" if i else p for p, i in zip(nodes["precision"], io)]
        palette = {**PRECISION_COLORS, "input/output": CATEGORIES["input/output"]}
    elif color_by == "stream":
        keys = ["input/output" if i else f"stream {s}" for s, i in zip(nodes["stream"], io)]
        palette = {f"stream {i}": c for i, c in enumerate(STREAM_COLORS)}
        palette["input/output"] = CATEGORIES["input/output"]
    else:
        keys = ["input/output" if i else ("" if v is None or v != v else str(v)) for v, i in zip(nodes[color_by], io)]
        values = [k for k in dict.fromkeys(keys) if k and k != "input/output"]
        palette = {v: STREAM_COLORS[i % len(STREAM_COLORS)] for i, v in enumerate(values)}
        palette["input/output"] = CATEGORIES["input/output"]
    keys = [k or EMPTY_LABELS.get(color_by, "not set") for k in keys]
    colors = [palette.get(k, UNSET) for k in keys]
    legend = {k: palette.get(k, UNSET) for k in dict.fromkeys(keys) if k}
    return colors, legend
