"""The accuracy floor after quantizing, and the placement rules that keep detector outputs alive."""

import numpy as np
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.errors import QuantizationAccuracyError
from workbench.model import load_model
from workbench.precision import calibrate, check_quantized, quantize


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
