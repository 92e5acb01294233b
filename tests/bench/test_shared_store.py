"""The shared results store on a real PostgreSQL server (started by tests/postgres.py): same schema as SQLite, many
writers at once, a laptop's SQLite runs copied in, a server that goes away mid-sweep (nothing lost), masked
credentials."""

import json
import subprocess
import sys
import textwrap
import warnings

import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, measure, sweep
from workbench.bench.store import SCHEMA_VERSION
from workbench.errors import ResultsStoreError, ResultsStoreUnavailableError
from workbench.model import load_model

from conftest import ROOT
from models import conv_bn_relu
from postgres import PASSWORD, postgres  # noqa: F401 - the fixture

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.03, min_iterations=3)


@pytest.fixture(scope="module")
def tiny():
    return load_model(conv_bn_relu(), name="conv_bn_relu")


def test_a_postgres_store_records_and_reads_like_sqlite_and_never_shows_the_password(postgres, tiny, tmp_path):
    url = postgres.fresh_database("basic")
    store = ResultsStore(url, spool=tmp_path / "spool.sqlite")
    assert store.is_server and PASSWORD not in repr(store) and PASSWORD not in str(store.path)
    frame = sweep({"fp32": tiny}, batch=[1, 2], config=QUICK, store=store, tags={"precision": "fp32"})
    local = ResultsStore(tmp_path / "local.sqlite")
    sweep({"fp32": tiny}, batch=[1, 2], config=QUICK, store=local, tags={"precision": "fp32"})
    shared, embedded = ResultsStore(url).runs(samples=True), local.runs(samples=True)
    assert list(shared.columns) == list(embedded.columns)  # one schema on both databases
    assert list(shared.batch) == [1, 2] and list(shared.label) == list(frame.label)
    assert [len(s) for s in shared.samples_ms] == list(frame.iterations)
    assert json.loads(shared.machine.iloc[0])["hostname"]
    assert shared.uid.is_unique and shared.uid.notna().all()
    with pytest.raises(ResultsStoreError) as bad:
        ResultsStore(postgres.url(password="wrong-Pw-123").replace("/postgres", "/basic"))
    assert "wrong-Pw-123" not in str(bad.value) and "***" in str(bad.value)
    assert PASSWORD not in "".join(map(str, shared.to_dict(orient="records")))


def test_many_writer_processes_at_once(postgres, tiny, tmp_path):
    url = postgres.fresh_database("writers")
    blob = tmp_path / "m.pickle"
    import pickle

    blob.write_bytes(pickle.dumps(measure(tiny, config=QUICK)))
    script = textwrap.dedent(f"""
        import pickle, sys
        sys.path.insert(0, {str(ROOT)!r})
        from workbench.bench import ResultsStore
        m = pickle.loads(open({str(blob)!r}, "rb").read())
        store = ResultsStore(sys.argv[2])  # every writer migrates-or-checks the schema at the same moment
        for i in range(40):
            store.record_measurement(m, tags={{"writer": sys.argv[1], "i": i}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n), url]) for n in range(4)]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    runs = ResultsStore(url).runs()
    assert len(runs) == 160 and runs.uid.is_unique
    written = sorted((json.loads(e)["writer"], json.loads(e)["i"]) for e in runs.extra)
    assert written == sorted((str(w), i) for w in range(4) for i in range(40))


def test_a_v2_sqlite_store_is_migrated_and_copied_into_postgres_once(postgres, tiny, tmp_path):
    import sqlite3

    old = tmp_path / "laptop.sqlite"
    with sqlite3.connect(old) as conn:  # the schema exactly as version 2 of the workbench wrote it
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN "
                     "('benchmark', 'build')), created TEXT NOT NULL, model TEXT, model_fingerprint TEXT, "
                     "source_model TEXT, variant TEXT, backend TEXT, backend_version TEXT, device TEXT, precision "
                     "TEXT, calibrator TEXT, optimization_level TEXT, threads INTEGER, batch INTEGER, concurrency "
                     "INTEGER, latency_ms_min REAL, latency_ms_mean REAL, latency_ms_median REAL, latency_ms_p90 "
                     "REAL, latency_ms_p95 REAL, latency_ms_p99 REAL, latency_ms_max REAL, throughput REAL, cv REAL, "
                     "iterations INTEGER, wall_s REAL, unstable INTEGER, partial INTEGER, accuracy REAL, "
                     "build_seconds REAL, engine_bytes INTEGER, activation_bytes INTEGER, naive_activation_bytes "
                     "INTEGER, engine_layers INTEGER, config TEXT, machine TEXT, extra TEXT, samples_ms BLOB)")
        conn.execute("CREATE INDEX runs_model ON runs (model_fingerprint)")
        for batch in (1, 4):
            conn.execute("INSERT INTO runs (kind, created, model, batch, latency_ms_median, machine, samples_ms) "
                         "VALUES ('benchmark', '2026-01-01', 'old_model', ?, 1.5, '{\"hostname\": \"laptop\"}', ?)",
                         (batch, b"\x00\x00\xc0?" * 3))
        conn.execute("PRAGMA user_version = 2")
    laptop = ResultsStore(old)
    assert len(laptop) == 2 and laptop.runs().uid.notna().all()
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    shared = ResultsStore(postgres.fresh_database("migrated"))
    assert shared.copy_runs_from(old) == 2
    assert shared.copy_runs_from(laptop) == 0  # a second copy duplicates nothing
    runs = shared.runs(samples=True)
    assert list(runs.batch) == [1, 4] and list(runs.model) == ["old_model"] * 2
    assert runs.samples_ms.iloc[0] == [1.5, 1.5, 1.5] and set(runs.uid) == set(laptop.runs().uid)


def test_a_server_that_goes_away_mid_sweep_loses_nothing(postgres, tiny, tmp_path, monkeypatch):
    url = postgres.fresh_database("outage")
    store = ResultsStore(url, spool=tmp_path / "pending.sqlite")

    def stop_server_after_the_first_row(frame):
        if len(frame) == 1:
            postgres.stop("immediate")

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = sweep(tiny, batch=[1, 2, 3], config=QUICK, store=store, on_result=stop_server_after_the_first_row)
        assert len(frame) == 3 and frame.attrs["pending"] == 2
        message = " ".join(str(w.message) for w in caught)
        assert "cannot be reached" in message and "pending.sqlite" in message and PASSWORD not in message
        with pytest.raises(ResultsStoreUnavailableError) as gone:
            store.record_measurement(measure(tiny, config=QUICK))
        assert gone.value.spooled == tmp_path / "pending.sqlite" and PASSWORD not in str(gone.value)
        assert store.pending() == 3
        with pytest.raises(ResultsStoreUnavailableError):
            store.push_pending()  # still down: the spool is kept
        assert store.pending() == 3
    finally:
        postgres.start()
    assert store.push_pending() == 3 and store.pending() == 0
    assert store.push_pending() == 0
    runs = ResultsStore(url).runs()
    assert list(runs.batch) == [1, 2, 3, 1] and runs.uid.is_unique


def test_the_cli_reads_a_shared_store_from_results_or_the_environment(postgres, tiny, tmp_path, run_cli,
                                                                      monkeypatch):
    import onnx

    url = postgres.fresh_database("cli")
    onnx.save(conv_bn_relu(), tmp_path / "tiny.onnx")
    code, out, err = run_cli("bench", tmp_path / "tiny.onnx", "--duration", "0.02", "--warmup", "0.01", "--iterations", "3",
                             "--results", url)
    assert code == 0, err
    assert PASSWORD not in out + err and "127.0.0.1" in out
    monkeypatch.setenv("WORKBENCH_RESULTS", url)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("runs", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 1 and PASSWORD not in out
    code, out, err = run_cli("runs", "--push")
    assert code == 0 and "0 pending runs sent" in out
