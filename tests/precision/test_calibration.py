"""Calibrators cross-checked: MinMax = ONNX Runtime's MinMax; Entropy = an independent implementation of the
TensorRT search; Percentile = numpy's percentile within one bin. Calibration data sources and bad inputs."""

import math

import numpy as np
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from workbench.errors import ConfigError
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import CalibrationData, CalibrationTable, calibrate
from workbench.precision.calibrators import entropy_amax, percentile_amax
from workbench.precision.histogram import MAX_BINS, TensorHistogram



@pytest.fixture(scope="module")
def digits_model():
    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def calib():
    return digits("calibration")[0]


def reference_entropy_threshold(x: np.ndarray) -> float:
    """TensorRT's entropy calibration, written out plainly from the GTC 2017 pseudocode (with the shipped rules:
    first bin discarded, single-point candidates skipped), for cross-checking the library's vectorised version."""
    a = np.abs(x.astype(np.float64)).ravel()
    amax = a.max()
    hist, edges = np.histogram(a, bins=2048, range=(0.0, amax))
    hist = [float(v) for v in hist]  # plain floats: the loops below are plain Python (numpy scalars only slow them)
    hist[0] = 0.0
    width = edges[1] - edges[0]
    best_i, best_kl = None, math.inf
    for i in range(128, 2049):
        p = hist[:i]
        p[i - 1] += sum(hist[i:])
        if sum(1 for v in p if v > 0) < 2:
            continue
        q = [0.0] * i
        per_level = i // 128
        for level in range(128):
            start = level * per_level
            stop = i if level == 127 else start + per_level
            chunk = hist[start:stop]
            nonzero = sum(1 for v in chunk if v > 0)
            if nonzero:
                share = sum(chunk) / nonzero  # a level's count spread evenly over its non-empty bins
                for k in range(start, stop):
                    if hist[k] > 0:
                        q[k] = share
        ps, qs = sum(p), sum(q)
        kl = 0.0
        for pk, qk in zip(p, q):
            if pk > 0:
                if qk == 0:
                    kl = math.inf
                    break
                kl += (pk / ps) * math.log((pk / ps) / (qk / qs))
        if kl < best_kl:
            best_i, best_kl = i, kl
    return (best_i + 0.5) * width


@pytest.mark.parametrize("distribution", ["laplace", "relu_normal", "uniform_outliers"])
def test_entropy_agrees_with_a_plain_implementation_of_the_tensorrt_algorithm(distribution):
    rng = np.random.default_rng(1)
    x = {"laplace": lambda: rng.laplace(size=200_000),
         "relu_normal": lambda: np.maximum(rng.standard_normal(200_000), 0),
         "uniform_outliers": lambda: np.concatenate([rng.uniform(-1, 1, 200_000), [25.0, -40.0]])}[distribution]()
    x = x.astype(np.float32)
    hist = TensorHistogram("t")
    hist.update(x)
    ours, theirs = entropy_amax(hist), reference_entropy_threshold(x)
    assert abs(ours - theirs) <= hist.width + 1e-6, (ours, theirs)
    assert ours < np.abs(x).max()  # entropy clips: this is the point of it


def test_percentile_agrees_with_numpy_within_one_bin():
    x = np.random.default_rng(2).standard_normal(500_000).astype(np.float32) * 3
    hist = TensorHistogram("t")
    for chunk in np.array_split(x, 7):  # streamed: the histogram grows with the data
        hist.update(chunk)
    for p in (99.9, 99.99, 99.999):
        assert abs(percentile_amax(hist, p) - np.percentile(np.abs(x), p)) <= hist.width


def test_minmax_equals_onnxruntime_minmax_calibrator(digits_model, calib, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, create_calibrator

    ours = calibrate(digits_model, calib, "minmax", batch_size=50).frame.set_index("tensor")
    path = tmp_path / "m.onnx"
    digits_model.save(path)
    calibrator = create_calibrator(path, None, augmented_model_path=str(tmp_path / "aug.onnx"),
                                   calibrate_method=CalibrationMethod.MinMax)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": calib[i:i + 50]} for i in range(0, len(calib), 50)])

        def get_next(self):
            return next(self.batches, None)

    calibrator.collect_data(Reader())
    theirs = calibrator.compute_data()
    common = [t for t in ours.index if t in theirs.data]
    assert len(common) >= 10
    for tensor in common:
        low, high = (float(np.asarray(v).ravel()[0]) for v in theirs.data[tensor].range_value)
        assert ours.loc[tensor, "min"] == pytest.approx(low, rel=1e-6, abs=1e-7)
        assert ours.loc[tensor, "max"] == pytest.approx(high, rel=1e-6, abs=1e-7)
        assert ours.loc[tensor, "amax"] == pytest.approx(max(abs(low), abs(high)), rel=1e-6)


def test_each_calibrator_gives_scales_and_entropy_clips_less_than_max(digits_model, calib):
    tables = {c: calibrate(digits_model, calib, c) for c in ("minmax", "entropy2", "percentile", "mse")}
    for name, table in tables.items():
        f = table.frame
        assert (f["scale"] == f["amax"] / 127).all() and (f["amax"] > 0).all(), name
        assert (f["amax"] <= f["absmax"] + 1e-6).all(), name
    assert (tables["entropy2"].frame.amax <= tables["minmax"].frame.amax + 1e-6).all()
    fp8 = calibrate(digits_model, calib, "minmax", precision="fp8").frame
    assert np.allclose(fp8["scale"], fp8["amax"] / 448)


def test_entropy_v1_calibrates_only_tensors_that_survive_fusion(digits_model, calib):
    from workbench.engines import build_engine

    groups = list(build_engine(digits_model).layers.onnx_nodes)
    v2 = calibrate(digits_model, calib, "entropy2")
    v1 = calibrate(digits_model, calib, "entropy", fusion_groups=groups)
    assert set(v1.frame.tensor) < set(v2.frame.tensor)
    # A Conv's output that feeds only its fused ReLU exists only inside the engine layer.
    assert "/stem/stem.0/Conv_output_0" in set(v2.frame.tensor) - set(v1.frame.tensor)
    assert "after fusion" in v1.notes[0]
    assert "no engine fusion groups" in calibrate(digits_model, calib[:20], "entropy").notes[0]


def test_tables_round_trip_through_json_and_tensorrt_cache(digits_model, calib, tmp_path):
    table = calibrate(digits_model, calib, "entropy2")
    back = CalibrationTable.load_json(table.save_json(tmp_path / "t.json"))
    assert back.amax == table.amax and back.calibrator == "entropy2"
    cache = table.save_tensorrt_cache(tmp_path / "calibration.cache", tensorrt_version="10.3.0")
    lines = cache.read_text().splitlines()
    assert lines[0] == "TRT-100300-EntropyCalibration2"
    name, value = lines[1].split(": ")
    assert name == "image" and len(value) == 8
    read = CalibrationTable.load_tensorrt_cache(cache)
    assert np.allclose(read.frame.scale, table.frame.scale, rtol=1e-7)
    # The known example from TensorRT caches: 3c010a14 is a scale of 0.007876 (amax ~ 1.0).
    (tmp_path / "known.cache").write_text("TRT-8601-EntropyCalibration2\nconv1: 3c010a14\n")
    known = CalibrationTable.load_tensorrt_cache(tmp_path / "known.cache")
    assert known.frame.scale[0] == pytest.approx(0.007876, rel=1e-4) and known.calibrator == "entropy2"
    (tmp_path / "bad.cache").write_text("not a cache\n")
    with pytest.raises(ConfigError, match="not a TensorRT calibration cache"):
        CalibrationTable.load_tensorrt_cache(tmp_path / "bad.cache")


def test_calibration_data_sources(digits_model, calib, tmp_path):
    folder = tmp_path / "npy"
    folder.mkdir()
    for i in range(30):
        np.save(folder / f"{i:03d}.npy", calib[i, 0][None])  # one sample per file, no batch axis
    np.savez(tmp_path / "batch.npz", image=calib[:30])
    reference = calibrate(digits_model, calib[:30], "minmax").amax
    assert calibrate(digits_model, folder, "minmax").amax == pytest.approx(reference)
    assert calibrate(digits_model, tmp_path / "batch.npz", "minmax").amax == pytest.approx(reference)
    generator = ({"image": calib[i:i + 10]} for i in range(0, 30, 10))
    assert calibrate(digits_model, generator, "minmax").amax == pytest.approx(reference)
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(30):
        np.savetxt(texts / f"{i:03d}.txt", calib[i, 0])
    from_files = calibrate(digits_model, texts, "minmax",
                           preprocess=lambda p: np.loadtxt(p, dtype=np.float32)[None])
    assert from_files.amax == pytest.approx(reference, rel=1e-6)
    assert calibrate(digits_model, calib, "minmax", samples=30).amax == pytest.approx(reference)
    progress = []
    calibrate(digits_model, calib, "minmax", batch_size=100, on_progress=lambda stage, f: progress.append(f))
    assert progress[-1] == 1.0 and len(progress) == 3


def test_histograms_stay_bounded_with_outliers():
    hist = TensorHistogram("t")
    rng = np.random.default_rng(0)
    hist.update(rng.uniform(-0.001, 0.001, 10_000).astype(np.float32))
    for scale in (1.0, 100.0, 1e5):
        hist.update(rng.uniform(-scale, scale, 10_000).astype(np.float32))
    assert len(hist.counts) <= MAX_BINS and hist.counts.sum() == 40_000
    assert hist.absmax == pytest.approx(1e5, rel=1e-3)


def _nan_model():
    nodes = [h.make_node("Sqrt", ["x"], ["s"], name="sqrt"),
             h.make_node("MatMul", ["s", "w"], ["y"], name="mm")]
    g = h.make_graph(nodes, "nan", [h.make_tensor_value_info("x", T.FLOAT, ["N", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", 2])],
                     [nh.from_array(np.ones((4, 2), np.float32), "w")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_bad_calibration_inputs_name_the_input_and_expected_shape(digits_model, calib, tmp_path):
    with pytest.raises(ConfigError, match=r"'pixels' is not an input of .*image \[batch, 1, 8, 8\]"):
        calibrate(digits_model, {"pixels": calib}, "minmax")
    with pytest.raises(ConfigError, match=r"input 'image' calibration data.*shape: dimension 2 is fixed at 8"):
        calibrate(digits_model, calib[:, :, :4], "minmax")
    with pytest.raises(ConfigError, match="input 'image' has dtype float64, the model expects float32"):
        calibrate(digits_model, calib.astype(np.float64), "minmax")
    bad = calib.copy()
    bad[40, 0, 3, 3] = np.nan
    with pytest.raises(ConfigError, match=r"samples 32\.\.63\): input 'image' contains NaN"):
        calibrate(digits_model, bad, "minmax", batch_size=32)
    with pytest.raises(ConfigError, match="produces NaN in tensor 's'"):
        calibrate(load_model(_nan_model()), -np.ones((4, 4), np.float32), "minmax")
    with pytest.raises(ConfigError, match="calibration data is empty"):
        calibrate(digits_model, calib[:0], "minmax")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is empty"):
        calibrate(digits_model, tmp_path / "empty", "minmax")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.npy").write_bytes(b"not numpy")
    with pytest.raises(ConfigError, match="a.npy cannot be read as .npy/.npz"):
        calibrate(digits_model, tmp_path / "broken", "minmax")
    with pytest.raises(ConfigError, match="calibrator 'kl' is unknown"):
        calibrate(digits_model, calib, "kl")
    with pytest.raises(ConfigError, match="calibration precision 'int4'"):
        calibrate(digits_model, calib, "minmax", precision="int4")
    generator = ({"image": calib[i:i + 10]} for i in range(0, 30, 10))
    data = CalibrationData(generator, digits_model)
    list(data)
    with pytest.raises(ConfigError, match="already used up"):
        list(data)


def test_calibration_can_be_stopped(digits_model, calib):
    import threading

    from workbench.errors import CalibrationCancelled

    stop = threading.Event()
    seen = []

    def progress(stage, fraction):
        seen.append(fraction)
        stop.set()  # stop after the first batch
    with pytest.raises(CalibrationCancelled, match="stopped after 32 samples"):
        calibrate(digits_model, calib, "minmax", batch_size=32, on_progress=progress, cancel=stop)
    assert len(seen) == 1


def test_percentile_and_mse_scales_are_never_written_as_a_tensorrt_calibrator_cache(digits_model, calib, tmp_path):
    for name in ("percentile", "mse"):
        with pytest.raises(ConfigError, match=f"'{name}' is not a TensorRT calibrator"):
            calibrate(digits_model, calib[:20], name).save_tensorrt_cache(tmp_path / f"{name}.cache")


def test_every_calibrator_comes_from_the_registry():
    from workbench.precision.calibrators import AMAX_FUNCTIONS, CALIBRATORS, calibrator_amax

    x = np.concatenate([np.random.default_rng(3).laplace(size=50_000), [30.0]]).astype(np.float32)
    hist = TensorHistogram("t")
    hist.update(x)
    assert CALIBRATORS == tuple(AMAX_FUNCTIONS) == ("minmax", "entropy", "entropy2", "percentile", "mse", "auto")
    chosen = {name: calibrator_amax(name, hist, 99.9) for name in CALIBRATORS}
    assert chosen["minmax"] == hist.absmax and chosen["entropy"] == chosen["entropy2"] == entropy_amax(hist)
    assert chosen["percentile"] == percentile_amax(hist, 99.9)
    assert chosen["auto"] in (chosen["minmax"], chosen["entropy"])  # the lower-MSE of the two
    assert all(0 < amax < hist.absmax for name, amax in chosen.items() if name not in ("minmax", "auto"))  # they clip
    with pytest.raises(ConfigError, match="unknown"):
        calibrator_amax("kl", hist)
