"""CPU auto-tuning (lesson 04): every tactic computes the same convolution, the fastest is kept, the cache skips."""

import json

import numpy as np
import pytest

from workbench.engines.autotune import TACTICS, ConvShape, TimingCache, autotune
from workbench.errors import ConfigError

SHAPES = [ConvShape(1, 4, 12, 4, 3), ConvShape(1, 2, 16, 2, 7)]


def test_the_fastest_correct_tactic_is_chosen_and_the_second_build_times_nothing(tmp_path):
    path = tmp_path / "conv.timing.json"
    first = autotune(SHAPES, cache=TimingCache(path), repeats=2)
    assert first.timings["correct"].all() and set(first.timings["tactic"]) == set(TACTICS)
    for layer, rows in first.timings.groupby("layer"):
        assert rows.loc[rows["chosen"], "median_ms"].iloc[0] == rows["median_ms"].min()
    assert len(first.chosen) == len(SHAPES) and not first.timings["from_cache"].any()
    saved = json.loads(path.read_text())
    assert set(saved["entries"]) == {s.key for s in SHAPES}
    again = TimingCache(path)       # a new process reading the file
    second = autotune(SHAPES, cache=again, repeats=2)
    assert again.hits == len(SHAPES) and again.misses == 0 and second.timings["from_cache"].all()
    assert list(second.chosen["tactic"]) == list(first.chosen["tactic"])


def test_a_wrong_tactic_is_rejected_never_chosen(monkeypatch):
    def wrong(x, w):
        return lambda: np.zeros((x.shape[0], w.shape[0], x.shape[2], x.shape[3]), np.float32)
    monkeypatch.setitem(TACTICS, "wrong but instant", wrong)
    result = autotune(SHAPES[:1], repeats=1)
    row = result.timings.set_index("tactic").loc["wrong but instant"]
    assert not row["correct"] and not row["chosen"]


def test_bad_shapes_and_caches_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="kernel must be odd"):
        ConvShape(1, 3, 8, 4, 2)
    with pytest.raises(ConfigError, match="unknown tactic"):
        autotune(SHAPES[:1], tactics=["cudnn"])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(Exception, match="cannot be read"):
        TimingCache(broken)
