"""MinMax without histograms (``calibrate(..., histograms=False)``, the CPU target's quantize path): the same
table, only ranges read."""

import numpy as np

from workbench.model import load_model
from workbench.precision import calibrate, quantize


def test_minmax_without_histograms_gives_the_same_table_and_quantized_model():
    model = load_model("digits_cnn")
    spec = model.inputs[0]
    data = [np.random.default_rng(i).standard_normal((4, *spec.shape[1:])).astype(np.float32) for i in range(3)]
    full = calibrate(model, data, "minmax")
    ranges = calibrate(model, data, "minmax", histograms=False)
    assert any(h.counts is not None for h in full.histograms.values())
    assert all(h.counts is None for h in ranges.histograms.values())
    assert full.frame.equals(ranges.frame)
    a = quantize(model, full, target="onnxruntime").model.proto.SerializeToString()
    b = quantize(model, ranges, target="onnxruntime").model.proto.SerializeToString()
    assert a == b
