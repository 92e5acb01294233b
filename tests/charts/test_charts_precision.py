"""Precision charts draw the calibration's own numbers."""

import numpy as np
import pandas as pd
import pytest

from workbench import charts
from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import calibrate


@pytest.fixture(scope="module")
def tables():
    model = load_model("digits_cnn")
    calib_x, _ = digits("calibration")
    return [calibrate(model, calib_x[:100], c) for c in ("minmax", "entropy2", "percentile")]


def test_histogram_marks_each_calibrators_threshold(tables):
    tensor = "/stem/stem.2/Relu_output_0"
    fig = charts.activation_histogram(tables, tensor)
    xs = sorted(shape.x0 for shape in fig.layout.shapes)
    assert xs == pytest.approx(sorted(t.amax[tensor] for t in tables))
    assert fig.layout.yaxis.type == "log"
    assert sum(fig.data[0].y) == tables[0].histograms[tensor].count
    with pytest.raises(ConfigError, match="no histogram of tensor 'nope'"):
        charts.activation_histogram(tables, "nope")


def test_quantization_mapping_rounds_and_clips():
    fig = charts.quantization_mapping(2.54, values=np.array([0.0, 0.03, 1.0, 9.0, -9.0]))
    q = list(fig.data[2].y)
    assert q == [0, 2, 50, 127, -128]  # scale 0.02: 0.03 rounds to 2 (half to even: 1.5 -> 2), ±9.0 clip to 127/-128
    assert "scale = amax / 127 = 0.02" in fig.layout.title.text
    with pytest.raises(ConfigError, match="amax must be positive"):
        charts.quantization_mapping(0)


def test_accuracy_bars():
    frame = pd.DataFrame({"variant": ["fp32", "int8 minmax"], "precision": ["fp32", "int8"],
                          "calibrator": ["", "minmax"], "accuracy": [0.982, 0.975]})
    fig = charts.accuracy_bars(frame)
    assert list(fig.data[0].y) == [0.982, 0.975] and list(fig.data[0].text) == ["98.20%", "97.50%"]
    with pytest.raises(ConfigError, match="needs column"):
        charts.accuracy_bars(frame, metric="sqnr_db")
