"""The library logic the Compare panel and the lessons share: the latest run per label, then the baseline; and the
default calibration/evaluation data of the App."""

import numpy as np
import pandas as pd
import pytest

from workbench.bench import ResultsStore, latest_runs
from workbench.precision.sample_data import default_data


def _runs(rows):
    return pd.DataFrame(rows, columns=["id", "label", "precision", "batch", "concurrency", "latency_ms_median"])


def test_latest_run_per_label_then_fp32_baseline():
    runs = _runs([(1, "int8", "int8", 1, 1, 5.0), (2, "fp32", "fp32", 1, 1, 9.0), (3, "int8", "int8", 1, 1, 4.0),
                  (4, "int8", "int8", 8, 1, 20.0)])
    chosen = latest_runs(runs.iloc[::-1])  # order of the frame does not matter: ids do
    assert list(chosen.runs["id"]) == [2, 3, 4] and chosen.baseline == "fp32"


def test_baseline_without_fp32_is_the_first_label_and_empty_has_none():
    runs = _runs([(1, "fp16", "fp16", 1, 1, 5.0), (2, "int8", None, 1, 1, 4.0)])
    assert latest_runs(runs).baseline == "fp16"
    assert latest_runs(_runs([])).baseline is None


def test_compare_panel_uses_latest_runs(tmp_path):
    from workbench.widgets import ComparePanel

    store = ResultsStore(tmp_path / "r.sqlite")
    panel = ComparePanel(store)
    assert not hasattr(panel, "set_model")  # the model is an attribute; refresh() redraws
    panel.refresh()
    assert "no benchmark recorded" in panel.message.value


def test_default_data_random_inputs_are_bounded_and_labelled_as_agreement_only():
    data = default_data("resnet_tiny", samples=8)
    assert data.labels is None and "agreement" in data.note
    assert data.calibration["input"].shape[0] == 8 and np.abs(data.calibration["input"]).max() <= 3
    digits = default_data("digits_cnn")
    assert digits.labels is not None and len(digits.labels) == len(digits.evaluation) and "digits" in digits.note


def test_baseline_prefers_the_fp32_variant_on_onnxruntime_and_can_be_given():
    runs = pd.DataFrame({"id": [1, 2, 3], "label": ["pytorch eager", "fp32 · onnxruntime · all", "int8"],
                         "variant": ["pytorch eager", "fp32", "int8"], "precision": ["fp32", "fp32", "int8"],
                         "backend": ["pytorch", "onnxruntime", "onnxruntime"], "batch": [1, 1, 1],
                         "concurrency": [1, 1, 1]})
    assert latest_runs(runs).baseline == "fp32 · onnxruntime · all"
    assert latest_runs(runs.drop(columns="variant")).baseline == "fp32 · onnxruntime · all"
    assert latest_runs(runs, baseline="int8").baseline == "int8"
    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="baseline 'fp16' is not among the runs"):
        latest_runs(runs, baseline="fp16")


def test_default_data_takes_the_shapes_of_open_dimensions():
    from workbench.errors import ConfigError

    data = default_data("resnet_tiny", samples=4, shapes={"input": (1, 3, 32, 32)})
    assert data.calibration["input"].shape == (4, 3, 32, 32) and data.evaluation["input"].shape == (4, 3, 32, 32)
    with pytest.raises(ConfigError, match="dimension 2 is fixed at 32"):
        default_data("resnet_tiny", shapes={"input": (1, 3, 16, 16)})
