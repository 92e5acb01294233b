"""Stored numbers say what they are: agreement with FP32 is never stored or charted as accuracy; TensorRT rows
carry quality numbers only when the engine produced them; stopped or unmet searches say so; throughput comes from
wall time."""

import json
import sqlite3
import threading
import time

import numpy as np
import pandas as pd
import pytest

from workbench import charts
from workbench.bench import BenchmarkConfig, ResultsStore, Runner, measure, sweep
from workbench.bench.harness import Measurement
from workbench.bench.quality import measured_quality_only, quality_tags
from workbench.bench.runners import Worker
from workbench.bench.store import SCHEMA_VERSION
from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import accuracy_table, apply_precision, calibrate, layer_sensitivity, mixed_precision

from models import conv_bn_relu

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.05, min_iterations=5)


@pytest.fixture(scope="module")
def digits_setup():
    model = load_model("digits_cnn")
    calib_x, _ = digits("calibration")
    test_x, test_y = digits("test")
    return model, calibrate(model, calib_x[:64], "percentile", percentile=99.0), test_x[:120], test_y[:120]


# --- 7: agreement is not accuracy -----------------------------------------------------------------------------------
def test_agreement_on_random_inputs_is_tagged_agreement_and_accuracy_needs_labels(digits_setup):
    model, table, test_x, test_y = digits_setup
    int8 = apply_precision(model, "int8", table)
    random_inputs = np.random.default_rng(0).uniform(0, 1, test_x.shape).astype(np.float32)
    without_labels = accuracy_table(model, {"int8": int8}, random_inputs).iloc[1].to_dict()
    assert quality_tags(without_labels) == {"agreement": without_labels["top1_agreement"]}
    with_labels = accuracy_table(model, {"int8": int8}, test_x, labels=test_y).iloc[1].to_dict()
    assert quality_tags(with_labels) == {"accuracy": with_labels["accuracy"]}


def test_the_app_tags_benchmarks_with_agreement_when_there_are_no_labels(tmp_path):
    from workbench.widgets.app import App

    app = App(load_model(conv_bn_relu(), name="conv_bn_relu"), store=ResultsStore(tmp_path / "r.sqlite"))
    converted = apply_precision(app.model, "fp16")
    app.precision_panel.accuracy = pd.DataFrame([{"variant": "fp32", "top1_agreement": 1.0, "sqnr_db": np.inf}])
    app._converted(converted, {"variant": "fp16", "top1_agreement": 0.95, "sqnr_db": 40.0})
    assert app.benchmark_panel.variant_tags == {"fp16": {"agreement": 0.95}, "fp32": {"agreement": 1.0}}


def test_the_store_keeps_agreement_apart_from_accuracy_and_migrates_old_stores(tmp_path):
    path = tmp_path / "r.sqlite"
    tiny = load_model(conv_bn_relu(), name="conv_bn_relu")
    sweep({"a": tiny, "b": tiny}, config=QUICK, store=path,
          variant_tags={"a": {"agreement": 0.9}, "b": {"accuracy": 0.8}})
    runs = ResultsStore(path).runs()
    assert list(runs.agreement.fillna(-1)) == [0.9, -1] and list(runs.accuracy.fillna(-1)) == [-1, 0.8]
    with sqlite3.connect(path) as conn:  # as a store written by the previous version
        conn.execute("ALTER TABLE runs DROP COLUMN agreement")
        conn.execute("DROP INDEX runs_uid")
        conn.execute("ALTER TABLE runs DROP COLUMN uid")
        conn.execute("PRAGMA user_version = 2")
    reopened = ResultsStore(path)
    assert "agreement" in reopened.runs().columns and reopened.runs().agreement.isna().all()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_pareto_chart_says_whether_it_shows_accuracy_or_agreement():
    rows = pd.DataFrame({"label": ["fp32", "int8"], "latency_ms_median": [2.0, 1.0], "agreement": [1.0, 0.96]})
    fig = charts.pareto(rows)
    assert "agreement with FP32" in fig.layout.yaxis.title.text and "not accuracy" in fig.layout.yaxis.title.text
    assert fig.layout.title.text.startswith("Agreement")
    fig = charts.pareto(rows.assign(accuracy=[0.98, 0.97]))
    assert fig.layout.yaxis.title.text == "accuracy (labelled data)" and list(fig.data[-1].y) == [0.97, 0.98]


# --- 8: TensorRT rows carry quality numbers only when the engine produced them --------------------------------------
def _measurement(backend: str) -> Measurement:
    return Measurement({"backend": backend, "backend_version": "x", "device": "gpu", "model": "m"}, 1, 1,
                       np.array([1.0, 1.1, 0.9]), 0.003, 1)


def test_tensorrt_rows_carry_accuracy_only_when_measured_by_running_the_engine(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.record_measurement(_measurement("tensorrt"), tags={"accuracy": 0.98})  # measured with ONNX Runtime
    store.record_measurement(_measurement("tensorrt"), tags={"accuracy": 0.97, "quality_measured_on": "tensorrt"})
    store.record_measurement(_measurement("onnxruntime"), tags={"accuracy": 0.98, "agreement": 0.99})
    runs = store.runs()
    assert np.isnan(runs.accuracy[0]) and "onnxruntime" in json.loads(runs.extra[0])["quality_note"]
    assert runs.accuracy[1] == 0.97 and (runs.accuracy[2], runs.agreement[2]) == (0.98, 0.99)
    assert measured_quality_only(measured_quality_only({"agreement": 0.9, "quality_measured_on": "tensorrt"},
                                                       "tensorrt"), "tensorrt")["agreement"] == 0.9


# --- 10: stopped sensitivity, unmet targets ---------------------------------------------------------------------------
def test_layer_sensitivity_stopped_early_returns_its_rows_marked_partial(digits_setup):
    model, table, test_x, test_y = digits_setup
    stop = threading.Event()
    stop.set()
    none = layer_sensitivity(model, table, test_x, labels=test_y, cancel=stop)
    assert none.empty and list(none.columns) == ["node", "op", "sqnr_db", "cosine", "accuracy"]
    assert none.attrs["partial"] and none.attrs["planned"] == 5  # the 10-class head stays float (K or N under 16)
    stop = threading.Event()
    some = layer_sensitivity(model, table, test_x, cancel=stop, on_progress=lambda stage, f: stop.set())
    assert len(some) == 1 and some.attrs["partial"]
    assert not layer_sensitivity(model, table, test_x).attrs["partial"]


def test_mixed_precision_says_when_the_target_was_not_met(digits_setup):
    model, table, test_x, test_y = digits_setup
    plan, steps = mixed_precision(model, table, test_x, labels=test_y, target_accuracy=1.01)
    assert not steps.attrs["target_met"] and not steps.target_met.any()
    assert "target accuracy 1.01 not met" in steps.attrs["note"]
    plan, steps = mixed_precision(model, table, test_x, target_sqnr_db=0.0)
    assert steps.attrs["target_met"] and steps.target_met.iloc[-1] and "note" not in steps.attrs


# --- 11: throughput from wall time --------------------------------------------------------------------------------------
class SleepyRunner(Runner):
    """Each inference sleeps 2 ms; the ``interrupt_at``-th call raises KeyboardInterrupt (a notebook's Stop)."""

    backend = "sleepy"

    def __init__(self, interrupt_at: int):
        self.interrupt_at = interrupt_at
        self.calls = 0

    def describe(self):
        return {"backend": self.backend, "backend_version": "1", "device": "cpu", "model": "sleepy"}

    def make_feeds(self, batch=1, shapes=None):
        return {}

    def workers(self, count, feeds):
        def infer():
            self.calls += 1
            if self.calls == self.interrupt_at:
                raise KeyboardInterrupt
            time.sleep(0.002)
        return [Worker(infer) for _ in range(count)]


def test_throughput_of_an_interrupted_run_comes_from_wall_time_not_summed_latencies():
    # A slow progress callback runs between timed iterations: wall time includes it, summed latencies do not.
    started = time.perf_counter()
    m = measure(SleepyRunner(interrupt_at=120), config=BenchmarkConfig(warmup_s=0.0, duration_s=30),
                on_progress=lambda stage, fraction: time.sleep(0.05))
    elapsed = time.perf_counter() - started
    assert m.partial and m.iterations > 50
    summed_s = m.samples_ms.sum() / 1e3
    assert m.wall_s > 1.3 * summed_s and m.wall_s <= elapsed
    assert m.throughput == pytest.approx(m.iterations / m.wall_s)
