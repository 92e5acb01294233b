"""Static export: one self-contained interactive HTML file (plotly.js inlined from the plotly wheel, no network)
with the ONNX graph and, when given, the engine's layers side by side, synced selection, search and the fusion
table — the same view the notebook widget shows. Above ``HIERARCHY_MIN_NODES`` nodes the file is drawn by the
bundled canvas renderer instead (``canvas_html``: grouped by name scope, the same JS as the ``GraphCanvas`` widget)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..files import atomic_write_text
from ..graph import GraphData, collapse, fusion_map, layered_layout
from ..graph.layout import scope_depth

if TYPE_CHECKING:
    from ..engines import FusionSummary
    from ..files import PathArg

HEIGHT = 760  # px of each graph pane
# Above this many nodes the notebook's Graph panel draws with the canvas renderer (below it, its plotly view opens
# grouped by name scope above HIERARCHY_MIN_NODES). The export switches to the canvas at HIERARCHY_MIN_NODES: at
# 2,000 nodes its plotly page is 8 MiB and takes 5-11 s to write, the canvas page 0.24 MiB and 1-3 s, and plotly's SVG
# repaints every node on each pan (2.0-2.5 s per scroll at 2,000 nodes, 7.7 s at 10,000, headless Chromium).
CANVAS_MIN_NODES = 2500

_SCRIPT = """
const views = %(views)s;
const maps = %(maps)s;
const grouped = %(grouped)s;  // the first pane grouped by name scope, Model Explorer's "layers" (null: none to group)
const groupedMaps = %(grouped_maps)s;
const startGrouped = %(start_grouped)s;  // above a few hundred nodes the page opens grouped, as the canvas view does
const everyNode = Object.assign({}, views[0]);
let linkMaps = maps;
if (startGrouped) { Object.assign(views[0], grouped); linkMaps = groupedMaps; }
const traceOf = (gd, uid) => gd.data.findIndex(t => t.meta === uid);
function outline(view, ids) {
  const xs = [], ys = [];
  for (const id of ids) { const o = view.outlines[id]; if (o) { xs.push(...o[0], null); ys.push(...o[1], null); } }
  Plotly.restyle(view.div, {x: [xs], y: [ys]}, [traceOf(view.div, 'highlight')]);
  view.highlighted = ids;
}
function centreOn(view, ids, readable) {  // move the view to the nodes: at the readable scale, or the current one
  if (!ids.length) return;
  const k = ids.map(i => view.ids.indexOf(i)).filter(k => k >= 0);
  const cx = k.reduce((s, i) => s + view.x[i], 0) / k.length, cy = k.reduce((s, i) => s + view.y[i], 0) / k.length;
  const xa = view.div._fullLayout.xaxis, ya = view.div._fullLayout.yaxis;
  const spread = Math.max(...k.map(i => view.y[i])) - Math.min(...k.map(i => view.y[i])) + 140;
  const w = readable ? xa._length : xa.range[1] - xa.range[0];
  const h = Math.max(readable ? ya._length : ya.range[1] - ya.range[0], spread), s = h / (readable ? ya._length : h);
  Plotly.relayout(view.div, {'xaxis.range': [cx - w * s / 2, cx + w * s / 2], 'yaxis.range': [cy - h / 2, cy + h / 2]});
}
function select(k, id) {
  const view = views[k];
  outline(view, [id]);
  document.getElementById('details').innerHTML = view.details[id];
  const other = views[1 - k];
  if (other && linkMaps) {
    const linked = (k === 0 ? linkMaps.onnx_to_engine : linkMaps.engine_to_onnx)[id] || [];
    outline(other, linked); centreOn(other, linked);
  }
}
function oneToOne(view, layout) {  // the layout is in pixels: show it at 1 px per unit in this pane, from the top
  const m = layout.margin, d = layout.xaxis.domain;
  const pw = (view.div.clientWidth - m.l - m.r) * (d[1] - d[0]), ph = layout.height - m.t - m.b;
  const xr = layout.xaxis.range, cx = (xr[0] + xr[1]) / 2, top = layout.yaxis.range[1];
  const x = [cx - pw / 2, cx + pw / 2], y = [top - ph, top];
  layout.xaxis = Object.assign({}, layout.xaxis, {range: x});
  layout.yaxis = Object.assign({}, layout.yaxis, {range: y});
  layout.shapes = layout.shapes.map((s, i) => i ? s : Object.assign({}, s, {x0: x[0], x1: x[1], y0: y[0], y1: y[1]}));
}
function labelsFor(view, xr, yr) {  // as visible_labels in Python: the view and half a view around it, at most a limit
  const x0 = Math.min(...xr), x1 = Math.max(...xr), y0 = Math.min(...yr), y1 = Math.max(...yr);
  const w = (x1 - x0) / 2, h = (y1 - y0) / 2, rows = [];
  for (let i = 0; i < view.x.length; i++)
    if (view.x[i] >= x0 - w && view.x[i] <= x1 + w && view.y[i] >= y0 - h && view.y[i] <= y1 + h) rows.push(i);
  const shown = rows.length > %(label_limit)d ? [] : rows;
  return {x: [shown.map(i => view.x[i])], y: [shown.map(i => view.y[i])], text: [shown.map(i => view.labels[i])],
          customdata: [shown]};
}
function trackViewport(view) {  // the minimap's rectangle and the drawn labels follow the main view
  view.div.on('plotly_relayout', ev => {
    if (!Object.keys(ev).some(key => key.startsWith('xaxis.') || key.startsWith('yaxis.'))) return;
    const xr = view.div._fullLayout.xaxis.range, yr = view.div._fullLayout.yaxis.range;
    Plotly.update(view.div, labelsFor(view, xr, yr),  // one redraw for both
                  {'shapes[0].x0': xr[0], 'shapes[0].x1': xr[1], 'shapes[0].y0': yr[0], 'shapes[0].y1': yr[1]},
                  [traceOf(view.div, 'labels')]);
  });
}
function scrollPans(view) {
  // As in Model Explorer: scrolling (a mouse wheel, two fingers on a trackpad) pans; Ctrl+scroll or a pinch
  // (which browsers send as a wheel event with ctrlKey) zooms, handled by plotly.
  let dx = 0, dy = 0, pending = false;
  view.div.addEventListener('wheel', e => {
    if (e.ctrlKey || e.metaKey) return;
    e.preventDefault(); e.stopPropagation();
    dx += e.shiftKey && !e.deltaX ? e.deltaY : e.deltaX; dy += e.shiftKey && !e.deltaX ? 0 : e.deltaY;
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      const xa = view.div._fullLayout.xaxis, ya = view.div._fullLayout.yaxis;
      const sx = (xa.range[1] - xa.range[0]) / xa._length, sy = (ya.range[1] - ya.range[0]) / ya._length;
      Plotly.relayout(view.div, {'xaxis.range': [xa.range[0] + dx * sx, xa.range[1] + dx * sx],
                                 'yaxis.range': [ya.range[0] - dy * sy, ya.range[1] - dy * sy]});
      dx = dy = 0; pending = false;
    });
  }, {capture: true, passive: false});
}
views.forEach((view, k) => {
  view.div = document.getElementById('graph' + k);
  scrollPans(view);
  const layout = Object.assign({}, view.figure.layout, {width: undefined, autosize: true});
  oneToOne(view, layout);  // before drawing: one drawing, not two
  Plotly.newPlot(view.div, view.figure.data, layout, {responsive: true, scrollZoom: true, displaylogo: false});
  trackViewport(view);
  view.div.on('plotly_click', ev => {
    const node = ev.points.find(p => p.data.meta === 'nodes'), mini = ev.points.find(p => p.data.meta === 'minimap');
    if (node) select(k, node.customdata);
    else if (mini) centreOn(view, [mini.customdata]);
  });
});
function find() {
  const q = document.getElementById('query').value.trim().toLowerCase();
  for (let k = 0; k < views.length; k++) {
    const v = views[k];
    const hit = v.ids.find(i => v.names[v.ids.indexOf(i)].toLowerCase() === q) ??
                v.ids.find(i => (v.names[v.ids.indexOf(i)] + ' ' + v.ops[v.ids.indexOf(i)]).toLowerCase().includes(q));
    if (hit !== undefined) { select(k, hit); centreOn(v, [hit], true);
      document.getElementById('found').textContent = 'found in ' + v.title; return; }
  }
  document.getElementById('found').textContent = 'no node matches';
}
function showLayers(on) {  // one click: the first pane grouped by name scope, or every node again
  const view = views[0];
  Object.assign(view, on ? grouped : everyNode, {div: view.div, highlighted: []});
  linkMaps = on ? groupedMaps : maps;
  const layout = Object.assign({}, view.figure.layout, {width: undefined, autosize: true});
  oneToOne(view, layout);
  Plotly.react(view.div, view.figure.data, layout, {responsive: true, scrollZoom: true, displaylogo: false});
  views.forEach(v => outline(v, []));
  document.getElementById('layers').textContent = on ? 'Show every node' : 'Group layers';
}
if (grouped) { let on = startGrouped; document.getElementById('layers').addEventListener('click', () => showLayers(on = !on)); }
document.getElementById('query').addEventListener('keydown', e => { if (e.key === 'Enter') find(); });
document.getElementById('find').addEventListener('click', find);
"""


def script_json(value: object) -> str:
    """``value`` as JSON safe inside an HTML ``<script>``: ``</script>`` or ``<!--`` in a node name cannot end or
    comment out the script, because every ``<``, ``>`` and ``&`` is written as a JSON escape (the same JSON);
    U+2028/U+2029 are escaped too (line terminators in older JavaScript)."""
    text = json.dumps(value)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _view(graph: GraphData, color_by: str) -> dict:
    import numpy as np
    import plotly.io as pio

    from .graph import box_outlines, details_html, graph_figure

    if "label" not in graph.nodes:
        layered_layout(graph)
    figure = json.loads(pio.to_json(graph_figure(graph, color_by=color_by, height=HEIGHT)))
    ids = [int(i) for i in graph.nodes["id"]]
    grown = graph.nodes.assign(width=graph.nodes["width"] + 6, height=graph.nodes["height"] + 6)
    bx, by = (np.round(a.reshape(len(ids), -1)[:, :-1], 1).tolist() for a in box_outlines(grown))
    return {
        "title": graph.title,
        "figure": figure,
        "ids": ids,
        "x": [float(v) for v in graph.nodes["x"]],
        "labels": [str(v) for v in graph.nodes["label"]],
        "y": [float(v) for v in graph.nodes["y"]],
        "outlines": {i: [x, y] for i, x, y in zip(ids, bx, by)},
        "names": [str(n) for n in graph.nodes["name"]],
        "ops": [str(o) for o in graph.nodes["op"]],
        "details": {i: details_html(graph, i) for i in ids},
    }


def _link_maps(onnx_graph: GraphData, engine_graph: GraphData) -> dict:
    return {k: {str(i): v for i, v in d.items()} for k, d in fusion_map(onnx_graph, engine_graph).items()}


def _grouped(graph: GraphData) -> GraphData | None:
    """The graph grouped by name scope for the one-click "Group layers" button, or None when it is grouped already
    or its names have no scopes to group by."""
    if graph.kind == "engine" or graph.counts["groups"]:
        return None
    grouped = collapse(graph, scope_depth(graph))
    return grouped if grouped.counts["nodes"] < graph.counts["nodes"] else None


def graph_html(
    graphs: list[GraphData],
    path: PathArg,
    *,
    fusion: FusionSummary | None = None,
    engine_color_by: str = "category",
    title: str = "TensorRT Workbench graph",
    renderer: str | None = None,
    hierarchy: bool | None = None,
) -> Path:
    """Write ``graphs`` (one graph, or the ONNX graph and the engine graph) to one self-contained HTML file
    (atomically: an interrupted export leaves the previous file). ``renderer``: "plotly", "canvas" (the bundled
    canvas renderer, hierarchy first) or, by default, the canvas above ``HIERARCHY_MIN_NODES`` nodes. Both open the
    ONNX graph grouped by name scope above ``HIERARCHY_MIN_NODES`` nodes (``hierarchy``: True or False to choose),
    with a button (plotly) or a double-click (canvas) to see a group's nodes."""
    from .graph_canvas import HIERARCHY_MIN_NODES

    graphs = list(graphs)
    if renderer is None:
        renderer = "canvas" if max(len(g.nodes) for g in graphs) > HIERARCHY_MIN_NODES else "plotly"
    if renderer not in ("plotly", "canvas"):
        raise ConfigError(f"renderer '{renderer}' is unknown (choose plotly or canvas)")
    if renderer == "canvas":
        return canvas_html(
            graphs, path, fusion=fusion, engine_color_by=engine_color_by, title=title, hierarchy=hierarchy
        )
    # plotly only here: the canvas export above does without it
    from plotly.offline import get_plotlyjs

    from .graph import LABEL_LIMIT

    views = [_view(g, engine_color_by if g.kind == "engine" else "category") for g in graphs]
    maps = _link_maps(graphs[0], graphs[1]) if len(graphs) == 2 else None
    grouped = _grouped(graphs[0])
    grouped_view = _view(grouped, "category") if grouped is not None else None
    grouped_maps = _link_maps(grouped, graphs[1]) if grouped is not None and len(graphs) == 2 else None
    summary = ""
    if fusion is not None:
        summary = (
            f"<h3>{fusion.onnx_nodes} ONNX nodes → {fusion.network_layers} network layers → "
            f"{fusion.engine_layers} engine layers</h3>" + fusion.patterns.to_html(index=False, border=0)
        )
    if hierarchy is None:
        hierarchy = len(graphs[0].nodes) > HIERARCHY_MIN_NODES
    start_grouped = grouped is not None and hierarchy
    layers_button = (
        f" <button id='layers'>{'Show every node' if start_grouped else 'Group layers'}</button>"
        if grouped is not None
        else ""
    )
    panes = "".join(f"<div id='graph{k}' class='graph'></div>" for k in range(len(views)))
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:12px}} .row{{display:flex;gap:8px}} .graph{{flex:1;min-width:0;height:{
        HEIGHT
    }px}}
#details{{width:300px;font-size:12px;border-left:1px solid #ddd;padding-left:8px}}
table{{border-collapse:collapse;font-size:12px}} td,th{{padding:2px 6px;border-bottom:1px solid #eee}}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body><h2>{html.escape(title)}</h2>
<div><input id="query" placeholder="find a node by name or op" size="40"> <button id="find">Find</button>
<span id="found"></span>{
        layers_button
    } <span style="color:#666;font-size:12px">drag or scroll to pan · Ctrl+scroll or pinch to
zoom · click the minimap (right) to jump · double-click to see the whole graph</span></div>
<div class="row">{panes}<div id="details"><i>click a node for its details</i></div></div>
<div>{summary}</div>
<script type="text/javascript">{
        _SCRIPT
        % {
            "views": script_json(views),
            "maps": script_json(maps),
            "grouped": script_json(grouped_view),
            "grouped_maps": script_json(grouped_maps),
            "label_limit": LABEL_LIMIT,
            "start_grouped": script_json(start_grouped),
        }
    }</script>
</body></html>"""
    return atomic_write_text(path, page)


def _summary_html(fusion) -> str:
    if fusion is None:
        return ""
    return (
        f"<h3>{fusion.onnx_nodes} ONNX nodes → {fusion.network_layers} network layers → "
        f"{fusion.engine_layers} engine layers</h3>" + fusion.patterns.to_html(index=False, border=0)
    )


def canvas_payload(
    graphs: list[GraphData], *, engine_color_by: str = "category", hierarchy: bool | None = None
) -> dict:
    """What the canvas renderer draws: one view per graph and, for two, the fusion links by node row.
    ``hierarchy``: group the ONNX view by name scope (default: above ``HIERARCHY_MIN_NODES``)."""
    from .graph_canvas import canvas_view

    graphs = list(graphs)
    views = [
        canvas_view(
            g,
            color_by=engine_color_by
            if g.kind == "engine"
            else ("fusion_reason_kind" if "fusion_reason_kind" in g.nodes else "category"),
            hierarchy=False if g.kind == "engine" else hierarchy,
        )
        for g in graphs
    ]
    maps = None
    if len(graphs) == 2:
        rows = [{node_id: k for k, node_id in enumerate(g.nodes["id"])} for g in graphs]
        found = fusion_map(graphs[0], graphs[1])
        maps = {
            "onnx_to_engine": {str(rows[0][i]): [rows[1][j] for j in v] for i, v in found["onnx_to_engine"].items()},
            "engine_to_onnx": {str(rows[1][i]): [rows[0][j] for j in v] for i, v in found["engine_to_onnx"].items()},
        }
    return {"views": views, "maps": maps, "height": HEIGHT}


def canvas_html(
    graphs: list[GraphData],
    path: PathArg,
    *,
    fusion: FusionSummary | None = None,
    engine_color_by: str = "category",
    title: str = "TensorRT Workbench graph",
    hierarchy: bool | None = None,
) -> Path:
    """The export drawn by the bundled canvas renderer (``graph_canvas.js``, inlined): for graphs of thousands to
    tens of thousands of nodes, opened grouped by name scope."""
    from .graph_canvas import renderer_js

    payload = canvas_payload(graphs, engine_color_by=engine_color_by, hierarchy=hierarchy)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:12px}} .wb-crumbs{{font-size:12px;min-height:22px}}
table{{border-collapse:collapse;font-size:12px}} td,th{{padding:2px 6px;border-bottom:1px solid #eee}}</style>
<script type="text/javascript">{renderer_js()}</script></head>
<body><h2>{html.escape(title)}</h2>
<div id="graph"></div>
<div>{_summary_html(fusion)}</div>
<script type="application/json" id="graph-data">{script_json(payload)}</script>
<script type="text/javascript">
mountWorkbenchGraph(document.getElementById('graph'), JSON.parse(document.getElementById('graph-data').textContent));
</script>
</body></html>"""
    return atomic_write_text(path, page)
