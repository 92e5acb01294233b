"""The graph at scale (issue 21): one-pass grouping, the canvas renderer's compact payload (hierarchy first), its
offline HTML export, and bad inputs (a cycle, a node with 5,000 inputs, 10,000-character names)."""

import json
import re
import sys
from pathlib import Path

import pytest

from workbench.charts.graph_canvas import HIERARCHY_MIN_NODES, MAX_NAME_CHARS, canvas_view, renderer_js
from workbench.charts.graph_html import canvas_payload, graph_html
from workbench.engines import build_engine
from workbench.errors import ConfigError, ModelError
from workbench.graph import collapse, from_engine, from_onnx
from workbench.model import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_graph_view import (cyclic_model, long_names_model, synthetic_model,  # noqa: E402
                              wide_concat_model)


@pytest.fixture(scope="module")
def chain():
    return from_onnx(load_model(synthetic_model(500)))  # 2,000 nodes, 500 scopes of 4


def test_collapse_groups_every_scope_in_one_pass(chain):
    grouped = collapse(chain, 1)
    assert grouped.counts == {"nodes": 500, "edges": 501, "groups": 500, "inputs_outputs": 2}
    block = grouped.nodes[grouped.nodes["name"] == "block7"].iloc[0]
    assert block["members"] == ["block7/conv1", "block7/relu", "block7/conv2", "block7/add"]
    assert block["details"]["ops"] == "Conv ×2, Relu ×1, Add ×1"
    opened = collapse(chain, 1, expanded={"block7"})
    assert opened.counts["groups"] == 499 and "block7/relu" in set(opened.nodes["name"])


def test_large_graph_opens_grouped_with_counts_and_work(chain):
    view = canvas_view(chain)
    assert len(chain.nodes) > HIERARCHY_MIN_NODES
    assert len(view["names"]) == 2002 and len(view["groups"]) == 500
    assert len(view["scene"]["x"]) == 502  # the groups and the graph's input and output: all that is laid out
    group = view["groups"][3]
    assert group["name"] == "block3" and group["count"] == 4
    assert [view["names"][m] for m in group["members"]] == ["block3/conv1", "block3/relu", "block3/conv2",
                                                            "block3/add"]
    # its nodes' estimated work, summed: two 1x1 Convs over 256 outputs x 4 channels (1,024 MACs each), Relu, Add
    assert group["work"] == "4.61 kFLOPs (2.05 kMACs)"
    members = sorted(m for g in view["groups"] for m in g["members"])
    singles = [r for r in view["scene"]["ref"] if r >= 0]
    assert sorted(members + singles) == list(range(2002))  # every node is in exactly one item of the top scene
    assert sorted(-r - 1 for r in view["scene"]["ref"] if r < 0) == list(range(500))
    # every edge of the graph is kept at node level (the details pane, search, opening a group)
    assert len(view["edges"]["s"]) == len(chain.edges)
    flat = canvas_view(chain, hierarchy=False)
    assert flat["groups"] == [] and len(flat["scene"]["x"]) == 2002


def test_payload_is_compact(chain):
    text = json.dumps(canvas_payload([chain]))
    assert len(text) / len(chain.nodes) < 160  # bytes per node: 50,000 nodes stay well under 10 MB
    view = json.loads(text)["views"][0]
    assert len(view["labelTable"]) < 10 and len(view["shapes"]) < 5  # repeated strings stored once


def test_fusion_links_by_node_across_groups(tmp_path):
    built = build_engine("resnet_tiny")
    onnx_graph, engine = from_onnx(built.model), from_engine(built.layers, model=built.model)
    payload = canvas_payload([onnx_graph, engine])
    assert payload["maps"]["engine_to_onnx"]["1"] == [0, 1, 2]
    assert all(1 in payload["maps"]["onnx_to_engine"][str(i)] for i in (0, 1, 2))
    grouped = canvas_view(onnx_graph, hierarchy=True)
    assert grouped["groups"] and len(grouped["names"]) == len(onnx_graph.nodes)  # links stay by node
    already = canvas_view(collapse(onnx_graph, 1))  # collapsed already: drawn as it is, no second grouping
    assert already["groups"] == [] and len(already["names"]) == len(collapse(onnx_graph, 1).nodes)


def test_canvas_export_is_offline_and_escaped(tmp_path):
    graph = from_onnx("resnet_tiny")
    evil = "</script><script>window.pwned=1</script><!--"
    graph.nodes.loc[1, "name"] = evil
    text = graph_html([graph], tmp_path / "g.html", renderer="canvas").read_text()
    assert "mountWorkbenchGraph" in text and "Plotly" not in text
    assert not re.search(r"<script[^>]+src=", text) and "https://" not in renderer_js()
    data = text.split('<script type="application/json" id="graph-data">')[1].split("</script>")[0]
    assert "<" not in data and json.loads(data)["views"][0]["names"][1] == evil
    with pytest.raises(ConfigError, match="renderer 'svg'"):
        graph_html([graph], tmp_path / "x.html", renderer="svg")


def test_default_renderer_by_size(tmp_path, chain):
    small = graph_html([from_onnx("resnet_tiny")], tmp_path / "s.html").read_text()
    big = graph_html([chain], tmp_path / "b.html").read_text()  # 2,000 nodes: more than a few hundred
    assert "Plotly.newPlot" in small and "mountWorkbenchGraph" in big and "Plotly.newPlot" not in big
    # both renderers open a graph of more than a few hundred nodes grouped by name scope; small ones flat
    assert "const startGrouped = false;" in small
    plotly = graph_html([chain], tmp_path / "p.html", renderer="plotly").read_text()
    assert "const startGrouped = true;" in plotly and "<button id='layers'>Show every node</button>" in plotly
    flat = graph_html([chain], tmp_path / "f.html", renderer="plotly", hierarchy=False).read_text()
    assert "const startGrouped = false;" in flat and "<button id='layers'>Group layers</button>" in flat


def test_bad_inputs_are_drawn_or_refused_clearly(tmp_path):
    with pytest.raises(ModelError, match="topologically sorted"):  # a cycle in a file: refused, named
        load_model(cyclic_model())
    # a cycle in graph data (e.g. a network read some other way) is still laid out, in node order
    graph = from_onnx(load_model(synthetic_model(200)))
    graph.edges.loc[len(graph.edges)] = [int(graph.nodes["id"].iloc[-3]), int(graph.nodes["id"].iloc[0]), "back",
                                         "?", ""]
    view = canvas_view(graph)
    assert len(view["scene"]["x"]) == len(view["scene"]["ref"]) > 0
    wide = canvas_view(from_onnx(load_model(wide_concat_model(5000))))
    concat = wide["names"].index("/wide/Concat")
    assert sum(1 for t in wide["edges"]["t"] if t == concat) == 5000
    assert len(wide["scene"]["x"]) == 3  # input, the one group of 5,001 nodes, output
    named = canvas_view(from_onnx(load_model(long_names_model(10, 10_000))))
    assert max(len(n) for n in named["names"]) < MAX_NAME_CHARS + 40
    assert named["names"][0].endswith("(10012 characters)")
    assert max(len(t) for t in named["tensors"]) < MAX_NAME_CHARS + 40


def test_jupyter_widget_is_the_same_renderer_and_reports_clicks(chain):
    from workbench.widgets.graph_canvas_view import GraphCanvas

    clicks = []
    widget = GraphCanvas(chain, on_select=lambda w, view, name: clicks.append((view, name)))
    assert renderer_js() in widget._esm and "export default" in widget._esm and "https://" not in widget._esm
    assert len(widget.payload["views"][0]["groups"]) == 500  # opened grouped, as the export
    assert json.loads(widget.payload_json) == widget.payload  # sent as one buffer of JSON text
    assert "payload" not in widget.keys  # not also as a synced dict (ipywidgets would walk all of it)
    widget.selected = {"view": 0, "ref": -4}  # what the browser sends on a click on a group, then on a node
    widget.selected = {"view": 0, "ref": 5}
    assert clicks == [(0, "block3"), (0, "block1/relu")]
    sent = []
    widget.send = sent.append
    widget.find("block9/add")
    assert sent == [{"find": "block9/add"}]


def test_graph_panel_draws_a_large_model_on_the_canvas():
    from workbench.widgets.graph_canvas_view import GraphCanvas
    from workbench.widgets.graph_panel import GraphPanel

    panel = GraphPanel(load_model(synthetic_model(700)))  # 2,800 nodes
    assert isinstance(panel.view, GraphCanvas) and len(panel.view.payload["views"][0]["groups"]) == 700
    small = GraphPanel("resnet_tiny")
    assert not isinstance(small.view, GraphCanvas)  # small graphs keep the plotly view


def test_group_work_is_its_flops_or_counts_said_so(chain):
    from workbench.graph import GraphData

    grouped = collapse(chain, 1)
    block = grouped.nodes[grouped.nodes["name"] == "block3"].iloc[0]
    assert (block["macs"], block["flops"]) == (2048, 4608)  # the sum of its nodes' estimates
    from workbench.charts.graph import details_html

    assert "<b>work</b>: 2.05 kFLOPs (1.02 kMACs)" in details_html(chain, 0)  # a node's own, in its details
    unknown = GraphData(chain.kind, chain.title, chain.nodes.assign(macs=float("nan"), flops=float("nan")),
                        chain.edges)
    work = canvas_view(unknown)["groups"][3]["work"]
    assert work == "FLOPs unknown (shapes unknown); nodes: convolution/matmul ×2, activation ×1, elementwise ×1"
