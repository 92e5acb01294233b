"""A store never lost or borrowed: an export onto the store is refused, another program's SQLite file is refused
untouched, a damaged store is reported before any write, a read-only store is listed read-only, replaced files keep
their mode, a full disk names the file, concurrent pushes and copies all succeed (SQLite and a real PostgreSQL),
`workbench runs | head -0` ends quietly."""

import contextlib
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading

import pytest

from workbench.bench import BenchmarkConfig, ResultsStore, sweep
from workbench.errors import OutputFileError, ResultsStoreError
from workbench.files import atomic_write_text
from workbench.model import load_model

from conftest import ROOT
from models import conv_bn_relu
from postgres import postgres  # noqa: F401 - the fixture

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.02, min_iterations=3)


@pytest.fixture(scope="module")
def tiny():
    return load_model(conv_bn_relu(), name="conv_bn_relu")


@pytest.fixture(scope="module")
def store_with_runs(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    sweep(tiny, batch=[1, 2, 3], config=QUICK, store=path)
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_csv_export_onto_the_store_is_refused(store_with_runs, run_cli, tmp_path):
    before = _digest(store_with_runs)
    with pytest.raises(OutputFileError, match="input of this command"):
        ResultsStore(store_with_runs).to_csv(store_with_runs)
    code, out, err = run_cli("runs", "--results", store_with_runs, "--csv", store_with_runs)
    assert code == 1 and "would overwrite" in err and "internal error" not in err
    other = tmp_path / "other.sqlite"
    ResultsStore(other)
    code, out, err = run_cli("runs", "--results", store_with_runs, "--csv", other)
    assert code == 1 and "is a SQLite database" in err
    assert _digest(store_with_runs) == before and len(ResultsStore(store_with_runs)) == 3


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "theirs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (name TEXT, score REAL)")
        conn.execute("INSERT INTO runs VALUES ('x', 1.0)")
    before = _digest(path)
    with pytest.raises(ResultsStoreError, match="another program's SQLite database.*nothing was written"):
        ResultsStore(path)
    assert _digest(path) == before  # user_version and journal mode untouched
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_damaged_store_is_reported_before_anything_is_written(store_with_runs, tmp_path):
    damaged = tmp_path / "damaged.sqlite"
    with sqlite3.connect(store_with_runs) as source, sqlite3.connect(damaged) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
        copy.execute("CREATE TABLE filler (x BLOB)")
        copy.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(2000),) for _ in range(40)])
    page = sqlite3.connect(damaged).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(damaged.read_bytes())
    middle = (len(data) // page // 2) * page
    data[middle:middle + page] = b"\xa5" * page  # one page in the middle
    damaged.write_bytes(bytes(data))
    before = _digest(damaged)
    with pytest.raises(ResultsStoreError, match="is damaged.*nothing was written.*recover"):
        ResultsStore(damaged)
    assert _digest(damaged) == before


@contextlib.contextmanager
def _read_only(folder):
    """The folder read-only as a backup or a read-only share is: a read-only bind mount (root ignores modes)."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("running as root where a read-only bind mount is not allowed: no read-only folder to test in")
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_store_in_a_read_only_folder_is_listed_and_bench_says_read_only(store_with_runs, tmp_path, run_cli):
    folder = tmp_path / "backup"
    folder.mkdir()
    with sqlite3.connect(store_with_runs) as source, sqlite3.connect(folder / "results.sqlite") as copy:
        source.backup(copy)
    with _read_only(folder):
        code, out, err = run_cli("runs", "--results", folder / "results.sqlite", "--json")
        assert code == 0, err
        store = ResultsStore(folder / "results.sqlite")
        assert store.read_only and len(store) == 3
        with pytest.raises(ResultsStoreError, match="is read-only.*nothing was recorded"):
            sweep(load_model(conv_bn_relu()), config=QUICK, store=store)
        assert sorted(p.name for p in folder.iterdir()) == ["results.sqlite"]  # no -wal/-shm left


def test_a_replaced_file_keeps_its_mode_and_a_full_disk_names_the_file(tmp_path):
    shared = tmp_path / "room.html"
    shared.write_text("old")
    os.chmod(shared, 0o644)
    atomic_write_text(shared, "new")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644 and shared.read_text() == "new"
    fresh = atomic_write_text(tmp_path / "fresh.csv", "x")
    assert stat.S_IMODE(fresh.stat().st_mode) & 0o044  # readable by others as the umask allows, not 0600
    if os.path.exists("/dev/full"):
        with pytest.raises(OutputFileError, match="full.html: cannot be written: No space left"):
            _write_to_full_disk(tmp_path / "full.html")
        assert list(tmp_path.glob(".full.html.*")) == []


@contextlib.contextmanager
def _full_disk():
    """Every atomic write goes to /dev/full (ENOSPC at the first flush), as a full disk answers."""
    real_fdopen = os.fdopen

    def full(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        os.dup2(os.open("/dev/full", os.O_WRONLY), handle.fileno())
        return handle

    os.fdopen = full
    try:
        yield
    finally:
        os.fdopen = real_fdopen


def _write_to_full_disk(path):
    with _full_disk():
        atomic_write_text(path, "x" * 100_000)


def test_concurrent_copies_into_sqlite_all_succeed_exactly_once(store_with_runs, tmp_path):
    target = tmp_path / "target.sqlite"
    ResultsStore(target)
    results, errors = [], []

    def copy():
        try:
            results.append(ResultsStore(target).copy_runs_from(store_with_runs))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=copy) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sum(results) == 3 and len(ResultsStore(target)) == 3


def test_concurrent_pushes_to_postgres_all_succeed_exactly_once(postgres, store_with_runs, tmp_path):
    url = postgres.fresh_database("pushes")
    ResultsStore(url)
    script = ("import sys; from workbench.bench import ResultsStore; "
              "print(ResultsStore(sys.argv[1]).copy_runs_from(sys.argv[2]))")
    for _ in range(2):
        procs = [subprocess.Popen([sys.executable, "-c", script, url, str(store_with_runs)], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT))) for _ in range(4)]
        outcomes = [(p.wait(300), *p.communicate()) for p in procs]
        assert [code for code, _, _ in outcomes] == [0] * 4, [err for _, _, err in outcomes]
        assert len(ResultsStore(url)) == 3
    assert ResultsStore(url).runs().uid.is_unique


def test_runs_into_a_closed_pipe_ends_quietly(store_with_runs):
    many = "import sys; from workbench.cli.main import main; sys.exit(main(['runs', '--results', sys.argv[1]]))"
    result = subprocess.run(f"{sys.executable} -c \"{many}\" {store_with_runs} | head -c 0", shell=True,
                            capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_outputs_onto_inputs_are_refused_and_a_full_disk_names_the_file(tmp_path, run_cli):
    import onnx

    model = tmp_path / "m.onnx"
    onnx.save(conv_bn_relu(), model)
    before = _digest(model)
    code, out, err = run_cli("quantize", model, "--precision", "fp16", "-o", model)
    assert code == 1 and "would overwrite" in err and _digest(model) == before
    code, out, err = run_cli("graph", model, "-o", model)
    assert code == 1 and "would overwrite" in err and _digest(model) == before
    if os.path.exists("/dev/full"):
        with _full_disk():
            code, out, err = run_cli("quantize", model, "--precision", "fp16", "-o", tmp_path / "q.onnx")
        assert code == 1 and "q.onnx: cannot be written: No space left" in err and "internal error" not in err
