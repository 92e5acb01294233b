"""GraphView: one interactive graph (zoom, pan, hover, click to select, search); FusionView: the ONNX graph and the
engine side by side with synced selection — click an engine layer to see the ONNX nodes it absorbed, or an ONNX
node to see the engine layer that holds it."""

from __future__ import annotations

import html
from typing import Callable, Iterable, TYPE_CHECKING

import ipywidgets as widgets
import plotly.graph_objects as go

from ..charts.graph import (
    COLOR_MODES,
    details_html,
    graph_figure,
    highlight_outline,
    node_colors,
    trace_index,
    view_ranges,
    viewport_shape,
    visible_labels,
)
from ..graph import GraphData, fusion_map, layered_layout
from ..graph.data import NODE_COLUMNS
from ..graph.layout import LAYOUT_COLUMNS
from .common import show_figure

if TYPE_CHECKING:
    from ..engines import FusionSummary

HELP = "drag to pan · wheel or pinch to zoom · click the minimap to jump · double-click: whole graph"


FIGURE_CONFIG = {"scrollZoom": True, "displaylogo": False}


class GraphView(widgets.VBox):
    """A drawn graph with a search box, a minimap and a details pane. ``on_select(view, node_id)`` is called on
    clicks. The view opens on the top of the graph at a readable scale (``graph_figure``).

    The graph is first drawn as a plain plotly figure in an Output (zoom, pan and hover work; a saved notebook shows
    it) and becomes a ``FigureWidget`` (clicks, labels that follow the view) once a front end displays it. Why not
    always a FigureWidget: each one stores plotly.js (~5 MB) in a notebook's saved widget state, so a lesson executed
    headless (nbconvert, nbval: nothing is displayed) would save megabytes per graph. ``interactive``: None (that
    default), True (a FigureWidget at once) or False (stay static; the "click to select" button still upgrades).
    """

    def __init__(
        self,
        graph: GraphData,
        *,
        color_by: str = "category",
        width: int = 900,
        height: int = 640,
        details_width: int = 300,
        on_select: Callable[["GraphView", int], None] | None = None,
        interactive: bool | None = None,
    ):
        if "label" not in graph.nodes:
            layered_layout(graph)
        self.graph = graph
        self.color_by = color_by
        self.on_select = on_select
        self.selected: int | None = None
        self.highlighted: list[int] = []
        self.figure = graph_figure(graph, color_by=color_by, width=width, height=height)
        # A flag, not isinstance(self.figure, go.FigureWidget): naming FigureWidget imports plotly's widget module,
        # and with it nbformat and jsonschema (seconds before the first graph shows).
        self.interactive = False
        # _view_count=0 asks the front end to count this widget's views (ipywidgets' WidgetView increments it when
        # displayed and syncs it to the kernel); a headless execution never displays it.
        self.plot = widgets.Output(_view_count=0 if interactive is None else None)
        if interactive is None:
            self.plot.observe(lambda change: self.make_interactive() if change["new"] else None, names="_view_count")
        self._redraw()
        self.interactive_button = widgets.Button(
            description="click to select",
            icon="mouse-pointer",
            tooltip="make the graph clickable (a plotly FigureWidget)",
        )
        self.interactive_button.on_click(lambda _: self.make_interactive())
        self.search = widgets.Text(
            placeholder="find a node by name or op", continuous_update=False, layout=widgets.Layout(width="260px")
        )
        self.search.observe(lambda change: self.find(change["new"]) if change["new"] else None, names="value")
        self.search_button = widgets.Button(description="Find", icon="search", layout=widgets.Layout(width="80px"))
        self.search_button.on_click(lambda _: self.find(self.search.value))
        self.search_result = widgets.Label()
        self.details = widgets.HTML(
            "<i>click a node for its details</i>", layout=widgets.Layout(width=f"{details_width}px", min_width="180px")
        )
        counts = graph.counts
        self.header = widgets.HTML(
            f"<b>{html.escape(graph.title)}</b> — {counts['nodes']} nodes, "
            f"{counts['edges']} edges"
            + (f", {counts['groups']} groups" if counts["groups"] else "")
            + f" <span style='color:#666;font-size:11px'>· {HELP}</span>"
        )
        self.body = widgets.HBox([self.plot, self.details])
        super().__init__(
            [
                self.header,
                widgets.HBox([self.search, self.search_button, self.interactive_button, self.search_result]),
                self.body,
            ]
        )
        if interactive:
            self.make_interactive()

    def make_interactive(self) -> None:
        """Replace the drawn figure with a FigureWidget that reports clicks (kept as it is when already one)."""
        if self.interactive:
            return
        # Validated here (not in graph_figure): an unvalidated FigureWidget keeps later changes to itself instead of
        # sending them to the browser.
        self.figure = go.FigureWidget(self.figure)
        self.figure._config = {**self.figure._config, **FIGURE_CONFIG}
        self.nodes_trace.on_click(self._clicked)
        self.figure.data[trace_index(self.figure, "minimap")].on_click(self._minimap_clicked)
        self.figure.layout.on_change(self._view_moved, "xaxis.range", "yaxis.range")
        self.body.children = (self.figure, self.details)
        self.interactive = True
        self.interactive_button.disabled = True

    def _redraw(self) -> None:
        if not self.interactive:  # a FigureWidget redraws itself
            show_figure(self.plot, self.figure, FIGURE_CONFIG)

    @property
    def nodes_trace(self) -> go.Scatter:
        return self.figure.data[trace_index(self.figure, "nodes")]

    # --- interaction ------------------------------------------------------------------------------------------
    def _clicked(self, trace, points, state) -> None:
        if points.point_inds:
            self.select(int(trace.customdata[points.point_inds[0]]))

    def _minimap_clicked(self, trace, points, state) -> None:
        if points.point_inds:
            self.zoom_to([int(trace.customdata[points.point_inds[0]])])

    def _view_moved(self, layout, xrange, yrange) -> None:
        if xrange is not None and yrange is not None:
            shape = viewport_shape(xrange, yrange)
            with self.figure.batch_update():
                self.figure.plotly_relayout({f"shapes[0].{k}": shape[k] for k in ("x0", "x1", "y0", "y1")})
                self.figure.data[trace_index(self.figure, "labels")].update(visible_labels(self.graph, xrange, yrange))

    def select(self, node_id: int, *, notify: bool = True) -> None:
        """Select a node: outline it, show its details, and tell ``on_select``."""
        if node_id not in self.graph.nodes.index:
            raise KeyError(f"no node {node_id} in {self.graph.title}")
        self.selected = node_id
        self.set_highlight([node_id])
        self.details.value = details_html(self.graph, node_id)
        if notify and self.on_select is not None:
            self.on_select(self, node_id)

    def set_highlight(self, ids: Iterable[int], *, zoom: bool = False) -> None:
        """Outline ``ids`` (and with ``zoom``, move the view to them)."""
        self.highlighted = list(ids)
        outline = highlight_outline(self.graph, self.highlighted)
        with self.figure.batch_update():
            trace = self.figure.data[trace_index(self.figure, "highlight")]
            trace.x, trace.y = outline["x"], outline["y"]
        if zoom and ids:
            self.zoom_to(ids)
        else:
            self._redraw()

    def zoom_to(self, ids: Iterable[int], *, readable: bool = False) -> None:
        """Centre the view on ``ids`` at the current zoom, or with ``readable`` at the default readable scale
        (zoomed out as far as needed to show them all)."""
        nodes = self.graph.nodes.loc[list(ids)]
        xr, yr = list(self.figure.layout.xaxis.range), list(self.figure.layout.yaxis.range)
        if readable:
            (x0, x1), (y0, y1) = view_ranges(
                self.graph, self.figure.layout.width, self.figure.layout.height, center=(0.0, 0.0)
            )
            xr, yr = [x0, x1], [y0, y1]
        width, height = xr[1] - xr[0], yr[1] - yr[0]
        needed = float(nodes["y"].max() - nodes["y"].min()) + 140
        if needed > height:
            width, height = width * needed / height, needed
        cx, cy = float(nodes["x"].mean()), float(nodes["y"].mean())
        with self.figure.batch_update():
            self.figure.layout.xaxis.range = [cx - width / 2, cx + width / 2]
            self.figure.layout.yaxis.range = [cy - height / 2, cy + height / 2]
        self._view_moved(None, self.figure.layout.xaxis.range, self.figure.layout.yaxis.range)
        self._redraw()

    def find(self, query: str) -> list[int]:
        hits = self.graph.find(query)
        if not hits:
            self.search_result.value = f"no node matches '{query}'"
            return []
        self.search_result.value = f"{len(hits)} match{'es' if len(hits) > 1 else ''}"
        self.select(hits[0])
        self.zoom_to(hits[:1], readable=True)
        return hits

    def recolor(self, color_by: str) -> None:
        """Colour the boxes by ``color_by`` (category, precision, stream or a node column, see ``node_colors``)."""
        colors, _ = node_colors(self.graph, color_by)
        redrawn = graph_figure(self.graph, color_by=color_by)
        fills = [t for t in redrawn.data if t.meta == "fill"]
        kept = [t for t in self.figure.data if not t.meta == "fill"]
        with self.figure.batch_update():
            self.figure.data = kept
            self.figure.add_traces(fills)
            # the boxes under the labels and the outlines: edges, fills, highlight, tensors, nodes, labels, minimap
            order = {"edges": 0, "highlight": 2, "tensors": 3, "nodes": 4, "labels": 5, "minimap": 6}
            self.figure.data = sorted(self.figure.data, key=lambda t: order.get(t.meta, 1))
            self.figure.data[trace_index(self.figure, "minimap")].marker.color = colors
        self._redraw()
        self.color_by = color_by


class FusionView(widgets.VBox):
    """The ONNX graph (left) and the engine's layers (right) with synced selection and a fusion table."""

    def __init__(
        self,
        onnx_graph: GraphData,
        engine_graph: GraphData,
        *,
        fusion: FusionSummary | None = None,
        color_engine_by: str = None,
        color_onnx_by: str = "category",
        width: int = 540,
        height: int = 640,
    ):
        self.onnx_view = GraphView(
            onnx_graph,
            width=width,
            height=height,
            color_by=color_onnx_by,
            details_width=220,
            on_select=self._onnx_selected,
        )
        default = color_engine_by or (
            "precision"
            if engine_graph.nodes["precision"].isin(["int8", "float8", "float16", "bfloat16"]).any()
            else "stream"
            if engine_graph.nodes["stream"].nunique() > 1
            else "category"
        )
        self.engine_view = GraphView(
            engine_graph,
            width=width,
            height=height,
            color_by=default,
            details_width=220,
            on_select=self._engine_selected,
        )
        self.map = fusion_map(onnx_graph, engine_graph)
        self.color_by = widgets.Dropdown(options=list(COLOR_MODES), value=default, description="engine colour")
        self.color_by.observe(lambda change: self.engine_view.recolor(change["new"]), names="value")
        # ONNX nodes can also be coloured by any extra column of the graph data (e.g. why a node has no engine layer)
        extra = [c for c in onnx_graph.nodes.columns if c not in NODE_COLUMNS + LAYOUT_COLUMNS]
        self.onnx_color_by = widgets.Dropdown(
            options=["category", *extra], value=color_onnx_by, description="ONNX colour"
        )
        self.onnx_color_by.observe(lambda change: self.onnx_view.recolor(change["new"]), names="value")
        table = ""
        if fusion is not None:
            f = fusion
            table = (
                f"<b>{f.onnx_nodes} ONNX nodes → {f.network_layers} network layers → {f.engine_layers} engine "
                f"layers</b>" + f.patterns.head(20).to_html(index=False, border=0)
            )
        self.summary = widgets.HTML(f"<div style='font-size:12px'>{table}</div>")
        super().__init__(
            [
                widgets.HBox([self.onnx_color_by, self.color_by]),
                widgets.HBox([self.onnx_view, self.engine_view]),
                self.summary,
            ]
        )

    def _engine_selected(self, view, node_id: int) -> None:
        onnx_ids = self.map["engine_to_onnx"].get(node_id, [])
        self.onnx_view.set_highlight(onnx_ids, zoom=True)
        names = ", ".join(str(self.onnx_view.graph.nodes.loc[i, "name"]) for i in onnx_ids) or "none (inserted)"
        view.details.value = details_html(view.graph, node_id, f"<br><b>absorbed ONNX nodes</b>: {html.escape(names)}")

    def _onnx_selected(self, view, node_id: int) -> None:
        engine_ids = self.map["onnx_to_engine"].get(node_id, [])
        self.engine_view.set_highlight(engine_ids, zoom=True)
        names = ", ".join(str(self.engine_view.graph.nodes.loc[i, "name"]) for i in engine_ids) or "none"
        view.details.value = details_html(view.graph, node_id, f"<br><b>engine layer</b>: {html.escape(names)}")
