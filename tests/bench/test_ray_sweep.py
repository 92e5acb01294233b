"""Sweeps fanned out over a local Ray (two CPUs, so two workers): the same DataFrame as a local sweep, timed
sections that never overlap on one machine, a failed configuration reported while the others finish, Stop, and a
worker killed mid-sweep."""

import os
import signal
import threading
import time

import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, sweep
from workbench.bench.ray_executor import RayExecutor
from workbench.model import load_model

from models import conv_bn_relu

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")  # installed by the dev extra

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.05, min_iterations=3)
KEY = ["label", "batch", "concurrency"]


@pytest.fixture(scope="module")
def executor():
    runner = RayExecutor(num_cpus=2)
    runner._ray()  # one local Ray for the module: starting it is the slow part
    yield runner
    ray.shutdown()


@pytest.fixture(scope="module")
def models():
    return {"fp32": load_model(conv_bn_relu(), name="conv_bn_relu"),
            "other": load_model(conv_bn_relu(name="conv_bn_relu_2"), name="conv_bn_relu_2")}


def test_a_ray_sweep_returns_the_local_rows_and_never_times_two_configurations_at_once(executor, models, tmp_path):
    store = ResultsStore(tmp_path / "ray.sqlite")
    progress = []
    distributed = sweep(models, batch=[1, 2], concurrency=[1, 2], config=QUICK, store=store, executor=executor,
                        tags={"precision": "fp32"}, on_progress=lambda stage, f: progress.append(f))
    local = sweep(models, batch=[1, 2], concurrency=[1, 2], config=QUICK, tags={"precision": "fp32"})
    assert list(distributed.columns) == list(local.columns)
    assert distributed[KEY].values.tolist() == local[KEY].values.tolist()  # same rows, same order, none lost
    assert not distributed.duplicated(KEY).any() and not distributed.attrs["partial"]
    assert distributed.attrs["failed"] == [] and progress[-1] == 1.0 and progress == sorted(progress)
    runs = store.runs()
    assert len(runs) == 8 and runs.uid.is_unique and set(runs.precision) == {"fp32"}
    windows = distributed.attrs["timed_windows"]
    assert len(windows) == 8 and len({w["pid"] for w in windows}) >= 1
    for before, after in zip(windows, windows[1:]):  # sorted by start; one machine: no overlap
        assert before["host"] != after["host"] or before["end"] <= after["start"]


def test_a_failed_configuration_is_reported_and_the_others_finish_and_stop_keeps_what_was_measured(executor, models):
    # a model path that does not exist where the task runs fails in the task, for that configuration only
    with pytest.warns(RuntimeWarning, match="missing.onnx"):
        frame = sweep({"fp32": models["fp32"], "gone": "/nonexistent/missing.onnx"}, batch=[1, 2], config=QUICK,
                      executor=executor)
    assert frame.variant.tolist() == ["fp32", "fp32"]
    failed = frame.attrs["failed"]
    assert [(f["variant"], f["batch"]) for f in failed] == [("gone", 1), ("gone", 2)]
    assert all("missing.onnx" in f["error"] for f in failed)

    cancel = threading.Event()
    stopped = sweep(models["fp32"], batch=[1, 2, 3, 4, 5, 6], config=QUICK, executor=executor, cancel=cancel,
                    on_result=lambda rows: cancel.set())
    assert stopped.attrs["partial"] and 1 <= len(stopped) < 6


def _running_task_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().startswith(b"ray::workbench-sweep-"):  # Ray names a busy worker after its task
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def test_a_worker_killed_mid_sweep_is_retried_and_each_configuration_is_recorded_once(executor, models, tmp_path):
    store = ResultsStore(tmp_path / "killed.sqlite")
    slow = BenchmarkConfig(warmup_s=0.01, duration_s=0.4, min_iterations=3)
    result = {}
    thread = threading.Thread(target=lambda: result.update(frame=sweep(models, batch=[1, 2], config=slow,
                                                                       store=store, executor=executor)))
    thread.start()
    killed = None
    deadline = time.time() + 60
    while killed is None and time.time() < deadline and thread.is_alive():
        pids = _running_task_pids()
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(180)
    assert killed is not None, "no running sweep task was found to kill"
    frame = result["frame"]
    assert frame.attrs["failed"] == [] and len(frame) == 4 and not frame.duplicated(KEY).any()
    runs = store.runs()
    assert len(runs) == 4 and runs.uid.is_unique


def test_the_cli_sends_a_sweep_to_ray(executor, tmp_path, run_cli):
    import json

    import onnx

    onnx.save(conv_bn_relu(), tmp_path / "tiny.onnx")
    code, out, err = run_cli("bench", tmp_path / "tiny.onnx", "--batch", "1,2", "--duration", "0.03", "--warmup",
                             "0.01", "--iterations", "3", "--results", tmp_path / "cli.sqlite", "--ray", "--json")
    assert code == 0, err
    assert [row["batch"] for row in json.loads(out)] == [1, 2]
    assert len(ResultsStore(tmp_path / "cli.sqlite")) == 2


def test_tensorrt_configurations_on_a_cluster_without_gpus_fail_at_once_by_name(executor, models, tmp_path, run_cli):
    import onnx

    # TensorRT tasks ask for a GPU; this two-CPU Ray has none, so they fail now instead of waiting forever
    with pytest.warns(RuntimeWarning, match="cannot run on this Ray cluster"):
        frame = sweep({"onnx": models["fp32"], "trt": tmp_path / "built-elsewhere.engine"}, batch=[1], config=QUICK,
                      executor=executor)
    assert frame.variant.tolist() == ["onnx"]
    assert [(f["variant"], f["backend"]) for f in frame.attrs["failed"]] == [("trt", "tensorrt")]
    assert "1 GPU requested, 0 in the cluster" in frame.attrs["failed"][0]["error"]
    onnx.save(conv_bn_relu(), tmp_path / "tiny.onnx")
    with pytest.warns(RuntimeWarning, match="GPU requested"):
        code, out, err = run_cli("bench", tmp_path / "tiny.onnx", "--backend", "tensorrt", "--ray", "--results",
                                 tmp_path / "t.sqlite")
    assert code == 0, err
    assert "failed on Ray" in out and "GPU requested" in out  # not built here, not hanging
