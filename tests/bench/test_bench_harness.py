"""The measurement harness: honest numbers (vs a bare loop), warm-up never counted, partial runs, one at a time."""

import threading
import time

import numpy as np
import pytest

from workbench.bench import BenchmarkConfig, OnnxRuntimeRunner, Runner, latency_stats, measure, sweep
from workbench.bench.runners import Worker, profile_feeds
from workbench.bench.stats import percentile
from workbench.errors import BenchmarkBusyError, BenchmarkError, ConfigError
from workbench.model import load_model

from models import conv_bn_relu

QUICK = BenchmarkConfig(warmup_s=0.02, duration_s=0.15, min_iterations=5)


@pytest.fixture(scope="module")
def tiny():
    return load_model(conv_bn_relu(), name="conv_bn_relu")


class ScriptedRunner(Runner):
    """A runner whose per-call duration is scripted: lets tests see exactly which calls were timed."""

    backend = "scripted"

    def __init__(self, durations_s, raise_at=None):
        self.durations_s = durations_s  # callable: call index -> seconds
        self.calls = 0
        self.raise_at = raise_at

    def describe(self):
        return {"backend": self.backend, "backend_version": "1", "device": "cpu", "model": "scripted"}

    def make_feeds(self, batch=1, shapes=None):
        return {}

    def workers(self, count, feeds):
        lock = threading.Lock()

        def infer():
            with lock:
                index = self.calls
                self.calls += 1
            if self.raise_at is not None and index == self.raise_at[0]:
                raise self.raise_at[1]
            end = time.perf_counter() + self.durations_s(index)
            while time.perf_counter() < end:
                pass
        return [Worker(infer) for _ in range(count)]


def test_trtexec_percentile_and_stats():
    x = np.arange(1, 101, dtype=float)  # 1..100 ms
    # trtexec: sorted sample at n-1-floor((1-p/100)·n) -> p90 of 1..100 is the 90th value (index 89) = 90.
    assert percentile(x, 90) == 90.0
    assert percentile(x, 99) == 99.0
    stats = latency_stats(x[::-1])
    assert (stats["min"], stats["max"], stats["median"], stats["mean"]) == (1.0, 100.0, 50.5, 50.5)
    assert stats["cv"] == pytest.approx(np.std(x) / np.mean(x))


def test_harness_median_matches_a_bare_loop(tiny):
    """The harness's median is within 5 % (or 20 µs) of a bare loop over the same session, interleaved 3 times."""
    runner = OnnxRuntimeRunner(tiny, threads=1)
    feeds = runner.make_feeds(1)
    session = runner.session()
    ratios = []
    for _ in range(3):
        for _ in range(50):
            session.run(None, feeds)
        bare = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            session.run(None, feeds)
            bare.append(time.perf_counter_ns() - t0)
        bare_ms = float(np.median(bare)) / 1e6
        harness_ms = measure(runner, feeds=feeds, config=BenchmarkConfig(warmup_s=0.02, duration_s=0.0,
                                                                        min_iterations=2000, max_iterations=2000)
                             ).stats["median"]
        ratios.append((harness_ms, bare_ms))
    harness_ms, bare_ms = sorted(ratios, key=lambda hb: abs(hb[0] - hb[1]))[0]
    assert abs(harness_ms - bare_ms) <= max(0.05 * bare_ms, 0.020), ratios


def test_warmup_is_never_counted_and_throughput_is_batch_times_iterations_over_wall():
    # Calls are slow (3 ms) while they start in the first 4 ms, so every slow call starts well inside a 50 ms warm-up
    # (a 46 ms margin for a loaded machine to stretch them): warm-up swallows them all. Asserted on counts only.
    started: list[float] = []

    def duration(i):
        now = time.perf_counter()
        started.append(now)
        return 0.003 if now - started[0] < 0.004 else 0.0002

    runner = ScriptedRunner(duration)
    m = measure(runner, batch=4, config=BenchmarkConfig(warmup_s=0.05, duration_s=0.1, min_iterations=5))
    slow_calls = sum(t - started[0] < 0.004 for t in started)
    assert slow_calls >= 1 and m.warmup_iterations >= slow_calls  # calls run in order: the slow ones came first
    assert m.iterations + m.warmup_iterations == runner.calls
    assert m.throughput == pytest.approx(4 * m.iterations / m.wall_s)
    assert m.wall_s >= m.samples_ms.sum() / 1e3  # the wall clock covers every timed iteration

    first = ScriptedRunner(lambda i: 0.005 if i == 0 else 0.0002)
    m = measure(first, config=BenchmarkConfig(warmup_s=0.0, duration_s=0.02, min_iterations=5))
    # the first call (the slow one) is the one warm-up call, even with no warm-up time; every other call is timed
    assert m.warmup_iterations == 1 and m.iterations == first.calls - 1 and len(m.samples_ms) == m.iterations


def test_sweep_rows_never_include_warmup(tiny):
    frame = sweep(tiny, batch=[1, 2], concurrency=[1, 2], config=QUICK)
    assert list(zip(frame.batch, frame.concurrency)) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert (frame.warmup_iterations >= frame.concurrency).all()
    for row in frame.itertuples():
        assert len(row.samples_ms) == row.iterations
        assert row.throughput == pytest.approx(row.batch * row.iterations / row.wall_s)
        assert row.latency_ms_min <= row.latency_ms_median <= row.latency_ms_p99 <= row.latency_ms_max
    assert frame.attrs["partial"] is False


def test_iteration_bounds_are_respected():
    runner = ScriptedRunner(lambda i: 0.0001)
    m = measure(runner, config=BenchmarkConfig(warmup_s=0.0, duration_s=10.0, min_iterations=5, max_iterations=50))
    assert m.iterations == 50
    m = measure(runner, config=BenchmarkConfig(warmup_s=0.0, duration_s=0.0, min_iterations=30))
    assert m.iterations == 30


def test_stopping_keeps_partial_results():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    m = measure(ScriptedRunner(lambda i: 0.001), config=BenchmarkConfig(warmup_s=0.0, duration_s=30.0),
                cancel=stop)
    assert m.partial and 20 < m.iterations < 1000
    assert "partial" in " ".join(m.warnings)


def test_interrupt_keeps_partial_results():
    runner = ScriptedRunner(lambda i: 0.0005, raise_at=(40, KeyboardInterrupt()))
    m = measure(runner, config=BenchmarkConfig(warmup_s=0.0, duration_s=30.0))
    assert m.partial and m.iterations == 39  # call 0 was warm-up, 1..39 timed, 40 interrupted


def test_a_stopped_sweep_keeps_the_configurations_already_measured(tiny):
    stop = threading.Event()
    seen = []

    def on_result(frame):
        seen.append(len(frame))
        if len(frame) == 2:
            stop.set()
    frame = sweep(tiny, batch=[1, 2, 4], config=QUICK, on_result=on_result, cancel=stop)
    assert len(frame) == 2 and frame.attrs["partial"] is True and frame.attrs["planned"] == 3
    assert seen == [1, 2]


def test_a_failing_inference_is_a_benchmark_error():
    runner = ScriptedRunner(lambda i: 0.0, raise_at=(5, RuntimeError("device lost")))
    with pytest.raises(BenchmarkError, match="device lost"):
        measure(runner, config=BenchmarkConfig(warmup_s=0.0, duration_s=1.0))
    runner = ScriptedRunner(lambda i: 0.0, raise_at=(5, RuntimeError("device lost")))
    with pytest.raises(BenchmarkError, match="device lost"):
        measure(runner, concurrency=2, config=BenchmarkConfig(warmup_s=0.0, duration_s=1.0))


def test_two_benchmarks_at_once_are_refused_clearly():
    slow = ScriptedRunner(lambda i: 0.001)
    started = threading.Event()
    result = {}

    def background():
        result["m"] = measure(slow, config=BenchmarkConfig(warmup_s=0.0, duration_s=0.6),
                              on_progress=lambda f, msg: started.set())
    t = threading.Thread(target=background)
    t.start()
    assert started.wait(5)
    with pytest.raises(BenchmarkBusyError, match="still running"):
        measure(ScriptedRunner(lambda i: 0.0), config=QUICK)
    t.join()
    assert not result["m"].partial
    measure(ScriptedRunner(lambda i: 0.0), config=QUICK)  # free again afterwards


def test_concurrency_runs_independent_sessions(tiny):
    m = measure(tiny, concurrency=2, config=QUICK, threads=1)
    assert m.concurrency == 2 and m.iterations >= 5
    assert m.throughput == pytest.approx(m.iterations / m.wall_s)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch=0), "batch size 0"),
    (dict(concurrency=0), "concurrency"),
    (dict(optimization_level="fastest"), "optimization level 'fastest'"),
    (dict(threads=-1), "threads"),
    (dict(backend="tvm"), "backend 'tvm'"),
    (dict(feeds={"image": np.zeros((1, 3, 16, 16), np.float32)}), "'image' is not an input"),
    (dict(feeds={"x": np.zeros((1, 3, 16, 16), np.float64)}), "dtype float64"),
    (dict(feeds={"x": np.zeros((1, 3, 15, 16), np.float32)}), "dimension 2 is fixed at 16"),
])
def test_bad_settings_are_config_errors(tiny, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        measure(tiny, config=QUICK, **kwargs)


def test_bad_benchmark_config():
    with pytest.raises(ConfigError, match="duration_s"):
        BenchmarkConfig(duration_s=-1)
    with pytest.raises(ConfigError, match="max_iterations"):
        BenchmarkConfig(min_iterations=10, max_iterations=5)


def test_fixed_batch_model_refuses_another_batch():
    model = load_model(conv_bn_relu(batch=1))
    with pytest.raises(ConfigError, match="fixed batch of 1"):
        measure(model, batch=8, config=QUICK)


def test_batch_outside_an_engine_profile_is_refused_before_running():
    from workbench.engines import BuildConfig, build_engine

    model = load_model(conv_bn_relu())
    built = build_engine(model, BuildConfig(shapes={"x": ((1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16))}))
    feeds = profile_feeds(built.profiles, {"x": "float32"}, 4)
    assert feeds["x"].shape == (4, 3, 16, 16)
    with pytest.raises(ConfigError, match=r"batch size 8 is outside the engine's profile for input 'x' "
                                          r"\(min \[1, 3, 16, 16\], max \[4, 3, 16, 16\]\)"):
        profile_feeds(built.profiles, {"x": "float32"}, 8)


def test_sweep_over_levels_and_threads_gives_one_row_per_configuration(tiny):
    frame = sweep({"fp32": tiny}, batch=[1], optimization_level=["disable", "all"], threads=[1, 2], config=QUICK)
    assert list(zip(frame.optimization_level, frame.threads)) == [("disable", 1), ("disable", 2), ("all", 1),
                                                                  ("all", 2)]
    assert list(frame.label) == ["fp32 · onnxruntime · disable · 1 threads", "fp32 · onnxruntime · disable · 2 threads",
                                 "fp32 · onnxruntime · all · 1 threads", "fp32 · onnxruntime · all · 2 threads"]
    assert (frame.precision == "fp32").all()
    with pytest.raises(ConfigError, match="sweep axis 'batch' is empty"):
        sweep(tiny, batch=[], config=QUICK)


def test_the_stability_warning_is_the_workbenchs_own_and_says_what_it_measures():
    from workbench.bench.stats import UNSTABLE_CV, unstable_message

    text = unstable_message(0.123)
    assert "12.3%" in text and "wall-clock latency" in text and f"workbench's {UNSTABLE_CV:.0%}" in text
    assert "trtexec" not in text   # trtexec's threshold is about GPU compute time, a different measurement
