"""Quantize that knows the model (issue 19 item 5): weights held in Constant nodes are weights, quantizability is
decided before calibrating, ops inside If/Loop bodies are quantized."""

import numpy as np
import onnx
import pytest

from workbench.model import load_model
from workbench.precision import calibrate, compare, quantize
from workbench.precision.calibrate import activation_tensors
from workbench.precision.guards import check_written_model


@pytest.fixture(scope="module")
def paddle():
    model = load_model("paddle_constant_weights")
    images = np.random.default_rng(0).random((16, 3, 64, 64)).astype(np.float32)
    return model, images[:8], images[8:]


def test_constant_node_weights_are_never_calibrated_as_activations(paddle):
    model, calibration, _ = paddle
    weights = [n.output[0] for n in model.nodes if n.op_type == "Constant"]
    assert "conv2d_0.w_0" in weights
    table = calibrate(model, calibration, "minmax", only_quantized=True)
    assert not set(table.frame["tensor"]) & set(weights)
    assert not set(activation_tensors(model)) & set(weights)


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_constant_node_weights_are_quantized_per_channel(paddle, target):
    model, calibration, held = paddle
    table = calibrate(model, calibration, "minmax", only_quantized=target == "tensorrt")
    result = quantize(model, table, target=target)
    convs = result.report[result.report["op"] == "Conv"]
    assert convs["quantized"].sum() == 4, result.report  # the score-map Conv writes a graph output: float
    assert not result.report["note"].str.contains("no range").any()
    graph = result.model.proto.graph
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("conv2d_0.w_0")]
    assert len(weight_dq) == 1
    stored = {t.name: t for t in graph.initializer}[weight_dq[0].input[0]]
    assert stored.data_type == onnx.TensorProto.INT8
    scale = {t.name: t for t in graph.initializer}[weight_dq[0].input[1]]
    assert list(scale.dims) == [16]  # one scale per output channel
    check_written_model(result.model, "int8")
    assert compare(model, result.model, held)["sqnr_db"].min() > 25
