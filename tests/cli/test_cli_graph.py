"""`workbench graph`."""

import json
import re


def test_graph_html_with_engine_json_counts(run_cli, tmp_path):
    out = tmp_path / "g.html"
    code, stdout, err = run_cli("graph", "resnet_tiny", "--engine", "--shapes", "input:2x3x32x32", "-o", out, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["graph"] == {"nodes": 22, "edges": 25, "groups": 0, "inputs_outputs": 2}
    assert info["engine"]["nodes"] == info["fusion"]["engine_layers"] < info["fusion"]["onnx_nodes"] == 22
    assert out.stat().st_size == info["bytes"] and "Plotly.newPlot" in out.read_text()


def test_graph_collapsed_and_onnxruntime_views(run_cli, tmp_path):
    code, stdout, err = run_cli("graph", "resnet50", "--collapse", "2", "-o", tmp_path / "c.html", "--json")
    assert code == 0, err
    assert json.loads(stdout)["graph"]["groups"] == 16
    code, stdout, err = run_cli("graph", "bert_tiny", "--onnxruntime", "-o", tmp_path / "o.html")
    assert code == 0 and "wrote" in stdout


def test_graph_errors(run_cli, tmp_path):
    code, _, err = run_cli("graph", tmp_path / "none.onnx", "-o", tmp_path / "x.html")
    assert code == 1 and "none.onnx" in err
    code, _, err = run_cli("graph", "resnet_tiny", "--engine", "--shapes", "input:1x3", "-o", tmp_path / "x.html")
    assert code == 1 and "rank 2" in err


# Model Explorer's node-data format (ai-edge-model-explorer 0.1.34, model_explorer/node_data_builder.py): the keys
# its dataclasses GraphNodeData and NodeDataResult accept; the viewer reads the JSON, the package has no loader.
GRAPH_NODE_DATA_KEYS = {"results", "name", "thresholds", "gradient", "hideInAggregatedStatsTable",
                        "hideInChildrenStatsTable", "hideAggregatedStats", "showExpandedSummaryOnGroupNode",
                        "showLabelCountColumnsInChildrenStatsTable"}
RESULT_KEYS = {"value", "bgColor", "textColor"}


def test_model_explorer_node_data_overlays(run_cli, tmp_path):
    import onnx

    out = tmp_path / "resnet_tiny.json"
    code, stdout, err = run_cli("graph", "resnet_tiny", "--model-explorer-data", out, "--json")
    assert code == 0, err
    written = json.loads(stdout)["model_explorer_data"]
    assert written == [str(out), str(tmp_path / "resnet_tiny.precision.json"), str(tmp_path / "resnet_tiny.stream.json")]
    from workbench.model import load_model

    model = load_model("resnet_tiny")
    names = [n.name for n in model.nodes]
    layers, precision, stream = (json.loads(open(p).read()) for p in written)
    for overlay in (layers, precision, stream):
        assert list(overlay) == [model.proto.graph.name]  # the ONNX adapter's graph id
        graph = overlay[model.proto.graph.name]
        assert set(graph) <= GRAPH_NODE_DATA_KEYS and isinstance(graph["name"], str)
        for node_id, result in graph["results"].items():
            assert node_id in names and set(result) <= RESULT_KEYS and "value" in result
            assert re.fullmatch(r"#[0-9a-f]{6}", result.get("bgColor", "#000000"))
    results = layers[model.proto.graph.name]["results"]
    assert set(results) == set(names)  # every ONNX node: its engine layer, or why it has none
    flatten = next(n.name for n in model.nodes if n.op_type == "Flatten")  # no layer of its own, and says why
    assert results[flatten]["value"].startswith("eliminated data movement")
    # Conv, BatchNormalization and Relu of the stem fused into one layer
    assert results["stem/conv"]["value"] == results["stem/bn"]["value"] == results["stem/relu"]["value"]
    assert {r["value"] for r in precision[model.proto.graph.name]["results"].values()} <= {"float32", "float16",
                                                                                           "no engine layer"}
    assert all(isinstance(r["value"], int) for r in stream[model.proto.graph.name]["results"].values())
    code, _, err = run_cli("graph", "resnet_tiny", "--model-explorer-data", tmp_path / "x.txt")
    assert code != 0 and "should end in .json" in err
    code, _, err = run_cli("graph", "resnet_tiny")
    assert code != 0 and "--model-explorer-data" in err
