"""GraphView: one interactive graph (zoom, pan, hover, click to select, search); FusionView: the ONNX graph and the
engine side by side with synced selection — click an engine layer to see the ONNX nodes it absorbed, or an ONNX
node to see the engine layer that holds it."""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as widgets
import plotly.graph_objects as go

from ..charts.graph import (COLOR_MODES, NODE_TRACE, details_html, graph_figure, highlight_style, legend_traces,
                            node_colors)
from ..graph import GraphData, fusion_map, layered_layout
from .common import show_figure


class GraphView(widgets.VBox):
    """A drawn graph with a search box and a details pane. ``on_select(view, node_id)`` is called on selections.

    The graph is first drawn as a plain plotly figure in an Output (zoom, pan and hover work; a saved notebook shows
    it) and becomes a ``FigureWidget`` (click a node to select it) once a front end displays it. Why not always a
    FigureWidget: each one stores plotly.js (~5 MB) in a notebook's saved widget state, so a lesson executed
    headless (nbconvert, nbval: nothing is displayed) would save megabytes per graph. ``interactive``: None (that
    default), True (a FigureWidget at once) or False (stay static; the "click to select" button still upgrades).
    """

    def __init__(self, graph: GraphData, *, color_by: str = "category", height: int = 640,
                 on_select: Callable[["GraphView", int], None] | None = None, interactive: bool | None = None):
        if "x" not in graph.nodes:
            layered_layout(graph)
        self.graph = graph
        self.color_by = color_by
        self.on_select = on_select
        self.selected: int | None = None
        self.highlighted: list[int] = []
        self.figure = graph_figure(graph, color_by=color_by, height=height)
        # _view_count=0 asks the front end to count this widget's views (ipywidgets' WidgetView increments it when
        # displayed and syncs it to the kernel); a headless execution never displays it.
        self.plot = widgets.Output(_view_count=0 if interactive is None else None)
        if interactive is None:
            self.plot.observe(lambda change: self.make_interactive() if change["new"] else None, names="_view_count")
        self._redraw()
        self.interactive_button = widgets.Button(description="click to select", icon="mouse-pointer",
                                                 tooltip="make the graph clickable (a plotly FigureWidget)")
        self.interactive_button.on_click(lambda _: self.make_interactive())
        self.search = widgets.Text(placeholder="find a node by name or op", continuous_update=False,
                                   layout=widgets.Layout(width="260px"))
        self.search.observe(lambda change: self.find(change["new"]) if change["new"] else None, names="value")
        self.search_button = widgets.Button(description="Find", icon="search", layout=widgets.Layout(width="80px"))
        self.search_button.on_click(lambda _: self.find(self.search.value))
        self.search_result = widgets.Label()
        self.details = widgets.HTML("<i>click a node for its details</i>",
                                    layout=widgets.Layout(width="300px", min_width="240px"))
        counts = graph.counts
        self.header = widgets.HTML(f"<b>{html.escape(graph.title)}</b> — {counts['nodes']} nodes, "
                                   f"{counts['edges']} edges" + (f", {counts['groups']} groups"
                                                                 if counts["groups"] else ""))
        self.body = widgets.HBox([self.plot, self.details])
        super().__init__([self.header, widgets.HBox([self.search, self.search_button, self.interactive_button,
                                                     self.search_result]), self.body])
        if interactive:
            self.make_interactive()

    def make_interactive(self) -> None:
        """Replace the drawn figure with a FigureWidget that reports clicks (kept as it is when already one)."""
        if isinstance(self.figure, go.FigureWidget):
            return
        self.figure = go.FigureWidget(self.figure)
        self.figure.data[NODE_TRACE].on_click(self._clicked)
        self.body.children = (self.figure, self.details)
        self.interactive_button.disabled = True

    def _redraw(self) -> None:
        if not isinstance(self.figure, go.FigureWidget):  # a FigureWidget redraws itself
            show_figure(self.plot, self.figure, {"scrollZoom": True})

    # --- interaction ------------------------------------------------------------------------------------------
    def _clicked(self, trace, points, state) -> None:
        if points.point_inds:
            self.select(int(trace.customdata[points.point_inds[0]]))

    def select(self, node_id: int, *, notify: bool = True) -> None:
        """Select a node: outline it, show its details, and tell ``on_select``."""
        if node_id not in self.graph.nodes.index:
            raise KeyError(f"no node {node_id} in {self.graph.title}")
        self.selected = node_id
        self.set_highlight([node_id])
        self.details.value = details_html(self.graph, node_id)
        if notify and self.on_select is not None:
            self.on_select(self, node_id)

    def set_highlight(self, ids, *, zoom: bool = False) -> None:
        self.highlighted = list(ids)
        style = highlight_style(self.graph, ids)
        with self.figure.batch_update():
            trace = self.figure.data[NODE_TRACE]
            trace.marker.size = style["size"]
            trace.marker.line.width = style["line.width"]
            trace.marker.line.color = style["line.color"]
        if zoom and ids:
            self.zoom_to(ids)
        else:
            self._redraw()

    def zoom_to(self, ids, rows: int = 16) -> None:
        nodes = self.graph.nodes.loc[list(ids)]
        cy = float(nodes["y"].mean())
        span = max(rows, float(nodes["y"].max() - nodes["y"].min()) + 4)
        with self.figure.batch_update():
            self.figure.layout.yaxis.range = [cy - span / 2, cy + span / 2]
        self._redraw()

    def find(self, query: str) -> list[int]:
        hits = self.graph.find(query)
        if not hits:
            self.search_result.value = f"no node matches '{query}'"
            return []
        self.search_result.value = f"{len(hits)} match{'es' if len(hits) > 1 else ''}"
        self.select(hits[0])
        self.set_highlight(hits[:50], zoom=True)
        return hits

    def recolor(self, color_by: str) -> None:
        colors, legend = node_colors(self.graph, color_by)
        self.color_by = color_by
        self.figure.data[NODE_TRACE].marker.color = colors
        # each mode has its own legend entries: replace them
        self.figure.data = self.figure.data[:NODE_TRACE + 1]
        self.figure.add_traces(legend_traces(legend))
        self._redraw()


class FusionView(widgets.VBox):
    """The ONNX graph (left) and the engine's layers (right) with synced selection and a fusion table."""

    def __init__(self, onnx_graph: GraphData, engine_graph: GraphData, *, fusion=None, color_engine_by: str = None,
                 height: int = 640):
        self.onnx_view = GraphView(onnx_graph, height=height, on_select=self._onnx_selected)
        default = color_engine_by or ("precision" if engine_graph.nodes["precision"].isin(
            ["int8", "float8", "float16", "bfloat16"]).any() else
            "stream" if engine_graph.nodes["stream"].nunique() > 1 else "category")
        self.engine_view = GraphView(engine_graph, height=height, color_by=default, on_select=self._engine_selected)
        self.map = fusion_map(onnx_graph, engine_graph)
        self.color_by = widgets.Dropdown(options=list(COLOR_MODES), value=default, description="engine colour")
        self.color_by.observe(lambda change: self.engine_view.recolor(change["new"]), names="value")
        table = ""
        if fusion is not None:
            f = fusion
            table = (f"<b>{f.onnx_nodes} ONNX nodes → {f.network_layers} network layers → {f.engine_layers} engine "
                     f"layers</b>" + f.patterns.head(20).to_html(index=False, border=0))
        self.summary = widgets.HTML(f"<div style='font-size:12px'>{table}</div>")
        super().__init__([widgets.HBox([self.color_by]),
                          widgets.HBox([self.onnx_view, self.engine_view]), self.summary])

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
