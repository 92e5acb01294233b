"""The accuracy floor after quantizing, and the placement rules that keep detector outputs alive."""

import numpy as np
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.errors import QuantizationAccuracyError
from workbench.model import load_model
from workbench.precision import calibrate, check_quantized, quantize
from workbench.precision.calibrators import auto_amax, entropy_amax
from workbench.precision.histogram import TensorHistogram
from workbench.precision.qdq import quantized_activations


@pytest.fixture(scope="module")
def detector():
    """A detector head as YOLO exports it: pixel boxes (0-480) and class probabilities (0-1) joined by one Concat
    that writes the graph output."""
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.3, "stem.w"),
             nh.from_array(rng.standard_normal((4, 16, 1, 1)).astype(np.float32) * 0.3, "box.w"),
             nh.from_array(rng.standard_normal((8, 16, 1, 1)).astype(np.float32) * 0.3, "cls.w"),
             nh.from_array(np.full(8, -2.0, np.float32), "cls.b"),
             nh.from_array(np.array(480.0, np.float32), "image_size")]
    nodes = [h.make_node("Conv", ["images", "stem.w"], ["stem"], name="stem/conv", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["stem"], ["stem_relu"], name="stem/relu"),
             h.make_node("Conv", ["stem_relu", "box.w"], ["box_logits"], name="box/conv"),
             h.make_node("Sigmoid", ["box_logits"], ["box_unit"], name="box/sigmoid"),
             h.make_node("Mul", ["box_unit", "image_size"], ["boxes"], name="box/scale"),
             h.make_node("Conv", ["stem_relu", "cls.w", "cls.b"], ["cls_logits"], name="cls/conv"),
             h.make_node("Sigmoid", ["cls_logits"], ["scores"], name="cls/sigmoid"),
             h.make_node("Concat", ["boxes", "scores"], ["output0"], name="head/concat", axis=1)]
    graph = h.make_graph(nodes, "detector", [h.make_tensor_value_info("images", T.FLOAT, ["N", 3, 8, 8])],
                         [h.make_tensor_value_info("output0", T.FLOAT, ["N", 12, 8, 8])], inits)
    model = load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), name="tiny_detector")
    images = rng.random((48, 3, 8, 8)).astype(np.float32)
    return model, images[:32], images[32:]


def test_destroyed_detector_scores_are_caught_and_explained(detector):
    model, calibration, held_back = detector
    table = calibrate(model, calibration, "minmax")
    everything = quantize(model, table, target="onnxruntime", rules=False, reduce_range=True).model
    with pytest.raises(QuantizationAccuracyError, match=r"output 'output0': \d+% of its non-zero values come out 0") \
            as caught:
        check_quantized(model, everything, held_back)
    assert "written by 'head/concat' (step" in str(caught.value)  # names the tensor whose step is too coarse
    row = caught.value.report.iloc[0]
    assert not row.passed and row.zeroed > 0.5
    with pytest.warns(RuntimeWarning, match="below the accuracy floor"):
        check_quantized(model, everything, held_back, on_failure="warn")
    # The placement rule keeps the output Concat (and what writes it) in float: no score is zeroed.
    kept = quantize(model, table, target="onnxruntime", reduce_range=True)
    assert kept.report.set_index("node").loc["head/concat"].note.startswith("writes graph output")
    report = check_quantized(model, kept.model, held_back)
    assert report.passed.all() and report.zeroed.iloc[0] < 0.01 and report.sqnr_db.iloc[0] > 20


def test_calibrate_only_what_gets_qdq(detector):
    model, calibration, _ = detector
    placed = quantized_activations(model)
    assert placed == ["images", "stem_relu"]  # the inputs of the three Convs (no skip Add here)
    full = calibrate(model, calibration, "entropy2")
    only = calibrate(model, calibration, "entropy2", only_quantized=True)
    assert list(only.frame.tensor) == placed and len(full) == 9
    assert only.amax == {t: full.amax[t] for t in placed}  # the same ranges, a quarter of the histograms
    assert "calibrated the 2 of 9 activations that get Q/DQ" in only.notes
    assert quantize(model, only).counts["quantized_nodes"] == 3


def test_auto_calibrator_keeps_the_lower_error_threshold():
    rng = np.random.default_rng(0)
    # A detector tensor: mostly small values, 1 % large box coordinates that entropy clips at 180 of 480.
    boxes = TensorHistogram("boxes")
    boxes.update(np.concatenate([np.abs(rng.laplace(0, 2, 200_000)), rng.uniform(100, 480, 2_000)]).astype(np.float32))
    amax, chosen = auto_amax(boxes)
    assert chosen == "minmax" and amax == boxes.absmax and entropy_amax(boxes) < 0.5 * boxes.absmax
    outlier = TensorHistogram("outlier")  # Laplace data plus one huge value: MinMax wastes every level on it
    outlier.update(np.append(rng.laplace(0, 1, 200_000), 50.0).astype(np.float32))
    amax, chosen = auto_amax(outlier)
    assert chosen == "entropy" and amax < 0.3 * outlier.absmax


def test_calibration_data_with_mixed_preprocessing_warns(detector):
    model, calibration, _ = detector
    mixed = calibration.copy()
    mixed[:4] *= 255.0 * 100  # raw values beside normalized ones
    with pytest.warns(RuntimeWarning, match=r"input 'images' has per-sample RMS from .* apart"):
        calibrate(model, mixed, "minmax", only_quantized=True)


def test_all_depthwise_model_says_what_int8_buys():
    rng = np.random.default_rng(0)
    graph = h.make_graph(
        [h.make_node("Conv", ["x", "dw.w"], ["y"], name="dw", group=8, pads=[1, 1, 1, 1]),
         h.make_node("Relu", ["y"], ["z"], name="relu")], "depthwise",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 8, 8, 8])],
        [h.make_tensor_value_info("z", T.FLOAT, ["N", 8, 8, 8])],
        [nh.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "dw.w")])
    model = load_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), name="depthwise_only")
    table = calibrate(model, rng.standard_normal((8, 8, 8, 8)).astype(np.float32), "minmax")
    result = quantize(model, table)
    assert any("every weighted op is a depthwise convolution: INT8 buys memory traffic only" in n
               for n in result.notes)
