"""`workbench graph`."""

import json


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
