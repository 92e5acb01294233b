"""Two things about the ONNX Runtime sessions that calibration and accuracy use:

- the calibration session takes the large float weights as arrays beside the model (parsed once, not again from the
  serialized model) and computes exactly what the model with the same extra outputs computes; integer and small
  initializers (shapes, split sizes) stay inside the model, where ONNX Runtime's shape inference reads them;
- a Q/DQ model's accuracy is measured as written (DequantizeLinear, then the float op), not through ONNX Runtime's
  fused int8 kernels, whose 16-bit saturation on CPUs without VNNI would be measured instead of the quantization."""

import importlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from workbench.model import batch_shapes, generate_feeds, load_model
from workbench.precision import calibrate, quantize
from workbench.precision.accuracy import run_outputs

calibration = importlib.import_module("workbench.precision.calibrate")


@pytest.mark.parametrize("name", ["yolo_detector", "bert_tiny", "digits_cnn"])
def test_the_calibration_session_computes_what_the_model_computes(name):
    model = load_model(name)
    tensors = calibration.activation_tensors(model)
    session, outputs = calibration.calibration_session(model, tensors)
    apart = {init.name for init in model.proto.graph.initializer} - {
        init.name for init in onnx.load_from_string(calibration._weights_apart(model)[0]).graph.initializer
        if init.data_location != onnx.TensorProto.EXTERNAL
    }
    assert apart, "no weight was handed over as an array"
    for init in model.proto.graph.initializer:
        if init.name in apart:
            assert init.data_type == onnx.TensorProto.FLOAT and len(init.raw_data) >= calibration.EXTERNAL_WEIGHT_BYTES
    whole = onnx.ModelProto()
    whole.CopyFrom(model.proto)
    known = {o.name for o in whole.graph.output}
    whole.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors if t not in known
    )
    reference = ort.InferenceSession(whole.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = generate_feeds(model, batch_shapes(model, 2), seed=4)
    for got, expected in zip(session.run(outputs, feeds), reference.run(tensors, feeds)):
        assert np.array_equal(got, expected)


def test_a_qdq_model_is_measured_as_written_on_every_cpu():
    """The Scan model whose int8 kernels lose 10-20 dB of SQNR on an AVX2 CPU (test_scan_quantize.py)."""
    from test_scan_quantize import _rnn_scan, _samples

    model = load_model(_rnn_scan(nested_if=True), name="rnn_nested")
    quantized = quantize(model, calibrate(model, _samples(6), "minmax", only_quantized=True)).model
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # no fused kernel at all
    plain = ort.InferenceSession(quantized.to_bytes(), options, providers=["CPUExecutionProvider"])
    for feeds in _samples(4, seed=9):
        measured = run_outputs(quantized, [feeds])
        for output, expected in zip(plain.get_outputs(), plain.run(None, feeds)):
            np.testing.assert_allclose(measured[output.name], expected, rtol=1e-4, atol=1e-4)


def test_int8_kernels_on_request_run_what_a_cpu_deployment_runs():
    """``int8_kernels=True``: ONNX Runtime's fused kernels, as the model is deployed on this CPU (with full graph
    optimizations, the same session the workbench's CPU benchmarks time)."""
    from test_scan_quantize import _rnn_scan, _samples

    model = load_model(_rnn_scan(nested_if=True), name="rnn_nested")
    quantized = quantize(model, calibrate(model, _samples(6), "minmax", only_quantized=True)).model
    deployed = ort.InferenceSession(quantized.to_bytes(), providers=["CPUExecutionProvider"])
    feeds = _samples(1, seed=9)[0]
    measured = run_outputs(quantized, [feeds], int8_kernels=True)
    for output, expected in zip(deployed.get_outputs(), deployed.run(None, feeds)):
        np.testing.assert_array_equal(measured[output.name], expected)
