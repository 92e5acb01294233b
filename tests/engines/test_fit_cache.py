"""The estimate's fits over the bundled recordings are kept on disk between processes, keyed by the package files
they read: computed once, read back by the next process, computed again when the entry is unreadable."""

import pandas as pd

from workbench.engines.estimate import fit_cache
from workbench.engines.estimate.fit_cache import disk_cached, fit_inputs_key


def test_a_fit_is_computed_once_read_back_and_recomputed_when_its_entry_is_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    calls = []

    @disk_cached("table")
    def table() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"predicted": ["a", "b"], "median_abs_pct_error": [12.5, 30.0]})

    first, second = table(), table()  # no memory cache in between: the second one is the disk's
    assert len(calls) == 1 and first.equals(second)
    (entry,) = (tmp_path / "estimate").iterdir()
    assert entry.name == f"table-{fit_inputs_key()}.pickle"
    entry.write_bytes(b"half a pick")
    assert table().equals(first) and len(calls) == 2


def test_the_key_follows_the_files_a_fit_reads(tmp_path, monkeypatch):
    package = tmp_path / "engines"
    (package / "estimate" / "data").mkdir(parents=True)
    (package / "estimate" / "model.py").write_text("PRIOR = 0.6\n")
    (package / "estimate" / "data" / "recordings.csv").write_text("name\nresnet18\n")
    monkeypatch.setattr(fit_cache, "ENGINES_PACKAGE", package)
    keys = []
    for change in (None, ("estimate/model.py", "PRIOR = 0.7\n"), ("estimate/data/recordings.csv", "name\nvit\n")):
        if change:
            (package / change[0]).write_text(change[1])
        fit_cache.fit_inputs_key.cache_clear()
        keys.append(fit_inputs_key())
    fit_cache.fit_inputs_key.cache_clear()
    assert len(set(keys)) == 3
