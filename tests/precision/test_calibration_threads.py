"""Spreading the per-tensor statistics over the cores (calibrate.calibration_threads) changes no count, range or
threshold: the tables equal those of the one-thread computation, value for value, for every calibrator."""

import importlib

import numpy as np
import pandas as pd
import pytest

from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import calibrate

calibrate_module = importlib.import_module("workbench.precision.calibrate")  # the module, not the function


@pytest.fixture(scope="module")
def model_and_data():
    model = load_model("digits_cnn")
    return model, digits("calibration")[0][:40]


@pytest.mark.parametrize("calibrator", ["minmax", "entropy2", "percentile", "auto", "mse"])
@pytest.mark.parametrize("only_quantized", [True, False])
def test_threaded_calibration_equals_one_thread(model_and_data, calibrator, only_quantized, monkeypatch):
    model, images = model_and_data
    threaded = calibrate(model, images, calibrator, batch_size=8, only_quantized=only_quantized)
    monkeypatch.setattr(calibrate_module, "calibration_threads", lambda: 1)
    single = calibrate(model, images, calibrator, batch_size=8, only_quantized=only_quantized)
    pd.testing.assert_frame_equal(threaded.frame, single.frame, check_exact=True)
    for name, hist in single.histograms.items():
        if hist.counts is not None:
            assert np.array_equal(hist.counts, threaded.histograms[name].counts)
            assert hist.width == threaded.histograms[name].width


def test_threads_are_the_cores():
    assert calibrate_module.calibration_threads() >= 1


def test_calibration_session_from_merged_bytes_is_the_model_with_the_tensors_as_outputs(model_and_data):
    """The session is made from the model's bytes followed by a graph of the extra outputs (protobuf merges them):
    parsed back, that is the model with those outputs appended, and ONNX Runtime returns the same values as a
    session of a copied, edited model."""
    import onnx
    import onnxruntime as ort

    model, images = model_and_data
    tensors = calibrate_module.activation_tensors(model)
    session, names = calibrate_module.calibration_session(model, tensors)
    assert names == tensors
    assert set(tensors) <= {o.name for o in session.get_outputs()}
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    for name in tensors:
        if name not in {o.name for o in proto.graph.output}:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    reference = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {model.inputs[0].name: images[:4]}
    for got, want in zip(session.run(names, feeds), reference.run(tensors, feeds)):
        np.testing.assert_array_equal(got, want)
