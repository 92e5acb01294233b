"""The store's pre-write check leaves no SQLite connection open behind it: one left to the garbage collector lost
committed runs when Ray workers opened a store while others wrote to it (tests/bench/test_ray_sweep.py, now and then)."""

import gc
import os
from pathlib import Path

from workbench.bench import ResultsStore
from workbench.bench.store import _check_before_writing


def _open_files(folder: Path) -> list[str]:
    opened = []
    for fd in os.listdir("/proc/self/fd"):
        target = os.path.realpath(f"/proc/self/fd/{fd}")
        if target.startswith(str(folder.resolve())):
            opened.append(target)
    return opened


def test_checking_a_store_before_writing_closes_the_connection_it_opened(tmp_path):
    path = tmp_path / "runs.sqlite"
    ResultsStore(path)  # an existing workbench store: the check reads it
    assert _open_files(tmp_path) == []
    gc.disable()  # what a busy process looks like between collections: nothing may rely on the collector
    try:
        _check_before_writing(path)
        assert _open_files(tmp_path) == []
        ResultsStore(path)  # the check again, through the store
        assert _open_files(tmp_path) == []
    finally:
        gc.enable()


def test_a_file_store_that_fails_an_insert_says_the_run_is_not_recorded_not_that_it_waits(tmp_path, monkeypatch):
    import pytest
    import sqlalchemy as sa

    from workbench.errors import ResultsStoreUnavailableError, WorkbenchError

    store = ResultsStore(tmp_path / "runs.sqlite")

    def broken_begin():
        raise sa.exc.InterfaceError("INSERT", {}, Exception("Error binding parameter 1"))

    monkeypatch.setattr(store._engine, "begin", broken_begin)
    with pytest.raises(WorkbenchError, match="cannot record the run") as raised:
        store._insert({"kind": "benchmark"})
    assert not isinstance(raised.value, ResultsStoreUnavailableError)  # a file has no spool to keep the run in
