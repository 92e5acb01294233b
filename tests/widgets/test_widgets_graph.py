"""GraphView, FusionView (synced selection), GraphPanel and ModelPanel."""

import types

import pytest

from workbench.engines import build_engine
from workbench.graph import from_engine, from_onnx, layered_layout
from workbench.widgets import FusionView, GraphPanel, GraphView, ModelPanel
from workbench.charts.graph import trace_index


@pytest.fixture(scope="module")
def built():
    return build_engine("resnet_tiny")


def _outlined(view):
    """Ids of the nodes whose box centre lies inside an outline drawn by the highlight trace."""
    trace = view.figure.data[trace_index(view.figure, "highlight")]
    xs = [] if trace.x is None else list(trace.x)
    ys = [] if trace.y is None else list(trace.y)
    boxes, start = [], 0
    for k, v in enumerate(xs + [None]):
        if v is None or v != v:
            if k > start:
                boxes.append((min(xs[start:k]), max(xs[start:k]), min(ys[start:k]), max(ys[start:k])))
            start = k + 1
    nodes = view.graph.nodes
    return [int(i) for i, x, y in zip(nodes["id"], nodes["x"], nodes["y"])
            if any(x0 < x < x1 and y0 < y < y1 for x0, x1, y0, y1 in boxes)]


def test_clicking_a_node_selects_it_and_shows_details():
    view = GraphView(layered_layout(from_onnx("resnet_tiny")))
    trace = view.nodes_trace
    picked = []
    view.on_select = lambda v, node_id: picked.append(node_id)
    view._clicked(trace, types.SimpleNamespace(point_inds=[1]), None)  # what FigureWidget calls on a click
    assert picked == [1] and _outlined(view) == [1]
    assert "stem/bn" in view.details.value and "epsilon" in view.details.value
    assert view.find("layer2.0.down/conv") and "layer2.0.down/conv" in view.details.value
    assert view.find("zzz") == [] and "no node matches" in view.search_result.value


def test_fusion_view_syncs_selection_both_ways(built):
    onnx_graph = layered_layout(from_onnx(built.model))
    engine = layered_layout(from_engine(built.layers, model=built.model))
    view = FusionView(onnx_graph, engine, fusion=built.fusion)
    fused = int(engine.nodes.index[engine.nodes.op == "Conv+BatchNormalization+Relu"][0])
    view.engine_view.select(fused)
    assert [onnx_graph.nodes.loc[i, "name"] for i in _outlined(view.onnx_view)] == ["stem/conv", "stem/bn",
                                                                                   "stem/relu"]
    assert "absorbed ONNX nodes" in view.engine_view.details.value
    relu = int(onnx_graph.nodes.index[onnx_graph.nodes.name == "stem/relu"][0])
    view.onnx_view.select(relu)
    assert _outlined(view.engine_view) == [fused]
    assert "22 ONNX nodes → 32 network layers → 10 engine layers" in view.summary.value
    view.color_by.value = "stream"
    assert [t.name for t in view.engine_view.figure.data if t.meta == "fill"] == ["stream 0", "input/output"]
    assert view.engine_view.figure.data[-1].meta == "minimap"  # boxes stay under the labels


def test_graph_panel_views_and_build(tmp_path):
    panel = GraphPanel("inception_tiny")
    assert isinstance(panel.view, GraphView)
    panel.choice.value = "engine layers"
    assert "Build engine" in panel.message.value  # needs a build first; said, not raised
    panel.build(wait=True)
    assert panel.last_error is None and panel.progress.value == 1.0
    assert isinstance(panel.view, FusionView) and "engine layers" in panel.message.value
    streams = set(panel.view.engine_view.graph.nodes["stream"])
    assert len(streams) > 1 and panel.view.color_by.value == "stream"  # branches on several streams
    for choice in ("TensorRT network", "ONNX Runtime optimized", "engine layers", "ONNX graph"):
        panel.choice.value = choice
        assert panel.last_error is None and isinstance(panel.view, GraphView), choice
    panel.collapse_depth.value = 1
    assert panel.view.graph.counts["groups"] > 0
    panel.shapes.value = "input:1x3"
    panel.build_button.click()
    panel.wait()
    assert "rank 2" in panel.message.value and panel.result is not None  # the last engine is kept


def test_model_panel_loads_samples_paths_and_uploads(tmp_path):
    import onnx

    from models import conv_bn_relu

    panel = ModelPanel()
    seen = []
    panel.on_model(lambda m: seen.append(m.name))
    panel.sample.value = "digits_cnn"
    panel.load_sample.click()
    assert panel.model.name == "digits_cnn" and "image" in panel.summary.value
    path = tmp_path / "tiny.onnx"
    onnx.save(conv_bn_relu(), path)
    panel.path.value = str(path)
    panel.open_path.click()
    assert panel.model.name == "conv_bn_relu"
    def upload(name, content):  # what the browser sends when a file is chosen
        import datetime

        panel.upload.value = ({"name": name, "type": "", "size": len(content), "content": memoryview(content),
                               "last_modified": datetime.datetime.now(datetime.timezone.utc)},)

    upload("uploaded.onnx", path.read_bytes())
    assert panel.model.name == "uploaded" and seen == ["digits_cnn", "conv_bn_relu", "uploaded"]
    upload("broken.onnx", b"not onnx at all")
    assert "broken: not an ONNX model" in panel.message.value
    assert "Traceback" not in panel.message.value and panel.model.name == "uploaded"
    panel.path.value = str(tmp_path / "missing.onnx")
    panel.open_path.click()
    assert "missing.onnx: no such file" in panel.message.value and panel.model.name == "uploaded"


def test_a_restarted_kernel_shows_the_same_comparison(tmp_path):
    """The Compare panel reads the results store: a new process (a restarted kernel) draws the same numbers."""
    import json
    import subprocess
    import sys

    from workbench.bench import BenchmarkConfig, ResultsStore, sweep
    from workbench.precision import apply_precision
    from workbench.model import load_model
    from workbench.widgets import ComparePanel

    store = ResultsStore(tmp_path / "r.sqlite")
    model = load_model("resnet_tiny")
    sweep({"fp32": model, "fp16": apply_precision(model, "fp16")}, batch=[1], store=store,
          config=BenchmarkConfig(warmup_s=0.01, duration_s=0.05), variant_tags={"fp32": {"accuracy": 1.0},
                                                                               "fp16": {"accuracy": 0.99}})
    panel = ComparePanel(store, model)
    panel.refresh()
    here = [o["data"]["application/vnd.plotly.v1+json"]["data"] for o in
            (panel.speedup.outputs[0], panel.pareto.outputs[0])]
    script = ("import json; from workbench.bench import ResultsStore; from workbench.model import load_model; "
              "from workbench.widgets import ComparePanel; "
              f"p = ComparePanel(ResultsStore({str(tmp_path / 'r.sqlite')!r}), load_model('resnet_tiny')); "
              "p.refresh(); print(json.dumps([o['data']['application/vnd.plotly.v1+json']['data'] "
              "for o in (p.speedup.outputs[0], p.pareto.outputs[0])]))")
    there = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                      check=True).stdout)
    assert there == json.loads(json.dumps(here))
    assert [t["name"] for t in there[0]] == ["fp32 · onnxruntime · all", "fp16 · onnxruntime · all"]


def test_graph_panel_expands_a_selected_group():
    panel = GraphPanel("resnet50")
    panel.collapse_depth.value = 2
    groups = panel.view.graph.nodes[panel.view.graph.nodes.category == "group"]
    before = panel.view.graph.counts["nodes"]
    block = int(groups.index[groups.name == "layer1/0"][0])
    panel.view.select(block)  # as a click does
    assert not panel.expand_button.disabled and "layer1/0" in panel.expand_button.description
    panel.expand_button.click()
    assert panel.last_error is None and panel.expanded == {"layer1/0"}
    assert panel.view.graph.counts["nodes"] == before - 1 + 12  # the bottleneck block's 12 nodes
    assert "layer1.0.a/conv" in set(panel.view.graph.nodes.name)
    panel.collapse_depth.value = 1  # regrouping starts closed again
    assert panel.expanded == set() and panel.expand_button.disabled


def test_layers_one_click_and_minimap_follows_the_view():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_graph_view import yolo_like_model

    from workbench.graph.layout import scope_depth

    assert scope_depth(from_onnx(yolo_like_model())) == 2  # /model.N, not the one scope "model"
    panel = GraphPanel(yolo_like_model())
    assert panel.view.graph.counts["groups"] == 0
    panel.layers.value = True  # one click
    assert panel.last_error is None and panel.collapse_depth.value == 2
    grouped = panel.view.graph
    assert 12 <= grouped.counts["nodes"] < 40 and grouped.counts["groups"] > 10
    assert "model/22<br>" in " ".join(panel.view.nodes_trace.text)  # a group: its scope and node count
    panel.layers.value = False
    assert panel.view.graph.counts["groups"] == 0
    view = panel.view
    view.find("/model.22/Concat")  # deep in the graph: the view and the minimap's rectangle move there
    y = float(view.graph.nodes.loc[view.graph.find("/model.22/Concat")[0], "y"])
    yr = view.figure.layout.yaxis.range
    assert yr[0] < y < yr[1] and view.figure.layout.shapes[0].y0 == yr[0]
