"""The instructor's room view: a shared store's runs by machine and GPU, the chart, and a Compare panel that
refreshes itself (on the kernel's IOLoop) while runs arrive."""

import asyncio
import threading
import json

import numpy as np
import pytest
import sqlite3

from workbench import charts
from workbench.bench import BenchmarkConfig, ResultsStore, measure, sweep
from workbench.bench.room import RunsPoller, room_results
from workbench.model import load_model
from workbench.precision import apply_precision

from models import conv_bn_relu

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.03, min_iterations=3)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A store with this machine's fp32/fp16 runs and an attendee's laptop's runs (copied in, as a shared store
    would receive them; its machine facts say another host and GPU)."""
    folder = tmp_path_factory.mktemp("room")
    tiny = load_model(conv_bn_relu(), name="conv_bn_relu")
    variants = {"fp32": tiny, "fp16": apply_precision(tiny, "fp16")}
    shared = ResultsStore(folder / "shared.sqlite")
    sweep(variants, batch=[1, 2], config=QUICK, store=shared)
    laptop = ResultsStore(folder / "laptop.sqlite")
    sweep(variants, batch=[1], config=QUICK, store=laptop)
    with sqlite3.connect(folder / "laptop.sqlite") as conn:
        conn.execute("UPDATE runs SET machine = ?", (json.dumps({"hostname": "attendee-2", "gpu": "NVIDIA L4",
                                                                 "cpu": "laptop cpu"}),))
    assert shared.copy_runs_from(laptop) == 2
    return shared


def test_room_results_give_each_machines_best_speedup_at_like_for_like_settings(room):
    runs = room.runs("benchmark")
    summary = room_results(room, precision="fp16")
    assert list(summary.columns)[:5] == ["machine", "gpu", "cpu", "model", "runs"]
    assert sorted(summary.machine) == sorted({json.loads(m)["hostname"] for m in runs.machine})
    other = summary.set_index("machine").loc["attendee-2"]
    assert other.gpu == "NVIDIA L4" and other.runs == 2 and other.batch == 1
    laptop_runs = runs[runs.machine.str.contains("attendee-2")]
    fp32 = laptop_runs[laptop_runs.precision == "fp32"].latency_ms_median.iloc[0]
    fp16 = laptop_runs[laptop_runs.precision == "fp16"].latency_ms_median.iloc[0]
    assert np.isclose(other.speedup, fp32 / fp16)
    here = summary[summary.machine != "attendee-2"].iloc[0]
    mine = runs[~runs.machine.str.contains("attendee-2")]
    best = max(mine[(mine.precision == "fp32") & (mine.batch == b)].latency_ms_median.min()
               / mine[(mine.precision == "fp16") & (mine.batch == b)].latency_ms_median.min() for b in (1, 2))
    assert here.runs == 4 and np.isclose(here.speedup, best)
    assert summary.speedup.is_monotonic_decreasing
    # a machine with only FP32 so far has no speed-up yet, not a made-up one
    assert room_results(runs[runs.precision == "fp32"], precision="fp16").speedup.isna().all()
    fig = charts.room_speedups(summary)
    assert {trace.name for trace in fig.data} == set(summary.gpu)
    assert room_results(ResultsStore(room.path.parent / "empty.sqlite")).empty


def test_the_compare_panel_shows_the_room_and_refreshes_while_runs_arrive(room, tmp_path):
    from workbench.widgets import ComparePanel
    from workbench.widgets.compare_panel import ROOM

    store = ResultsStore(tmp_path / "live.sqlite")
    store.copy_runs_from(room)
    panel = ComparePanel(store)
    panel.scope.value = ROOM
    assert "attendee-2" in panel.table.value and panel.last_error is None
    assert panel.refresh_if_new() is True and panel.refresh_if_new() is False  # nothing new: no redraw
    tiny = load_model(conv_bn_relu(name="late_model"), name="late_model")
    store.record_measurement(measure(tiny, config=QUICK))
    assert panel.refresh_if_new() is True and "late_model" in panel.table.value

    async def auto_refresh_on_the_kernel_loop():
        panel.interval.value = 1
        panel.auto_refresh.value = True  # a PeriodicCallback on this (the kernel's) IOLoop
        store.record_measurement(measure(load_model(conv_bn_relu(name="later_model"), name="later_model"),
                                         config=QUICK))
        await asyncio.sleep(1.6)
        panel.auto_refresh.value = False

    # A loop of its own on a thread of its own, as a kernel's: other tests (Playwright's sync API) may leave an event
    # loop running on this thread, where asyncio.run() refuses to start.
    failures = []
    runner = threading.Thread(target=lambda: _run_catching(auto_refresh_on_the_kernel_loop, failures))
    runner.start()
    runner.join(60)
    assert not runner.is_alive() and not failures, failures
    assert "later_model" in panel.table.value and panel._timer is None and panel.last_error is None


def test_runs_poller_sees_arrivals(tmp_path):
    store = ResultsStore(tmp_path / "p.sqlite")
    poller = RunsPoller(store)
    assert poller.poll() is True and poller.poll() is False
    store.record_measurement(measure(load_model(conv_bn_relu(), name="m"), config=QUICK))
    assert poller.poll() is True and poller.poll() is False


def _run_catching(coroutine_function, failures: list) -> None:
    try:
        asyncio.run(coroutine_function())
    except BaseException as exc:  # noqa: BLE001 - reported by the test on its own thread
        failures.append(exc)
