"""Graph figures: a GraphData (with layout) drawn as a plotly figure at a readable scale — each node a box labelled
with its op and key attributes (an engine layer: its fused ops and precision), coloured by category, precision,
stream or any node column; edges carrying tensor name, shape and dtype on hover; a minimap of the whole graph on the
right with a rectangle where the view is; highlighted nodes outlined.

The default view is the top of the graph at 1 px per layout unit: labels are ``FONT_PX`` text and never overlap
(the layout sizes boxes from the labels), instead of the whole graph squeezed into the panel. Pan by dragging, zoom
with the wheel or a trackpad pinch.

A pure-plotly rendering (research notes: an anywidget around a JS renderer was the alternative): it works unchanged
in a FigureWidget (JupyterLab, Voilà; clicks reach Python) and in a self-contained HTML file with the plotly.js that
ships inside the plotly wheel (no CDN). Boxes of one colour are one filled path and labels are SVG text, so 2,000
nodes stay a handful of traces.
"""

from __future__ import annotations

import html
from typing import Iterable, Sequence, TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ..errors import ConfigError  # noqa: F401  (re-exported: charts.graph named it first)
from ..graph import CATEGORIES, PRECISION_COLORS, GraphData, layered_layout  # noqa: F401  (re-exported)
from ..graph.data import work_text
from ..graph.layout import FONT_PX, ROW_GAP_PX
from .graph_colors import COLOR_MODES, EMPTY_LABELS, STREAM_COLORS, UNSET, node_colors  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import pandas as pd

HIGHLIGHT = "#ffbf00"
MARGIN = dict(l=8, r=8, t=36, b=40)
LABEL_LIMIT = 400  # labels drawn at once: SVG text is most of the drawing time; further out, boxes only
MAIN_FRACTION = 0.84  # of the plot width: the graph; the rest (after a gap) is the minimap
MINIMAP_START = 0.87


def _pastel(color: str, amount: float = 0.72) -> str:
    """``color`` mixed with white: a box fill dark text stays readable on."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#%02x%02x%02x" % tuple(round(c + (255 - c) * amount) for c in (r, g, b))


def box_outlines(nodes: pd.DataFrame, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outlines (x, y with NaN between boxes) of the nodes' boxes, corners cut for a rounded look."""
    if ids is not None:
        nodes = nodes.loc[list(ids)]
    x, y = nodes["x"].to_numpy(float), nodes["y"].to_numpy(float)
    w, h = nodes["width"].to_numpy(float) / 2, nodes["height"].to_numpy(float) / 2
    c = np.minimum(5.0, h / 2)
    dx = np.stack([-w + c, w - c, w, w, w - c, -w + c, -w, -w, -w + c, np.full_like(w, np.nan)], axis=1)
    dy = np.stack([h, h, h - c, -h + c, -h, -h, -h + c, h - c, h, np.full_like(h, np.nan)], axis=1)
    return (x[:, None] + dx).ravel(), (y[:, None] + dy).ravel()


def _hover(row) -> str:
    lines = [f"<b>{html.escape(str(row.name))}</b>", f"{html.escape(str(row.op))} · {row.category}"]
    if row.precision:
        lines.append(f"precision: {row.precision}")
    details = row.details or {}
    for key, value in details.items():
        if key == "attributes" and value:
            lines.append("attributes: " + html.escape(", ".join(f"{k}={v}" for k, v in list(value.items())[:8])))
        elif isinstance(value, list) and value:
            shown = value[:6] + ([f"… {len(value) - 6} more"] if len(value) > 6 else [])
            lines.append(f"{key}: " + "<br>  ".join(html.escape(str(v)) for v in shown))
        elif value not in ("", None, [], {}):
            lines.append(f"{key}: {html.escape(str(value))}")
    return "<br>".join(lines)


def _edges(graph: GraphData):
    """Edge paths (x, y) and one hover point per edge: boxes' bottom to top; an edge skipping layers runs down a
    lane beside the layers in between, so it never passes under a box."""
    nodes, edges = graph.nodes, graph.edges
    row = {node_id: k for k, node_id in enumerate(nodes["id"])}
    x, y = nodes["x"].to_numpy(float), nodes["y"].to_numpy(float)
    layer = nodes["layer"].to_numpy(int)
    half = float(nodes["height"].iloc[0]) / 2 if len(nodes) else 0.0
    depth = int(layer.max()) + 1 if len(nodes) else 0
    left = np.full(depth, np.inf)
    right = np.full(depth, -np.inf)
    np.minimum.at(left, layer, x - nodes["width"].to_numpy(float) / 2)
    np.maximum.at(right, layer, x + nodes["width"].to_numpy(float) / 2)
    ex, ey, mx, my, text = [], [], [], [], []
    for source, target, tensor, shape, dtype in zip(
        edges["source"], edges["target"], edges["tensor"], edges["shape"], edges["dtype"]
    ):
        s, t = row[source], row[target]
        x0, y0, l0 = float(x[s]), float(y[s]) - half, layer[s]
        x1, y1, l1 = float(x[t]), float(y[t]) + half, layer[t]
        if l1 - l0 > 1:
            lane_left = float(left[l0 + 1 : l1].min()) - 12
            lane_right = float(right[l0 + 1 : l1].max()) + 12
            lane = (
                lane_left
                if abs(x0 - lane_left) + abs(x1 - lane_left) <= abs(x0 - lane_right) + abs(x1 - lane_right)
                else lane_right
            )
            below, above = y0 - ROW_GAP_PX / 2, y1 + ROW_GAP_PX / 2
            ex += [x0, x0, lane, lane, x1, x1, None]
            ey += [y0, below, below, above, above, y1, None]
            mx.append(lane)
            my.append((below + above) / 2)
        else:
            ex += [x0, x1, None]
            ey += [y0, y1, None]
            mx.append((x0 + x1) / 2)
            my.append((y0 + y1) / 2)
        text.append(f"<b>{html.escape(str(tensor))}</b><br>{shape} {dtype}".strip())
    return ex, ey, mx, my, text


def _fill_traces(graph: GraphData, color_by: str) -> list[dict]:
    """One filled path per colour (the legend entries): every box of that colour."""
    colors, legend = node_colors(graph, color_by)
    colors = np.array(colors)
    traces = []
    for label, color in legend.items():
        ids = graph.nodes["id"].to_numpy()[colors == color]
        bx, by = box_outlines(graph.nodes, ids)
        traces.append(
            dict(
                type="scatter",
                x=bx,
                y=by,
                mode="lines",
                fill="toself",
                fillcolor=_pastel(color),
                line=dict(color=color, width=1.2),
                hoverinfo="skip",
                name=label,
                legendgroup=label,
                showlegend=True,
                meta="fill",
            )
        )
        colors[colors == color] = ""  # one trace per colour even if two labels share it
    return [t for t in traces if len(t["x"])]  # type: ignore[arg-type]


def highlight_outline(graph: GraphData, ids: Iterable[int]) -> dict:
    """x, y of amber outlines around ``ids`` (to update the highlight trace of a drawn figure in place)."""
    ids = [i for i in ids if i in graph.nodes.index]
    if not ids:
        return {"x": [], "y": []}
    grown = graph.nodes.loc[ids].assign(width=lambda f: f["width"] + 6, height=lambda f: f["height"] + 6)
    bx, by = box_outlines(grown)
    # lists with None between boxes: small, and the same in the browser whichever way the widget sends them
    return {
        "x": [None if v != v else round(float(v), 1) for v in bx],
        "y": [None if v != v else round(float(v), 1) for v in by],
    }


def trace_index(figure: go.Figure, role: str) -> int:
    """Index of the trace whose ``meta`` is ``role`` (nodes, highlight, tensors, minimap, edges) in a graph figure."""
    for i, trace in enumerate(figure.data):
        if trace.meta == role:
            return i
    raise KeyError(role)


def plot_size(width: int, height: int) -> tuple[float, float]:
    """Pixel width and height of the main graph area of a figure of ``width`` x ``height``."""
    return (width - MARGIN["l"] - MARGIN["r"]) * MAIN_FRACTION, height - MARGIN["t"] - MARGIN["b"]


def view_ranges(
    graph: GraphData, width: int, height: int, *, center: tuple[float, float] | None = None, scale: float = 1.0
) -> tuple[list[float], list[float]]:
    """x and y axis ranges showing the graph at ``scale`` (1: 1 px per unit, labels fit their boxes) centred on
    ``center`` (x, y), or, by default, the top of the graph."""
    pw, ph = plot_size(width, height)
    pw, ph = pw / scale, ph / scale
    nodes = graph.nodes
    if center is None:
        top = float(nodes["y"].max()) + float(nodes["height"].max()) / 2 + 16 if len(nodes) else 0.0
        shown = nodes[nodes["y"] >= top - ph]
        cx = (
            float(((shown["x"] - shown["width"] / 2).min() + (shown["x"] + shown["width"] / 2).max()) / 2)
            if len(shown)
            else 0.0
        )
        return [cx - pw / 2, cx + pw / 2], [top - ph, top]
    cx, cy = center
    return [cx - pw / 2, cx + pw / 2], [cy - ph / 2, cy + ph / 2]


def visible_labels(
    graph: GraphData, xrange: Sequence[float], yrange: Sequence[float], *, limit: int = LABEL_LIMIT
) -> dict:
    """x, y, text and node row (customdata) of the labels to draw for a view: the nodes in it and half a view
    around it, or none when more than ``limit`` (zoomed out: the boxes alone, and labels would overlap anyway)."""
    nodes = graph.nodes
    (x0, x1), (y0, y1) = sorted(xrange), sorted(yrange)
    w, h = (x1 - x0) / 2, (y1 - y0) / 2
    x, y = nodes["x"].to_numpy(float), nodes["y"].to_numpy(float)
    rows = np.flatnonzero((x >= x0 - w) & (x <= x1 + w) & (y >= y0 - h) & (y <= y1 + h))
    if len(rows) > limit:
        rows = rows[:0]
    return {
        "x": x[rows].tolist(),
        "y": y[rows].tolist(),
        "text": nodes["label"].to_numpy()[rows].tolist(),
        "customdata": rows.tolist(),
    }


def viewport_shape(xrange: Sequence[float], yrange: Sequence[float]) -> dict:
    """The minimap's rectangle for the main view's ranges."""
    return dict(
        type="rect",
        xref="x2",
        yref="y2",
        x0=xrange[0],
        x1=xrange[1],
        y0=yrange[0],
        y1=yrange[1],
        line=dict(color="#d62728", width=1.5),
        fillcolor="rgba(214,39,40,0.08)",
    )


def graph_figure(
    graph: GraphData,
    *,
    color_by: str = "category",
    highlight: Iterable[int] = (),
    title: str | None = None,
    width: int = 1000,
    height: int = 700,
) -> go.Figure:
    """The graph as a figure of ``width`` x ``height`` pixels, showing the top of the graph at a readable scale, with
    a minimap; ``highlight``: node ids to outline. Traces carry their role in ``meta`` (see ``trace_index``)."""
    if "label" not in graph.nodes:
        layered_layout(graph)
    nodes = graph.nodes
    ex, ey, mx, my, mtext = _edges(graph)
    xrange, yrange = view_ranges(graph, width, height)
    colors, _ = node_colors(graph, color_by)
    # Traces as plain dicts and a figure built without plotly.py's per-element validation, which took most of the
    # time at 2,000 nodes (tests validate the same figure on small graphs).
    xy = dict(x=nodes["x"].to_numpy(float), y=nodes["y"].to_numpy(float))
    traces = [
        dict(
            type="scatter",
            x=np.array(ex, dtype=float),
            y=np.array(ey, dtype=float),
            mode="lines",
            line=dict(color="#8a8a8a", width=1),
            hoverinfo="skip",
            showlegend=False,
            name="edges",
            meta="edges",
        ),
        *_fill_traces(graph, color_by),
        dict(
            type="scatter",
            mode="lines",
            line=dict(color=HIGHLIGHT, width=3.5),
            hoverinfo="skip",
            showlegend=False,
            name="highlight",
            meta="highlight",
            **highlight_outline(graph, highlight),
        ),
        dict(
            type="scatter",
            x=np.array(mx, dtype=float),
            y=np.array(my, dtype=float),
            mode="markers",
            marker=dict(size=9, opacity=0),
            hovertext=mtext,
            hoverinfo="text",
            showlegend=False,
            name="tensors",
            meta="tensors",
        ),
        dict(
            type="scatter",
            **xy,
            mode="markers",
            text=list(nodes["label"]),
            customdata=nodes["id"].to_numpy(),
            hovertext=[_hover(r) for r in nodes.itertuples()],
            hoverinfo="text",
            marker=dict(size=float(nodes["height"].max()) if len(nodes) else 10, opacity=0, symbol="square"),
            showlegend=False,
            name="nodes",
            meta="nodes",
        ),
        dict(
            type="scatter",
            mode="text",
            textposition="middle center",
            hoverinfo="skip",
            showlegend=False,
            textfont=dict(size=FONT_PX, color="#111111", family="Arial, sans-serif"),
            name="labels",
            meta="labels",
            **visible_labels(graph, xrange, yrange),
        ),
        dict(
            type="scatter",
            **xy,
            mode="markers",
            marker=dict(size=4, color=colors, symbol="square"),
            customdata=nodes["id"].to_numpy(),
            hovertext=list(nodes["name"]),
            hoverinfo="text",
            showlegend=False,
            name="minimap",
            meta="minimap",
            xaxis="x2",
            yaxis="y2",
        ),
    ]
    if len(nodes):
        mini_x = [
            float((nodes["x"] - nodes["width"] / 2).min()) - 20,
            float((nodes["x"] + nodes["width"] / 2).max()) + 20,
        ]
        mini_y = [float(nodes["y"].min()) - 40, float(nodes["y"].max()) + 40]
    else:
        mini_x, mini_y = [-1, 1], [-1, 1]
    layout = dict(
        title=dict(text=title or graph.title, font=dict(size=14), x=0.01),
        width=width,
        height=height,
        autosize=False,
        template="plotly_white",
        dragmode="pan",
        hovermode="closest",
        hoverdistance=40,
        margin=MARGIN,
        legend=dict(orientation="h", y=-0.01, yanchor="top", x=0, font=dict(size=11)),
        xaxis=dict(visible=False, domain=[0, MAIN_FRACTION], range=xrange),
        yaxis=dict(visible=False, range=yrange),
        xaxis2=dict(visible=False, domain=[MINIMAP_START, 1], range=mini_x, fixedrange=True),
        yaxis2=dict(visible=False, anchor="x2", range=mini_y, fixedrange=True),
        shapes=[
            viewport_shape(xrange, yrange),
            dict(
                type="rect",
                xref="x2 domain",
                yref="y2 domain",
                x0=0,
                x1=1,
                y0=0,
                y1=1,
                line=dict(color="#cccccc", width=1),
            ),
        ],
        uirevision=graph.title,
    )
    return go.Figure(data=traces, layout=layout, _validate=False)


def details_html(graph: GraphData, node_id: int, extra: str = "") -> str:
    """A node's details (name, op, category, precision, attributes, shapes, fused nodes) as HTML."""
    row = graph.nodes.loc[node_id]
    items = [f"<b>{html.escape(str(row['name']))}</b>", f"<i>{html.escape(str(row['op']))}</i> · {row['category']}"]
    if row["precision"]:
        items.append(f"precision: {row['precision']}")
    if row.get("flops", 0) > 0 and row.get("category") != "group":  # a group says its work in its details
        items.append(f"<b>work</b>: {work_text(row['macs'], row['flops'])}")
    for key, value in (row["details"] or {}).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, list):
            value = "<br>".join(html.escape(str(v)) for v in value) if value else "—"
        else:
            value = html.escape(str(value))
        if value:
            items.append(f"<b>{html.escape(key)}</b>: {value}")
    return (
        "<div style='font-size:12px;line-height:1.35;max-height:560px;overflow:auto'>"
        + "<br>".join(items)
        + extra
        + "</div>"
    )
