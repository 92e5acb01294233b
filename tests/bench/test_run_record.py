"""One run record (bench/records.py): the store's table, sweep rows, MLflow parameters and metrics and the CLI's
JSON derive from one column spec; a local sweep and a Ray sweep build their rows through one path."""

import json

import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, sweep
from workbench.bench import records
from workbench.bench.mlflow_export import run_metrics, run_params
from workbench.bench.ray_executor import _run_job
from workbench.bench.store import RUNS
from workbench.model import load_model

from models import conv_bn_relu

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.05, min_iterations=3)
# variant a: accuracy measured on TensorRT (dropped on an ONNX Runtime row); b: agreement from ONNX Runtime (kept)
VARIANT_TAGS = {"a": {"accuracy": 0.9, "quality_measured_on": "tensorrt", "precision": "fp16"},
                "b": {"agreement": 0.8}}


class InProcessRayTasks:
    """Runs each job through the Ray task function itself (``ray_executor._run_job``), without a Ray cluster."""

    def run(self, jobs, *, config, store=None, on_progress=None, on_result=None, cancel):
        import pandas as pd

        return pd.DataFrame([_run_job(job, config, store)[0] for job in jobs])


@pytest.fixture(scope="module")
def model():
    return load_model(conv_bn_relu(), name="conv_bn_relu")


def test_the_store_table_mlflow_and_json_derive_from_the_run_columns():
    assert [c.name for c in RUNS.columns] == [c.name for c in records.RUN_COLUMNS]
    assert {"agreement", "accuracy", "latency_ms_p99", "throughput", "engine_layers"} <= set(records.MLFLOW_METRICS)
    assert not set(records.MLFLOW_METRICS) & set(records.MLFLOW_PARAMS)
    assert "kind" in records.MLFLOW_PARAMS and "unstable" not in records.MLFLOW_METRICS


def test_mlflow_keeps_agreement_and_every_measured_metric():
    row = {"kind": "benchmark", "model": "m", "batch": 2, "agreement": 0.97, "accuracy": float("nan"),
           "latency_ms_median": 1.5, "config": json.dumps({"benchmark": {"duration_s": 1}}), "machine": "{}"}
    assert run_metrics(row) == {"agreement": 0.97, "latency_ms_median": 1.5}
    assert run_params(row) == {"kind": "benchmark", "model": "m", "batch": "2", "benchmark.duration_s": "1"}


def test_a_local_sweep_and_the_ray_task_path_give_identical_rows_and_records(model, tmp_path):
    targets = {"a": model, "b": model}
    local_store, job_store = ResultsStore(tmp_path / "local.sqlite"), ResultsStore(tmp_path / "jobs.sqlite")
    local = sweep(targets, batch=[1, 2], config=QUICK, variant_tags=VARIANT_TAGS, store=local_store)
    jobs = sweep(targets, batch=[1, 2], config=QUICK, variant_tags=VARIANT_TAGS, store=job_store,
                 executor=InProcessRayTasks())
    assert list(local.columns) == list(jobs.columns)
    same = ["label", "batch", "concurrency", "precision", "agreement", "quality_note", "kind"]
    def values(frame):
        return frame[same].astype(object).fillna("-").values.tolist()

    assert values(local) == values(jobs)
    assert "accuracy" not in local.columns  # measured on TensorRT: never on an ONNX Runtime row, on either path
    assert local.agreement.tolist()[2:] == [0.8, 0.8] and local.precision.tolist()[:2] == ["fp16", "fp16"]
    stored = [s.runs().set_index("uid") for s in (local_store, job_store)]
    for frame, runs in zip((local, jobs), stored):
        assert set(frame.uid) == set(runs.index)  # a row's uid is its record's
        assert runs.loc[frame.uid, "agreement"].fillna(-1).tolist() == frame.agreement.fillna(-1).tolist()
        assert runs.accuracy.isna().all()


def test_bench_json_and_runs_json_have_one_shape(run_cli, tmp_path):
    import onnx

    onnx.save(conv_bn_relu(), tmp_path / "tiny.onnx")
    db = tmp_path / "results.sqlite"
    code, out, err = run_cli("bench", tmp_path / "tiny.onnx", "--duration", "0.05", "--warmup", "0.01",
                             "--results", db, "--json")
    assert code == 0, err
    benched = json.loads(out)
    code, out, err = run_cli("runs", "--results", db, "--json")
    assert code == 0, err
    listed = json.loads(out)

    def shape(value):
        return {k: shape(v) if isinstance(v, dict) and k == "latency_ms" else None for k, v in value.items()}

    assert shape(benched[0]) == shape(listed[0]) and set(benched[0]["latency_ms"]) == set(records.LATENCY_STATS)
    assert benched[0]["uid"] == listed[0]["uid"] and benched[0]["kind"] == listed[0]["kind"] == "benchmark"
    assert benched[0]["latency_ms"]["median"] == pytest.approx(listed[0]["latency_ms"]["median"], rel=1e-6)
    assert listed[0]["machine"]["cpu_cores"] >= 1 and benched[0]["label"] == listed[0]["label"]
