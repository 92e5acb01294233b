"""BuildPanel and BenchmarkPanel: they call the library, show errors as messages and keep what was computed."""

import time

import pytest

from workbench.bench import ResultsStore
from workbench.widgets import BenchmarkPanel, BuildPanel


@pytest.fixture
def store(tmp_path):
    return ResultsStore(tmp_path / "results.sqlite")


def test_build_panel_builds_with_a_precision_plan_and_records_it(store):
    panel = BuildPanel("resnet_tiny", store=store)
    panel.precision.value = "fp16"
    panel.opt_level.value = 2
    panel.build(wait=True)
    assert panel.last_error is None, panel.message.value
    assert panel.result.model.precision == "fp16" and panel.result.config.optimization_level == 2
    assert "float16" in " ".join(d for ds in panel.result.layers.output_dtypes for d in ds)
    assert "Engine layers after fusion" in panel.layers_table.value and panel.progress.value == 1.0
    assert panel.log_view.value  # the TensorRT log is shown
    runs = store.runs("build")
    assert list(runs.precision) == ["fp16"] and runs.engine_layers.iloc[0] == len(panel.result.layers)


def test_build_panel_errors_are_messages_and_keep_the_last_engine(store):
    panel = BuildPanel("resnet_tiny", store=store)
    panel.build(wait=True)
    built = panel.result
    panel.shapes.value = "input:1x3x32"  # wrong rank
    panel.build_button.click()
    panel.wait()
    assert "rank 3" in panel.message.value and "Traceback" not in panel.message.value
    assert panel.result is built  # nothing already computed is lost
    panel.shapes.value = ""
    panel.keep_op_types.value = "Softmax"  # not in this CNN
    panel.build_button.click()
    panel.wait()
    assert "op type &#x27;Softmax&#x27; does not occur" in panel.message.value
    empty = BuildPanel()
    empty.build_button.click()
    assert "choose a model" in empty.message.value


def test_benchmark_panel_runs_a_sweep_records_it_and_draws(store):
    panel = BenchmarkPanel({"fp32": "resnet_tiny"}, store=store)
    panel.batch.value, panel.concurrency.value, panel.duration.value = "1,2", "1", 0.1
    panel.run(wait=True)
    assert panel.last_error is None, panel.message.value
    assert list(panel.results.batch) == [1, 2] and len(store.runs("benchmark")) == 2
    (output,) = panel.chart.outputs
    assert "application/vnd.plotly.v1+json" in output["data"]
    assert "fp32 · onnxruntime · all" in panel.table.value
    panel.chart_kind.value = "latency distribution"
    assert output is not panel.chart.outputs[0]


def test_benchmark_panel_stop_keeps_partial_results(store):
    panel = BenchmarkPanel({"fp32": "resnet_tiny"}, store=store)
    panel.batch.value, panel.duration.value = "1,2,4,8", 1.0
    panel.run()
    deadline = time.time() + 30
    while panel.results.empty and time.time() < deadline:
        time.sleep(0.05)
    panel.stop_button.click()
    panel.wait()
    assert 1 <= len(panel.results) < 4 and panel.results.attrs["partial"] is True
    assert "stopped" in panel.message.value
    assert len(store.runs("benchmark")) == len(panel.results)  # what was measured is recorded


def test_benchmark_panel_bad_input_is_a_message_and_keeps_results(store):
    panel = BenchmarkPanel({"fp32": "resnet_tiny"}, store=store)
    panel.batch.value, panel.duration.value = "1", 0.1
    panel.run(wait=True)
    kept = panel.results
    panel.batch.value = "eight"
    panel.run_button.click()
    assert "batch &#x27;eight&#x27;" in panel.message.value and panel.results is kept
    panel.batch.value = "1"
    panel.choose.value = ()
    panel.run_button.click()
    assert "choose at least one model" in panel.message.value


def test_precision_panel_compares_calibrators_and_shows_histograms():
    from workbench.model.datasets import digits
    from workbench.widgets import PrecisionPanel

    calib_x, _ = digits("calibration")
    test_x, test_y = digits("test")
    panel = PrecisionPanel("digits_cnn", calib_x, eval_data=test_x[:200], labels=test_y[:200])
    for name in ("minmax", "percentile"):
        panel.calibrator.value = name
        panel.batches.value = 2
        panel.run(wait=True)
        assert panel.last_error is None, panel.message.value
    assert list(panel.accuracy.variant) == ["fp32", "int8 minmax for tensorrt", "int8 percentile 99.99 for tensorrt"]
    assert panel.model_out.calibrator == "percentile" and len(panel.table.histograms) == len(panel.table.frame)
    assert panel.table.histograms["image"].count == 64 * 64  # 2 batches x 32 samples x 8x8 pixels
    (histogram,) = panel.histogram.outputs
    shapes = histogram["data"]["application/vnd.plotly.v1+json"]["layout"]["shapes"]
    assert len(shapes) == 2  # one threshold per calibrator run so far
    panel.precision.value = "fp16"
    panel.run(wait=True)
    assert panel.accuracy.variant.iloc[-1] == "fp16" and panel.model_out.precision == "fp16"
    panel.precision.value = "int8"
    panel.percentile.value = 100.0
    panel.calibrator.value = "percentile"
    panel.exclude.value = tuple(panel.exclude.options)  # everything excluded: nothing left to quantize
    panel.run_button.click()
    panel.wait()
    assert "nothing in" in panel.message.value and "could be quantized" in panel.message.value
    assert len(panel.accuracy) == 4  # earlier results kept


def test_precision_panel_without_calibration_data_says_so():
    from workbench.widgets import PrecisionPanel

    panel = PrecisionPanel("digits_cnn")
    panel.run_button.click()
    assert "need calibration data" in panel.message.value


def test_build_panel_int8_needs_and_uses_calibration_data(store):
    from workbench.model.datasets import digits

    panel = BuildPanel("digits_cnn", store=store)
    panel.precision.value = "int8"
    panel.build_button.click()
    assert "needs calibration data" in panel.message.value and panel.result is None
    panel = BuildPanel("digits_cnn", store=store, calibration_data=digits("calibration")[0])
    panel.precision.value, panel.calibrator.value = "int8", "minmax"
    panel.build(wait=True)
    assert panel.last_error is None, panel.message.value
    assert "int8" in [d for ds in panel.result.layers.output_dtypes for d in ds]
    runs = store.runs("build")
    assert list(runs.precision) == ["int8"] and list(runs.calibrator) == ["minmax"]


def test_precision_panel_stop_keeps_earlier_results():
    import time

    import numpy as np

    from workbench.widgets import PrecisionPanel

    slow = (np.random.default_rng(0).random((4000, 1, 8, 8)) * 0.5).astype(np.float32)

    def batches():  # a slow stream of calibration batches
        for i in range(0, len(slow), 8):
            time.sleep(0.02)
            yield {"image": slow[i:i + 8]}

    panel = PrecisionPanel("digits_cnn", slow[:64])
    panel.run(wait=True)
    first = panel.model_out
    panel.calibration_data = batches()
    panel.run()
    time.sleep(0.3)
    panel.stop_button.click()
    panel.wait()
    assert "stopped after" in panel.message.value and panel.model_out is first
    assert panel.stop_button.disabled and not panel.run_button.disabled
