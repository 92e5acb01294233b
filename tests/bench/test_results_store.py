"""The SQLite results store: survives restarts, two writers at once, clear errors for unusable paths."""

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, measure, sweep
from workbench.bench.store import SCHEMA_VERSION
from workbench.errors import ResultsStoreError
from workbench.model import load_model

from conftest import ROOT
from models import conv_bn_relu

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.05, min_iterations=5)


@pytest.fixture(scope="module")
def tiny():
    return load_model(conv_bn_relu(), name="conv_bn_relu")


def test_runs_survive_a_new_store_object_and_export_csv(tiny, tmp_path):
    path = tmp_path / "sub" / "results.sqlite"
    frame = sweep(tiny, batch=[1, 2], config=QUICK, store=path, tags={"precision": "fp32", "accuracy": 0.97})
    reopened = ResultsStore(path)  # as a restarted kernel would
    runs = reopened.runs(samples=True)
    assert len(runs) == 2 and list(runs.batch) == [1, 2]
    assert list(runs.precision) == ["fp32", "fp32"] and list(runs.accuracy) == [0.97, 0.97]
    assert runs.model_fingerprint.iloc[0] == tiny.fingerprint
    assert np.allclose(runs.latency_ms_median, frame.latency_ms_median)
    assert [len(s) for s in runs.samples_ms] == list(frame.iterations)
    assert np.allclose(runs.samples_ms.iloc[0], frame.samples_ms.iloc[0], rtol=1e-6)
    machine = json.loads(runs.machine.iloc[0])
    assert machine["cpu_cores"] >= 1 and machine["cpu"]
    assert json.loads(runs.config.iloc[0])["benchmark"]["duration_s"] == 0.05
    csv = reopened.to_csv(tmp_path / "runs.csv")
    assert csv.read_text().count("\n") == 3
    assert len(reopened.runs(model="conv_bn_relu")) == 2 and len(reopened.runs(model="other")) == 0


def test_builds_are_recorded(tiny, tmp_path):
    from workbench.engines import build_engine

    store = ResultsStore(tmp_path / "r.sqlite")
    built = build_engine(tiny)
    store.record_build(built, tags={"precision": "fp32"})
    runs = store.runs("build")
    assert runs.engine_layers.iloc[0] == len(built.layers)
    assert runs.engine_bytes.iloc[0] == len(built.engine_bytes)
    assert runs.backend.iloc[0] == built.flavor and runs.precision.iloc[0] == "fp32"


def test_two_processes_writing_at_once_do_not_corrupt_it(tiny, tmp_path):
    path = tmp_path / "shared.sqlite"
    ResultsStore(path)
    m = measure(tiny, config=QUICK)
    import pickle

    blob = tmp_path / "m.pickle"
    blob.write_bytes(pickle.dumps(m))
    script = textwrap.dedent(f"""
        import pickle, sys
        sys.path.insert(0, {str(ROOT)!r})
        from workbench.bench import ResultsStore
        m = pickle.loads(open({str(blob)!r}, "rb").read())
        store = ResultsStore({str(path)!r})
        for i in range(60):
            store.record_measurement(m, tags={{"writer": sys.argv[1], "i": i}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    runs = ResultsStore(path).runs()
    assert len(runs) == 120
    writers = [json.loads(e)["writer"] for e in runs.extra]
    assert writers.count("0") == writers.count("1") == 60
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_unusable_paths_fail_before_measuring(tiny, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    with pytest.raises(ResultsStoreError, match="cannot be created"):
        sweep(tiny, config=QUICK, store=a_file / "results.sqlite")
    with pytest.raises(ResultsStoreError, match="is a folder"):
        ResultsStore(tmp_path)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ResultsStoreError, match="cannot be used"):
        ResultsStore(garbage)
    saved = garbage.read_bytes()
    assert saved == b"this is not a database" * 100  # never overwritten


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    ResultsStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ResultsStoreError, match="newer than this workbench"):
        ResultsStore(path)


def test_variants_are_found_through_their_source_model_and_v1_stores_are_migrated(tiny, tmp_path):
    from workbench.precision import apply_precision

    store = ResultsStore(tmp_path / "r.sqlite")
    half = apply_precision(tiny, "fp16")
    assert half.source_model == "conv_bn_relu"
    sweep({"fp32": tiny, "fp16": half}, config=QUICK, store=store)
    other = load_model(conv_bn_relu(name="conv_bn_relu_large"))  # a name that merely starts the same way
    sweep({"other": other}, config=QUICK, store=store)
    assert list(store.runs(model="conv_bn_relu").variant) == ["fp32", "fp16"]
    # a version-1 store (no source_model column) is upgraded in place, its runs kept
    old = tmp_path / "v1.sqlite"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, created TEXT NOT "
                     "NULL, model TEXT, model_fingerprint TEXT, variant TEXT, backend TEXT, backend_version TEXT, "
                     "device TEXT, precision TEXT, calibrator TEXT, optimization_level TEXT, threads INTEGER, "
                     "batch INTEGER, concurrency INTEGER, latency_ms_min REAL, latency_ms_mean REAL, "
                     "latency_ms_median REAL, latency_ms_p90 REAL, latency_ms_p95 REAL, latency_ms_p99 REAL, "
                     "latency_ms_max REAL, throughput REAL, cv REAL, iterations INTEGER, wall_s REAL, unstable "
                     "INTEGER, partial INTEGER, accuracy REAL, build_seconds REAL, engine_bytes INTEGER, "
                     "activation_bytes INTEGER, naive_activation_bytes INTEGER, engine_layers INTEGER, config TEXT, "
                     "machine TEXT, extra TEXT, samples_ms BLOB)")
        conn.execute("INSERT INTO runs (kind, created, model, batch) VALUES ('benchmark', '2026-01-01', 'm', 1)")
        conn.execute("PRAGMA user_version = 1")
    upgraded = ResultsStore(old)
    assert list(upgraded.runs().model) == ["m"]
    upgraded.record_measurement(measure(tiny, config=QUICK))
    assert len(upgraded) == 2


V1_RUNS = ("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, created TEXT NOT NULL, model "
           "TEXT, model_fingerprint TEXT, variant TEXT, backend TEXT, backend_version TEXT, device TEXT, precision "
           "TEXT, calibrator TEXT, optimization_level TEXT, threads INTEGER, batch INTEGER, concurrency INTEGER, "
           "latency_ms_min REAL, latency_ms_mean REAL, latency_ms_median REAL, latency_ms_p90 REAL, latency_ms_p95 "
           "REAL, latency_ms_p99 REAL, latency_ms_max REAL, throughput REAL, cv REAL, iterations INTEGER, wall_s REAL, "
           "unstable INTEGER, partial INTEGER, accuracy REAL, build_seconds REAL, engine_bytes INTEGER, "
           "activation_bytes INTEGER, naive_activation_bytes INTEGER, engine_layers INTEGER, config TEXT, machine "
           "TEXT, extra TEXT, samples_ms BLOB)")


def test_two_kernels_opening_an_old_store_at_once_migrate_it_once(tmp_path):
    """The write lock is taken before the schema version is read: two processes that open a v1 store at the same
    moment must not both add the new columns (the second would fail with 'duplicate column')."""
    import time

    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from workbench.bench import ResultsStore
        start = float(sys.argv[2])
        while time.time() < start:  # both processes open the store at the same instant
            pass
        print(len(ResultsStore(sys.argv[1])))
    """)
    for attempt in range(1):  # four processes hit the race every time with the old order (lock after reading)
        old = tmp_path / f"v1-{attempt}.sqlite"
        with sqlite3.connect(old) as conn:
            conn.execute(V1_RUNS)
            conn.execute("INSERT INTO runs (kind, created, model) VALUES ('benchmark', '2026-01-01', 'm')")
            conn.execute("PRAGMA user_version = 1")
        start = time.time() + 2.5
        procs = [subprocess.Popen([sys.executable, "-c", script, str(old), str(start)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]  # 4 kernels: a sure race
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
        assert [out.strip() for out, _ in results] == ["1"] * 4
        with sqlite3.connect(old) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        assert columns.count("source_model") == 1 and columns.count("uid") == 1
