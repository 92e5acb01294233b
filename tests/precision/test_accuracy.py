"""Accuracy of lower precisions: metrics, the accuracy table of the trained model, sensitivity, mixed precision."""

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import (CALIBRATORS, accuracy_table, apply_precision, calibrate, layer_sensitivity,
                                 mixed_precision, quantize)
from workbench.precision.accuracy import error_metrics


@pytest.fixture(scope="module")
def setup():
    model = load_model("digits_cnn")
    calib_x, _ = digits("calibration")
    test_x, test_y = digits("test")
    return model, calib_x, test_x, test_y


def test_error_metrics_by_definition():
    ref = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    noisy = ref + np.array([[0.1, 0.0, 0.0], [0.0, 0.0, -0.1]])
    m = error_metrics(ref, noisy)
    assert m["max_abs_error"] == pytest.approx(0.1)
    assert m["sqnr_db"] == pytest.approx(10 * np.log10((ref ** 2).sum() / 0.02))
    assert m["top1_agreement"] == 1.0 and 0.99 < m["cosine"] < 1.0
    assert error_metrics(ref, ref)["sqnr_db"] == float("inf")
    swapped = ref[:, ::-1].copy()
    assert error_metrics(ref, swapped)["top1_agreement"] == 0.0


def test_accuracy_table_for_fp32_fp16_and_int8_with_each_calibrator(setup):
    model, calib_x, test_x, test_y = setup
    candidates = {"fp16": apply_precision(model, "fp16")}
    for name in CALIBRATORS:
        table = calibrate(model, calib_x, name)
        candidates[f"int8 {name}"] = quantize(model, table).model
    frame = accuracy_table(model, candidates, test_x, labels=test_y)
    assert list(frame.variant) == ["fp32", "fp16", *(f"int8 {c}" for c in CALIBRATORS)]
    assert list(frame.precision) == ["fp32", "fp16"] + ["int8"] * len(CALIBRATORS)
    fp32 = frame.set_index("variant").loc["fp32"]
    assert fp32.accuracy == pytest.approx(0.9822, abs=1e-3) and fp32.sqnr_db == float("inf")
    assert (frame.accuracy >= fp32.accuracy - 0.02).all(), frame
    assert frame.set_index("variant").loc["fp16"].sqnr_db > 50


def test_sensitivity_and_mixed_precision(setup):
    model, calib_x, test_x, test_y = setup
    table = calibrate(model, calib_x, "percentile", percentile=99.0)  # aggressive clipping: something to fix
    sensitivity = layer_sensitivity(model, table, test_x, labels=test_y)
    assert len(sensitivity) == 5 and list(sensitivity.sqnr_db) == sorted(sensitivity.sqnr_db)
    full = quantize(model, table).model
    from workbench.precision import compare

    full_acc = compare(model, full, test_x, labels=test_y).accuracy[0]
    target = min(0.982, full_acc + 0.005)
    plan, steps = mixed_precision(model, table, test_x, labels=test_y, target_accuracy=target,
                                  sensitivity=sensitivity)
    assert steps.accuracy.iloc[-1] >= target
    assert list(plan.keep_nodes) == list(sensitivity.node[:len(plan.keep_nodes)])
    kept = apply_precision(model, plan, table)
    assert compare(model, kept, test_x, labels=test_y).accuracy[0] == pytest.approx(steps.accuracy.iloc[-1])
    with pytest.raises(ConfigError, match="exactly one of"):
        mixed_precision(model, table, test_x, labels=test_y)
    with pytest.raises(ConfigError, match="needs labels"):
        mixed_precision(model, table, test_x, target_accuracy=0.9)
