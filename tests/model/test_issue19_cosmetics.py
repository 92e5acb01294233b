"""Issue 19 items 10 and 11: a Paddle classifier whose dynamic dims are all named "-1" builds at given shapes, and the
cosmetics (one-line warnings, no ONNX Runtime log lines, unpadded inspect tables, an FP16 engine's own label, a tree
model's parameters)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from workbench.model import load_model


def _paddle_classifier(dim=None):
    """Conv -> pool -> classifier, with x [-1, 3, -1, -1] written as Paddle2ONNX versions write it: dim_value -1, or
    the *name* "-1" on every dynamic axis (which TensorRT reads as one dimension)."""
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Conv", ["x", "conv2d_0.w_0"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("GlobalAveragePool", ["c"], ["p"], name="pool"),
             h.make_node("Flatten", ["p"], ["f"], name="flatten"),
             h.make_node("MatMul", ["f", "fc_0.w_0"], ["softmax_0.tmp_0"], name="fc")]
    g = h.make_graph(nodes, "paddle_classifier", [h.make_tensor_value_info("x", T.FLOAT, [-1, 3, -1, -1])],
                     [h.make_tensor_value_info("softmax_0.tmp_0", T.FLOAT, [-1, 10])],
                     [nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "conv2d_0.w_0"),
                      nh.from_array(rng.standard_normal((8, 10)).astype(np.float32), "fc_0.w_0")])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 11)], producer_name="PaddlePaddle")
    if dim is not None:
        for value in list(model.graph.input) + list(model.graph.output):
            for d in value.type.tensor_type.shape.dim:
                if d.HasField("dim_value") and d.dim_value == -1:
                    d.dim_param = dim
    return model


@pytest.mark.parametrize("dim", [None, "-1"])
def test_a_paddle_classifier_builds_at_given_shapes(run_cli, tmp_path, monkeypatch, dim):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "paddle.onnx"
    onnx.save(_paddle_classifier(dim), str(path))
    assert load_model(path).inputs[0].shape == ("x_dim0", 3, "x_dim2", "x_dim3")  # one name per axis
    code, out, err = run_cli("build", path, "--shapes", "x:1x3x48x192")
    assert code == 0, err
    assert "shapes: x:1x3x48x192" in out


def test_cli_warnings_are_one_line_without_python_source(run_cli, tmp_path):
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "odd", [h.make_tensor_value_info("x", T.FLOAT, ["N", 1, "L"])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", 1, "L"])])
    path = tmp_path / "odd.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(path))
    import warnings

    from workbench.cli.main import _warning_format

    line = _warning_format("inspect")(UserWarning("no default known\n  for L"), UserWarning, "x.py", 3)
    assert line == "workbench inspect: warning: no default known for L\n"
    before = warnings.formatwarning
    code, _, err = run_cli("inspect", path)
    assert code == 0 and warnings.formatwarning is before  # restored after the command


def test_onnx_runtime_logs_no_lines_of_its_own_when_a_run_fails(capfd):
    from workbench.bench import BenchmarkConfig, measure
    from workbench.errors import BenchmarkError

    shape = nh.from_array(np.array([1, 3, 16], np.int64), "to")
    g = h.make_graph([h.make_node("Reshape", ["x", "to"], ["y"], name="reshape_to_3x16")], "needs_48",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", "features"])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 3, 16])], [shape])
    model = load_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    with pytest.raises(BenchmarkError, match="reshape_to_3x16"):
        measure(model, feeds={"x": np.ones((1, 5), np.float32)}, config=BenchmarkConfig(warmup_s=0, duration_s=0.01))
    assert "onnxruntime" not in capfd.readouterr().err  # the error is the workbench's, said once


def test_inspect_tables_are_not_padded(run_cli, tmp_path):
    from models import kv_cache_decoder

    path = tmp_path / "decoder.onnx"
    onnx.save(kv_cache_decoder(), str(path))
    code, out, err = run_cli("inspect", path)
    assert code == 0, err
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert max(len(line) for line in lines if line.startswith("model ")) < 60
    sources = lines[lines.index("dynamic dimensions (give --shapes to change them):") + 1:]
    assert max(len(line) for line in sources) < 160


def test_an_fp16_model_is_labelled_fp16_and_a_tree_model_has_parameters():
    from models import unsorted_fp16

    from workbench.engines.estimate.variants import own_precision

    assert own_precision(load_model(unsorted_fp16())) == "fp16" and own_precision(load_model("resnet_tiny")) == "fp32"
    tree = h.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
                       nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
                       nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0.0, 0.0],
                       nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
                       target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0], target_weights=[1.0, 2.0])
    g = h.make_graph([tree], "forest", [h.make_tensor_value_info("x", T.FLOAT, [None, 1])],
                     [h.make_tensor_value_info("y", T.FLOAT, [None, 1])])
    model = load_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.ml", 3)]),
                       check=False)
    assert model.stats.parameter_count == 3 + 2 and model.stats.parameter_bytes == 4 * 5
