"""Users' own models: -1 dims, default shapes with their sources, explained fusion, failure narrowing (issue 11)."""

import json
import threading
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.engines import BuildConfig, build_engine, fusion_summary, reduce
from workbench.errors import ConfigError, EngineBuildError, ModelError, NetworkParseError
from workbench.graph import from_engine, from_onnx, fusion_map, with_fusion_reasons
from workbench.model import SAMPLES, load_model
from workbench.model.shapes import SEQUENCE_LENGTH


def _with_metadata(name: str, **props) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    proto.CopyFrom(load_model(name).proto)
    for prop in proto.metadata_props:
        if prop.key in props:
            prop.value = props[prop.key]
    return proto


def _conv1d(dims) -> onnx.ModelProto:
    """A 1-D convolution without padding: a length below 3 is impossible."""
    w = nh.from_array(np.ones((4, 1, 3), np.float32), "w")
    g = h.make_graph([h.make_node("Conv", ["signal", "w"], ["y"], name="conv")], "conv1d",
                     [h.make_tensor_value_info("signal", T.FLOAT, dims)],
                     [h.make_tensor_value_info("y", T.FLOAT, [dims[0], 4, None])], [w])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def yolo_built():
    return build_engine("yolo_detector")


# --- samples ------------------------------------------------------------------------------------------------------
def test_samples_carry_real_world_traits():
    yolo = load_model("yolo_detector")
    assert 280 <= yolo.node_count <= 360
    traits = {"Conv", "Sigmoid", "Mul", "Split", "Concat", "Shape", "Gather", "Range", "Reshape"}
    assert traits <= set(yolo.stats.op_histogram)
    assert yolo.inputs[0].shape == ("batch", 3, "height", "width") and yolo.metadata("imgsz") == "[320, 320]"
    ocr = load_model("ocr_recognizer")
    raw = SAMPLES["ocr_recognizer"].build().graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in raw] == [-1, 3, 48, -1]  # as Paddle2ONNX writes dynamic dims
    assert ocr.inputs[0].shape == ("x_dim0", 3, 48, "x_dim3")
    assert "If" in load_model("if_model").stats.op_histogram
    histogram = load_model("function_model").stats.op_histogram
    assert histogram["Conv"] == 3 and not any("SiLUBlock" in op for op in histogram)  # function calls as real ops


# --- shapes -------------------------------------------------------------------------------------------------------
def test_minus_one_dims_are_dynamic_and_accept_shapes(run_cli):
    model = load_model("ocr_recognizer")
    assert model.shapes.resolve({"x": (2, 3, 48, 320)}) == {"x": (2, 3, 48, 320)}
    code, out, err = run_cli("inspect", "ocr_recognizer", "--shapes", "x:1x3x48x320", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["inputs"][0]["shape"] == ["x_dim0", 3, 48, "x_dim3"] and info["input_shapes"] == {"x": [1, 3, 48, 320]}
    code, out, _ = run_cli("inspect", "ocr_recognizer")
    assert "x:1x3x48x224 (x_dim0, x_dim3 from the input's role)" in out and "x_dim3" in out


def test_a_minus_one_model_builds_with_and_without_shapes(run_cli, tmp_path):
    code, out, err = run_cli("build", "ocr_recognizer", "--shapes", "x:1x3x48x320", "--json", "--no-cache")
    assert code == 0, err
    info = json.loads(out)
    assert info["profiles"]["x"]["opt"] == [1, 3, 48, 320] and info["onnx_nodes"] == 18
    assert all({"name", "op", "reason"} <= set(u) for u in info["unmapped_onnx_nodes"])
    code, out, err = run_cli("layers", "ocr_recognizer", "--json")  # defaults: x:1x3x48x224 (image role)
    assert code == 0, err
    assert json.loads(out)["profiles"]["x"]["opt"] == [1, 3, 48, 224]


def test_default_shapes_say_where_they_come_from():
    yolo = load_model("yolo_detector")
    assert yolo.shapes.describe() == ("images:1x3x320x320 (batch from its name; height, width from the model's "
                                   "metadata)")
    sources = yolo.shapes.sources().set_index("dim")
    assert sources.loc["height", "source"] == "metadata" and sources.loc["batch", "source"] == "name"
    assert yolo.stats.macs() > 0.5e9  # not 1x3x1x1
    plain = load_model(_with_metadata("yolo_detector", imgsz="[640, 480]"))
    assert plain.shapes.default == {"images": (1, 3, 640, 480)}
    square = load_model(_with_metadata("yolo_detector", imgsz="416"))
    assert square.shapes.default == {"images": (1, 3, 416, 416)}
    no_metadata = onnx.ModelProto()
    no_metadata.CopyFrom(load_model("yolo_detector").proto)
    del no_metadata.metadata_props[:]
    assert "height, width from the input's role" in load_model(no_metadata).shapes.describe()
    assert load_model(no_metadata).shapes.default["images"] == (1, 3, 224, 224)
    nhwc = onnx.ModelProto()
    nhwc.CopyFrom(load_model("yolo_detector").proto)
    nhwc.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "h"   # TensorFlow's layout: [N, H, W, 3]
    nhwc.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "w"
    nhwc.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 3
    dims = load_model(nhwc, check=False).shapes.sources().set_index("axis")
    assert list(dims["value"]) == [1, 320, 320] and list(dims.index) == [0, 1, 2]
    text = load_model(_conv1d(["batch_size", 1, "seq_len"]))
    assert text.shapes.default == {"signal": (1, 1, SEQUENCE_LENGTH)}
    with pytest.warns(UserWarning, match=r"signal\[2\] \(L\)"):
        odd = load_model(_conv1d(["N", 1, "L"]))
        assert odd.shapes.default == {"signal": (1, 1, 1)}
    assert "L set to 1 for want of anything better" in odd.shapes.describe()


def test_bad_shape_input_is_a_clear_error_naming_the_input():
    yolo = load_model("yolo_detector")
    with pytest.raises(ConfigError, match="'pictures', which is not an input"):
        yolo.shapes.resolve("pictures:1x3x320x320")
    with pytest.raises(ConfigError, match="input 'images' shape: dimension 1 is fixed at 3"):
        yolo.shapes.resolve("images:1x4x320x320")
    broken = load_model(_with_metadata("yolo_detector", imgsz="[640, abc]"))  # loading still works
    with pytest.raises(ModelError, match="'imgsz' = '\\[640, abc\\]' is not an image size.*input 'images'"):
        broken.shapes.describe()
    assert broken.stats.macs({"images": (1, 3, 64, 64)}) > 0  # given shapes need no metadata
    assert broken.node_count == 326


def test_build_failure_names_the_node_and_the_defaulted_dimensions():
    small = load_model(_with_metadata("yolo_detector", imgsz="[100, 100]"))
    with pytest.raises(EngineBuildError) as caught:
        build_engine(small, cache=None)
    message = str(caught.value)
    assert "ONNX node '/model.11/Concat'" in message and caught.value.onnx_nodes == ["/model.11/Concat"]
    assert "images height = 100 (from the model's metadata (imgsz))" in message
    assert "--shapes images:1x3x100x100" in message and "shapes field of the Model panel" in message
    assert "workbench reduce MODEL --shapes images:1x3x100x100" in message
    with pytest.raises(EngineBuildError) as given:  # shapes the user gave: nothing was defaulted
        build_engine(small, BuildConfig(shapes={"images": (1, 3, 100, 100)}), cache=None)
    assert "defaulted" not in str(given.value)


def test_build_failure_at_a_fallback_dimension_gives_the_shapes_to_set():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(_conv1d(["N", 1, "L"]))
        with pytest.raises(EngineBuildError, match=r"signal L = 1 .*--shapes signal:1x1x1"):
            build_engine(model, cache=None)
        assert build_engine(model, BuildConfig(shapes={"signal": (1, 1, 16)}), cache=None).layers is not None


def test_onnxruntime_failure_at_a_defaulted_dimension_gives_the_shapes_to_set():
    from workbench.bench import BenchmarkConfig, measure
    from workbench.errors import BenchmarkError

    quick = BenchmarkConfig(warmup_s=0.0, duration_s=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(_conv1d(["N", 1, "L"]))
        with pytest.raises(BenchmarkError, match=r"signal L = 1 .*--shapes signal:1x1x1"):
            measure(model, config=quick)
        assert measure(model, feeds={"signal": np.ones((1, 1, 8), np.float32)}, config=quick).iterations > 0


# --- fusion explained ---------------------------------------------------------------------------------------------
def test_every_unmapped_node_has_a_reason(yolo_built):
    fusion = yolo_built.fusion
    unmapped = fusion.unmapped
    assert len(unmapped) and set(unmapped.columns) >= {"name", "op", "reason", "kind"}
    assert (unmapped["reason"].str.len() > 0).all()
    by_kind = unmapped.groupby("kind")["op"].apply(set).to_dict()
    assert "Shape" in by_kind["shape"] and "Range" in by_kind["shape"]  # the head's anchors and views
    assert "not-found" not in by_kind
    concats = unmapped[(unmapped.op == "Concat") & (unmapped.kind == "data-movement")]
    assert len(concats) and concats.reason.str.contains("Concat eliminated").all()
    as_json = json.loads(json.dumps(fusion.to_dict()))
    assert {"name", "op", "reason"} <= set(as_json["unmapped_onnx_nodes"][0])
    onnx_graph = with_fusion_reasons(from_onnx(yolo_built.model), fusion)
    shape_node = onnx_graph.nodes[onnx_graph.nodes.name == "/model.22/view_0/Shape"].iloc[0]
    assert shape_node.fusion_reason_kind == "shape" and "shape arithmetic" in shape_node.fusion_reason
    conv = onnx_graph.nodes[onnx_graph.nodes.name == "/model.0/conv/Conv"].iloc[0]
    assert conv.fusion_reason == "" and conv.fusion_reason_kind == ""


def test_constants_and_data_movement_get_their_reasons():
    from models import constant_weights

    reasons = build_engine(constant_weights(), cache=None).fusion.unmapped.set_index("name")
    assert reasons.loc["const_w", "kind"] == reasons.loc["bias_fill", "kind"] == "constant"
    assert reasons.loc["t1", "kind"] == "data-movement" and "Transpose" in reasons.loc["t1", "reason"]


@pytest.mark.parametrize("sample, parent, body_ops", [("if_model", "decoder/If", {"MatMul", "Add", "Tanh", "Relu"}),
                                                      ("function_model", "block0/SiLUBlock", {"Conv", "Sigmoid"})])
def test_body_nodes_resolve_to_real_ops_attributed_to_their_parent(sample, parent, body_ops):
    result = build_engine(sample)
    fusion = result.fusion
    ops = {op for pattern in fusion.patterns["pattern"] for op in pattern.split(" + ")}
    assert "?" not in ops and body_ops <= ops
    assert not any(u["parent"] for u in fusion.unmapped_onnx_nodes if u["kind"] != "subgraph")
    engine = from_engine(result.layers, model=result.model)
    assert not any("?" in op for op in engine.nodes.op)
    onnx_graph = from_onnx(result.model)
    mapping = fusion_map(onnx_graph, engine)
    parent_id = int(onnx_graph.nodes.index[onnx_graph.nodes.name == parent][0])
    assert parent_id in mapping["onnx_to_engine"]  # the parent holds its body's engine layers
    assert set(body_ops) & set(onnx_graph.nodes.loc[parent_id, "details"]["body ops"].replace(",", " ").split())


def test_fusion_summary_without_a_model_has_an_unknown_node_count(yolo_built):
    summary = fusion_summary(yolo_built.layers)
    assert summary.onnx_nodes is None and summary.to_dict()["onnx_nodes"] is None
    assert "unknown" in summary._repr_html_()


# --- reduce -------------------------------------------------------------------------------------------------------
def test_reduce_finds_the_smallest_failing_subgraph(run_cli, tmp_path):
    code, out, err = run_cli("reduce", "yolo_detector", "--shapes", "images:1x3x100x100", "--json", "-o",
                             tmp_path / "reduced.onnx")
    assert code == 0, err
    result = json.loads(out)
    assert result["complete"] and result["nodes"] == ["/model.11/Concat"] and result["original_nodes"] == 326
    assert "concat" in result["error"].lower() and result["builds"] < 30 and result["steps"][0]["failed"]
    assert load_model(tmp_path / "reduced.onnx").node_count == 1  # TensorRT still rejects it (the failure kept)
    with pytest.raises((EngineBuildError, NetworkParseError), match="Concat"):
        build_engine(tmp_path / "reduced.onnx", cache=None)


def test_reduce_is_bounded_cancellable_and_refuses_a_model_that_builds():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EngineBuildError, match="cancelled"):
        reduce("yolo_detector", {"images": (1, 3, 100, 100)}, cancel=cancel)
    stop = threading.Event()

    def stop_during_bisection(stage, fraction):
        if stage.startswith("reduce: first"):
            stop.set()
    partial = reduce("yolo_detector", {"images": (1, 3, 100, 100)}, cancel=stop, on_progress=stop_during_bisection)
    assert not partial.complete and 1 <= len(partial.nodes) <= 326  # the smallest failing graph found so far
    assert partial.steps_frame["failed"].iloc[0]
    with pytest.raises(ConfigError, match="no failure to reduce"):
        reduce("resnet_tiny")


# --- panels -------------------------------------------------------------------------------------------------------
def test_the_app_takes_shapes_from_the_model_panel_only():
    from workbench.widgets.app import App

    app = App("resnet_tiny")
    assert app.graph_panel.shapes.layout.display == "none" and app.build_panel.shapes.layout.display == "none"
    app.model_panel.shape_rows["input"].opt.value = "4x3x32x32"
    assert app.graph_panel._config().shapes == {"input": (4, 3, 32, 32)} == app.build_panel.config().shapes


def test_model_panel_edits_every_input_shape_and_the_graph_panel_builds_at_it():
    from workbench.widgets import GraphPanel, ModelPanel

    panel = ModelPanel(_with_metadata("yolo_detector", imgsz="[100, 100]"))
    graph = GraphPanel(panel.model)
    graph.use_shapes_from(panel.shapes)  # as the App wires them
    row = panel.shape_rows["images"]
    assert row.opt.value == "1x3x100x100" and "height = 100: from the model's metadata (imgsz)" in row.sources.value
    assert "images:1x3x100x100 (batch from its name; height, width from the model" in panel.summary.value
    graph.build(wait=True)  # 100x100 makes the neck's Concat inputs 8x8 and 7x7: TensorRT rejects it
    assert "--shapes images:1x3x100x100" in graph.last_error and "shapes field of the Model panel" in graph.last_error
    assert graph.progress.value == 0.0 and graph.stage.value == "failed"  # ready again, nothing frozen
    assert not graph.build_button.disabled and not graph.reduce_button.disabled and graph.stop_button.disabled
    stages = []
    graph.show_progress = lambda stage, fraction: stages.append(stage)
    graph.reduce(wait=True)
    assert graph.reduction.nodes == ["/model.11/Concat"] and not graph.build_button.disabled
    assert stages[-1] == "reduce: done" and any(s.startswith("reduce: first") for s in stages)
    names = graph.view.graph.nodes["name"]
    assert [names[i] for i in graph.view.highlighted] == ["/model.11/Concat"]
    row.opt.value = "1x3x4x320x320"
    panel.apply_shapes.click()
    assert "input 'images' shape [1, 3, 4, 320, 320] has rank 5" in panel.last_error
    row.opt.value = "1x3x320x320"
    panel.apply_shapes.click()
    assert panel.shapes() == {"images": (1, 3, 320, 320)} and "estimated at images:1x3x320x320" in \
        panel.message.value
    graph.build(wait=True)
    assert graph.result is not None and graph.last_error is None and graph.reduce_button.disabled
    row.use_range.value = True
    row.min.value, row.max.value = "1x3x256x256", "1x3x640x640"
    assert panel.shapes() == {"images": ((1, 3, 256, 256), (1, 3, 320, 320), (1, 3, 640, 640))}


def test_model_panel_with_a_broken_metadata_image_size_says_so_and_still_works():
    from workbench.widgets import ModelPanel

    panel = ModelPanel("resnet_tiny")
    panel.load(_with_metadata("yolo_detector", imgsz="[640, abc]"))
    assert "is not an image size" in panel.message.value and "images" in panel.message.value
    assert panel.shape_rows["images"].opt.value == "1x3x224x224" and panel.model.node_count == 326


def test_build_panel_is_ready_again_after_tensorrt_rejects_a_model():
    from workbench.widgets import BuildPanel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = BuildPanel(_conv1d(["N", 1, "L"]))  # L defaults to 1: a kernel of 3 does not fit
        panel.build(wait=True)
    assert "--shapes signal:1x1x1" in panel.last_error and "signal L = 1" in panel.message.value
    assert panel.progress.value == 0.0 and panel.stage.value == "failed" and not panel.build_button.disabled
    panel.shapes.value = "signal:1x1x16"
    panel.build(wait=True)
    assert panel.last_error is None and panel.result is not None
