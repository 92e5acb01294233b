"""Runs exported to a real MLflow tracking server started by the test (SQLite backend, loopback port)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, sweep
from workbench.charts import run_artifacts
from workbench.engines import build_engine
from workbench.model import load_model

from models import conv_bn_relu

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed")  # installed by the dev extra

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.03, min_iterations=3)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    server = subprocess.Popen([mlflow_cli, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                               "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                               "--artifacts-destination", str(folder / "artifacts")],
                              stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own process group: the server and its workers
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            stop(server)
            pytest.fail(f"the MLflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    stop(server)


def stop(server):
    """The server and the worker processes it started (one process group), gently, then firmly."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_builds_and_benchmarks_become_mlflow_runs_once(tracking_server, tmp_path, run_cli):
    tiny = load_model(conv_bn_relu(), name="conv_bn_relu")
    store = ResultsStore(tmp_path / "r.sqlite")
    sweep({"fp32": tiny}, batch=[1, 2], config=QUICK, store=store, tags={"precision": "fp32", "calibrator": None})
    store.record_build(build_engine(tiny), tags={"precision": "fp32"})
    first = store.to_mlflow(tracking_server, experiment="room", artifacts=run_artifacts)
    assert first.created.tolist() == [True, True, True]
    again = store.to_mlflow(tracking_server, experiment="room", artifacts=run_artifacts)
    assert again.created.tolist() == [False] * 3 and again.mlflow_run_id.tolist() == first.mlflow_run_id.tolist()

    client = mlflow.tracking.MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("room")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # logged twice, still one MLflow run per workbench run
    stored = store.runs(samples=True).set_index("uid")
    by_uid = {r.data.tags["workbench.run_uid"]: r for r in runs}
    assert set(by_uid) == set(stored.index)
    bench_uid = stored.index[stored.kind == "benchmark"][0]
    bench = by_uid[bench_uid]
    assert bench.data.params["model"] == "conv_bn_relu" and bench.data.params["precision"] == "fp32"
    assert bench.data.params["batch"] == str(stored.loc[bench_uid, "batch"])
    assert "machine.cpu" in bench.data.params and "benchmark.duration_s" in bench.data.params
    assert bench.data.metrics["latency_ms_p99"] == pytest.approx(stored.loc[bench_uid, "latency_ms_p99"])
    assert "accuracy" not in bench.data.metrics  # not measured: not logged
    files = {a.path for a in client.list_artifacts(bench.info.run_id)}
    assert {"latency_distribution.html", "latency_samples_ms.csv", "workbench_run.json"} <= files
    build = next(r for r in runs if r.data.tags["workbench.kind"] == "build")
    assert build.data.metrics["engine_layers"] >= 1 and build.data.params["backend"]
    assert any(k.startswith("build.") for k in build.data.params)  # the build configuration
    layers_csv = client.download_artifacts(build.info.run_id, "engine_layers.csv", str(tmp_path))
    import pandas as pd

    table = pd.read_csv(layers_csv)  # the engine-layer table after fusion, one row per layer
    assert len(table) == build.data.metrics["engine_layers"] and {"name", "type", "onnx_nodes", "tactic"} <= \
        set(table.columns) and table.onnx_nodes.str.contains("conv").any()

    code, out, err = run_cli("runs", "--results", tmp_path / "r.sqlite", "--to-mlflow", tracking_server,
                             "--mlflow-experiment", "room")
    assert code == 0, err
    assert "0 runs logged, 3 already there" in out and "View run" not in out
