"""Graph data, layout, collapsing, the fusion map, figures and the static HTML export."""

import json
import re
import sys
from pathlib import Path

import pytest

from workbench.charts.graph import graph_figure, node_colors, trace_index
from workbench.charts.graph_html import graph_html
from workbench.engines import build_engine
from workbench.errors import ConfigError
from workbench.graph import (category, collapse, from_engine, from_network, from_onnx, fusion_map, layered_layout,
                             scope_of)
from workbench.model import load_model


@pytest.fixture(scope="module")
def built():
    return build_engine("resnet_tiny")


def test_onnx_graph_nodes_edges_shapes_and_layout():
    model = load_model("resnet_tiny")
    g = layered_layout(from_onnx(model, {"input": (4, 3, 32, 32)}))
    # stem 3 + basic block 8 + downsampling block 10 + head 3 + output 1 (counted by hand)
    assert g.counts == {"nodes": 22, "edges": 25, "groups": 0, "inputs_outputs": 2}
    conv = g.nodes[g.nodes.name == "stem/conv"].iloc[0]
    assert conv.op == "Conv" and conv.category == "convolution/matmul"
    assert conv.details["attributes"]["kernel_shape"] == "[3, 3]"
    edge = g.edges[g.edges.tensor == "stem/conv_out"].iloc[0]
    assert edge["shape"] == "[4, 16, 32, 32]" and edge["dtype"] == "float32"
    # top to bottom: every edge goes down at least one layer
    y = g.nodes["y"]
    assert all(y[s] > y[t] for s, t in zip(g.edges.source, g.edges.target))
    assert g.find("stem/bn") == [int(g.nodes.index[g.nodes.name == "stem/bn"][0])]
    assert len(g.find("relu")) == 5 and g.find("nothing-like-this") == []


def test_categories():
    assert category("Conv") == category("correlation") == "convolution/matmul"
    assert category("QuantizeLinear") == "quantize/dequantize"
    assert category("Reshape") == "data movement" and category("GlobalAveragePool") == "pooling/reduction"
    assert category("anything", kind="sync") == "reformat/sync"
    assert category("LayerNormalization") == "normalization" and category("Gelu") == "activation"


def test_engine_and_network_graphs_and_the_fusion_map(built):
    onnx_graph = from_onnx(built.model)
    engine = from_engine(built.layers, model=built.model)
    network = from_network(built.network)
    assert engine.counts["nodes"] == len(built.layers)
    assert network.counts["nodes"] == len(built.network)
    # layers are connected through their tensors: one connected chain from input to output
    assert engine.counts["edges"] >= engine.counts["nodes"]
    fused = engine.nodes[engine.nodes.op == "Conv+BatchNormalization+Relu"]
    assert len(fused) == 3 and (fused.category == "convolution/matmul").all()
    m = fusion_map(onnx_graph, engine)
    first = int(fused.index[0])
    assert [onnx_graph.nodes.loc[i, "name"] for i in m["engine_to_onnx"][first]] == ["stem/conv", "stem/bn",
                                                                                    "stem/relu"]
    bn = int(onnx_graph.nodes.index[onnx_graph.nodes.name == "stem/bn"][0])
    assert m["onnx_to_engine"][bn] == [first]
    every_onnx = {i for ids in m["engine_to_onnx"].values() for i in ids}
    unmapped = {u["name"] for u in built.fusion.to_dict()["unmapped_onnx_nodes"]}  # e.g. a folded-away Flatten
    names = onnx_graph.nodes.set_index("id")["name"]
    assert {names[i] for i in every_onnx} | unmapped == set(n.name for n in built.model.nodes)
    assert not {names[i] for i in every_onnx} & unmapped


def test_collapse_by_scope_keeps_members_and_merges_edges():
    g = from_onnx("resnet50")
    assert scope_of("/layer1/layer1.0/conv1/Conv", 2) == "layer1/0" == scope_of("layer1.0.a/conv", 2)
    grouped = collapse(g, 2)
    assert grouped.counts["nodes"] < 30 and grouped.counts["groups"] == 16
    block = grouped.nodes[grouped.nodes.name == "layer1/0"].iloc[0]
    # a bottleneck block: conv-bn-relu x2, conv-bn, downsample conv-bn, add, relu
    assert block.category == "group" and len(block.members) == 12
    assert not grouped.edges.duplicated(["source", "target"]).any()
    expanded = collapse(g, 2, expanded={"layer1/0"})
    assert expanded.counts["nodes"] == grouped.counts["nodes"] - 1 + 12


def test_figure_colours_highlight_and_modes(built):
    import plotly.graph_objects as go

    engine = layered_layout(from_engine(built.layers, model=built.model))
    fig = graph_figure(engine, color_by="precision", highlight=[1])
    go.Figure(fig.to_dict())  # plotly's validation accepts the figure (built unvalidated for speed)
    nodes = fig.data[trace_index(fig, "nodes")]
    assert list(nodes.customdata) == list(engine.nodes.id)
    # an engine layer's label: its fused ops and its precision
    fused = engine.nodes.index[engine.nodes.op == "Conv+BatchNormalization+Relu"][0]
    assert nodes.text[list(nodes.customdata).index(fused)] == "Conv+BatchNorm+Relu<br>float32"
    outline = fig.data[trace_index(fig, "highlight")]
    box = engine.nodes.loc[1]
    xs = [v for v in outline.x if v is not None]
    assert min(xs) < box.x - box.width / 2 < box.x + box.width / 2 < max(xs)
    assert "float32" in [t.name for t in fig.data if t.meta == "fill"]
    colors, legend = node_colors(engine, "stream")
    assert set(legend) <= {"stream 0", "stream 1", "stream 2", "stream 3", "input/output"}
    with pytest.raises(ConfigError, match="color_by 'size'"):
        graph_figure(engine, color_by="size")
    tensors = fig.data[trace_index(fig, "tensors")]
    assert any("float32" in t for t in tensors.hovertext)  # edges carry shape and dtype on hover


def test_any_node_column_colours_the_boxes(built):
    onnx_graph = from_onnx(built.model)
    onnx_graph.nodes["reason"] = [None, "shape arithmetic"] + [None] * (len(onnx_graph.nodes) - 2)
    colors, legend = node_colors(onnx_graph, "reason")
    assert list(legend) == ["not set", "shape arithmetic", "input/output"]
    assert colors[1] != colors[0]


def test_layout_labels_fit_their_boxes_and_never_overlap():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_graph_view import yolo_like_model

    graph = layered_layout(from_onnx(yolo_like_model()))
    nodes = graph.nodes
    assert len(nodes) > 300
    conv = nodes[nodes.name == "/model.1/conv/Conv"].iloc[0]
    assert conv.label == "Conv<br>3×3 /2"  # op and key attributes: kernel, stride
    assert nodes[nodes.name == "images"].iloc[0].label == "images<br>1×3×320×320"
    for _, layer in nodes.sort_values("x").groupby("layer"):
        left, right = layer.x - layer.width / 2, layer.x + layer.width / 2
        assert (left.to_numpy()[1:] >= right.to_numpy()[:-1] + 20).all()  # boxes of a layer side by side
    rows = sorted(set(nodes.y))
    assert min(b - a for a, b in zip(rows, rows[1:])) >= nodes.height.max() + 20
    # the default view: the top of the graph at 1 px per unit, not the whole graph
    fig = graph_figure(graph, width=1000, height=700)
    assert fig.layout.yaxis.range[1] > 0 > fig.layout.yaxis.range[0] > nodes.y.min()
    assert abs((fig.layout.xaxis.range[1] - fig.layout.xaxis.range[0]) - (1000 - 16) * 0.84) < 1


def test_static_html_is_self_contained(built, tmp_path):
    path = graph_html([from_onnx(built.model), from_engine(built.layers, model=built.model)], tmp_path / "g.html",
                      fusion=built.fusion)
    text = path.read_text()
    assert "Plotly.newPlot" in text and "22 ONNX nodes → 32 network layers → 10 engine layers" in text
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inlined, nothing is fetched
    assert "cdn." not in text.split("</script>", 1)[1]
    maps = json.loads(re.search(r"const maps = (\{.*?\});\n", text).group(1))
    assert maps["engine_to_onnx"]["1"] == [0, 1, 2]


def test_static_html_escapes_node_names_and_writes_atomically(tmp_path, monkeypatch):
    import workbench.files

    graph = from_onnx("resnet_tiny")
    evil = "</script><script>window.pwned=1</script><!--"
    graph.nodes.loc[1, "name"] = evil
    path = graph_html([graph], tmp_path / "g.html")
    text = path.read_text()
    script = text.split("<script type=\"text/javascript\">")[-1]
    assert script.count("</script>") == 1 and "<!--" not in script  # only the script's own end tag
    views = json.loads(re.search(r"const views = (\[.*?\]);\n", script).group(1))
    assert views[0]["names"][1] == evil  # the same text, once parsed
    # an export that fails half-way leaves the previous file whole
    monkeypatch.setattr(workbench.files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        graph_html([from_onnx("resnet_tiny")], path)
    assert path.read_text() == text and [p.name for p in tmp_path.iterdir()] == ["g.html"]


def test_static_html_groups_layers_in_one_click(built, tmp_path):
    onnx_graph = from_onnx(built.model)
    path = graph_html([onnx_graph, from_engine(built.layers, model=built.model)], tmp_path / "g.html")
    text = path.read_text()
    assert "<button id='layers'>Group layers</button>" in text
    grouped = json.loads(re.search(r"const grouped = (\{.*?\});  //", text).group(1))
    assert grouped["title"] == onnx_graph.title and 0 < len(grouped["ids"]) < onnx_graph.counts["nodes"]
    assert json.loads(re.search(r"const groupedMaps = (\{.*?\});\n", text).group(1))["engine_to_onnx"]
    already = graph_html([collapse(onnx_graph, 1)], tmp_path / "c.html").read_text()
    assert "id='layers'" not in already and "const grouped = null;" in already  # grouped already: no button
