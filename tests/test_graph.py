"""Graph data, layout, collapsing, the fusion map, figures and the static HTML export."""

import json
import re

import pytest

from workbench.charts.graph import NODE_TRACE, graph_figure, node_colors
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
    engine = layered_layout(from_engine(built.layers, model=built.model))
    fig = graph_figure(engine, color_by="precision", highlight=[1])
    nodes = fig.data[NODE_TRACE]
    assert list(nodes.customdata) == list(engine.nodes.id)
    assert nodes.marker.line.width[1] == 4 and nodes.marker.line.width[0] == 0.5
    assert "float32" in [t.name for t in fig.data[NODE_TRACE + 1:]]
    colors, legend = node_colors(engine, "stream")
    assert set(legend) <= {"stream 0", "stream 1", "stream 2", "stream 3", "input/output"}
    with pytest.raises(ConfigError, match="color_by 'size'"):
        graph_figure(engine, color_by="size")
    tensors = fig.data[1]
    assert any("float32" in t for t in tensors.hovertext)  # edges carry shape and dtype on hover


def test_static_html_is_self_contained(built, tmp_path):
    path = graph_html([from_onnx(built.model), from_engine(built.layers, model=built.model)], tmp_path / "g.html",
                      fusion=built.fusion)
    text = path.read_text()
    assert "Plotly.newPlot" in text and "22 ONNX nodes → 32 network layers → 10 engine layers" in text
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inlined, nothing is fetched
    assert "cdn." not in text.split("</script>", 1)[1]
    maps = json.loads(re.search(r"const maps = (\{.*?\});\n", text).group(1))
    assert maps["engine_to_onnx"]["1"] == [0, 1, 2]
