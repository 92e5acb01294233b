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


def test_the_next_batch_runs_while_the_statistics_of_the_last_are_computed(model_and_data, monkeypatch):
    """Pipelined: ONNX Runtime is asked for batch k+1 before the histograms of batch k are all updated; the counts
    are those of the one-batch-at-a-time loop (the test above), and a failure names its batch."""
    import threading
    import time

    model, images = model_and_data
    events, lock = [], threading.Lock()
    update = calibrate_module.TensorHistogram.update

    def slow_update(self, values, where=""):
        time.sleep(0.002)
        update(self, values, where)
        with lock:
            events.append(("updated", where))

    def batches():
        for k in range(3):
            with lock:
                events.append(("requested", k))
            yield {model.inputs[0].name: images[8 * k : 8 * k + 8]}

    monkeypatch.setattr(calibrate_module.TensorHistogram, "update", slow_update)
    calibrate(model, batches(), "minmax")
    requested = {k: events.index(("requested", k)) for k in range(3)}
    last_update = {k: max(i for i, e in enumerate(events) if e == ("updated", f" (batch {k})")) for k in range(2)}
    assert requested[1] < last_update[0] and requested[2] < last_update[1]

    def failing(self, values, where=""):
        if where == " (batch 1)":
            raise calibrate_module.ConfigError(f"bad tensor{where}")
        update(self, values, where)

    monkeypatch.setattr(calibrate_module.TensorHistogram, "update", failing)
    with pytest.raises(calibrate_module.ConfigError, match=r"bad tensor \(batch 1\)"):
        calibrate(model, batches(), "minmax")
