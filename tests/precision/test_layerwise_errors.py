"""Accuracy debugging the Polygraphy way (lesson 02): every tensor compared, the first diverging layer named."""

import numpy as np
import onnx
from onnx import numpy_helper

from workbench.model import load_model
from workbench.precision.accuracy import layerwise_errors


def _two_convs(scale_second: float = 1.0):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * scale_second
    nodes = [onnx.helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1] * 4),
             onnx.helper.make_node("Relu", ["a"], ["b"], name="relu1"),
             onnx.helper.make_node("Conv", ["b", "w2"], ["c"], name="conv2", pads=[1] * 4),
             onnx.helper.make_node("Relu", ["c"], ["y"], name="relu2")]
    graph = onnx.helper.make_graph(
        nodes, "two_convs", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4, 8, 8])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return load_model(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]))


def test_the_first_layer_that_diverges_is_the_one_changed():
    data = np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)
    table = layerwise_errors(_two_convs(), _two_convs(scale_second=-1.0), data)
    assert list(table.node) == ["conv1", "relu1", "conv2", "relu2"]
    assert not table.diverges.iloc[:2].any() and table.diverges.iloc[2:].all()
    assert table.attrs["first_divergent"] == "conv2"
    assert layerwise_errors(_two_convs(), _two_convs(), data).attrs["first_divergent"] is None
