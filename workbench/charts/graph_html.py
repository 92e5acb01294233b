"""Static export: one self-contained interactive HTML file (plotly.js inlined from the plotly wheel, no network)
with the ONNX graph and, when given, the engine's layers side by side, synced selection, search and the fusion
table — the same view the notebook widget shows."""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from ..graph import GraphData, fusion_map, layered_layout
from .graph import NODE_TRACE, details_html, graph_figure

_SCRIPT = """
const views = %(views)s;
const maps = %(maps)s;
function style(view, ids) {
  const hi = new Set(ids), n = view.ids.length;
  const size = [], width = [], color = [];
  for (let i = 0; i < n; i++) { const on = hi.has(view.ids[i]);
    size.push(on ? 22 : 14); width.push(on ? 4 : 0.5); color.push(on ? '#ffbf00' : '#333'); }
  Plotly.restyle(view.div, {'marker.size': [size], 'marker.line.width': [width], 'marker.line.color': [color]},
                 [%(node_trace)d]);
  view.highlighted = ids;
}
function zoom(view, ids) {
  if (!ids.length) return;
  const ys = ids.map(i => view.y[view.ids.indexOf(i)]);
  const lo = Math.min(...ys), hi = Math.max(...ys), span = Math.max(16, hi - lo + 4), mid = (lo + hi) / 2;
  Plotly.relayout(view.div, {'yaxis.range': [mid - span / 2, mid + span / 2]});
}
function select(k, id) {
  const view = views[k];
  style(view, [id]);
  document.getElementById('details').innerHTML = view.details[id];
  const other = views[1 - k];
  if (other && maps) {
    const linked = (k === 0 ? maps.onnx_to_engine : maps.engine_to_onnx)[id] || [];
    style(other, linked); zoom(other, linked);
  }
}
views.forEach((view, k) => {
  view.div = document.getElementById('graph' + k);
  Plotly.newPlot(view.div, view.figure.data, view.figure.layout, {responsive: true, scrollZoom: true});
  view.div.on('plotly_click', ev => { const p = ev.points.find(p => p.curveNumber === %(node_trace)d);
                                      if (p) select(k, p.customdata); });
});
function find() {
  const q = document.getElementById('query').value.trim().toLowerCase();
  for (let k = 0; k < views.length; k++) {
    const v = views[k];
    const hit = v.ids.find(i => v.names[v.ids.indexOf(i)].toLowerCase() === q) ??
                v.ids.find(i => (v.names[v.ids.indexOf(i)] + ' ' + v.ops[v.ids.indexOf(i)]).toLowerCase().includes(q));
    if (hit !== undefined) { select(k, hit); zoom(v, [hit]);
      document.getElementById('found').textContent = 'found in ' + v.title; return; }
  }
  document.getElementById('found').textContent = 'no node matches';
}
document.getElementById('query').addEventListener('keydown', e => { if (e.key === 'Enter') find(); });
document.getElementById('find').addEventListener('click', find);
"""


def _view(graph: GraphData, color_by: str) -> dict:
    if "x" not in graph.nodes:
        layered_layout(graph)
    figure = json.loads(pio.to_json(graph_figure(graph, color_by=color_by, height=760)))
    ids = [int(i) for i in graph.nodes["id"]]
    return {"title": graph.title, "figure": figure, "ids": ids, "y": [float(v) for v in graph.nodes["y"]],
            "names": [str(n) for n in graph.nodes["name"]], "ops": [str(o) for o in graph.nodes["op"]],
            "details": {i: details_html(graph, i) for i in ids}}


def graph_html(graphs: list[GraphData], path, *, fusion=None, engine_color_by: str = "category",
               title: str = "TensorRT Workbench graph") -> Path:
    """Write ``graphs`` (one graph, or the ONNX graph and the engine graph) to one self-contained HTML file."""
    graphs = list(graphs)
    views = [_view(g, engine_color_by if g.kind == "engine" else "category") for g in graphs]
    maps = None
    if len(graphs) == 2:
        m = fusion_map(graphs[0], graphs[1])
        maps = {k: {str(i): v for i, v in d.items()} for k, d in m.items()}
    summary = ""
    if fusion is not None:
        summary = (f"<h3>{fusion.onnx_nodes} ONNX nodes → {fusion.network_layers} network layers → "
                   f"{fusion.engine_layers} engine layers</h3>" + fusion.patterns.to_html(index=False, border=0))
    panes = "".join(f"<div id='graph{k}' class='graph'></div>" for k in range(len(views)))
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:12px}} .row{{display:flex;gap:8px}} .graph{{flex:1;min-width:0}}
#details{{width:300px;font-size:12px;border-left:1px solid #ddd;padding-left:8px}}
table{{border-collapse:collapse;font-size:12px}} td,th{{padding:2px 6px;border-bottom:1px solid #eee}}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body><h2>{html.escape(title)}</h2>
<div><input id="query" placeholder="find a node by name or op" size="40"> <button id="find">Find</button>
<span id="found"></span></div>
<div class="row">{panes}<div id="details"><i>click a node for its details</i></div></div>
<div>{summary}</div>
<script type="text/javascript">{_SCRIPT % {"views": json.dumps(views), "maps": json.dumps(maps),
                                           "node_trace": NODE_TRACE}}</script>
</body></html>"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
