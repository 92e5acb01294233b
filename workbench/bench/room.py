"""The instructor's view of a shared results store: every machine's (and GPU's) results side by side.

``room_results`` reduces the store's runs to one row per machine, GPU and model: how many runs arrived, the best
latency of the baseline precision and of the compared precision, and the best speed-up measured on that machine.
Speed-ups compare like with like: the same machine, model, backend, batch and concurrency. ``RunsPoller`` tells a
refreshing view (the Compare panel, a notebook loop) when new runs have arrived, without re-reading every row.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ConfigError

if TYPE_CHECKING:
    from .store import ResultsStore

ROOM_COLUMNS = ["machine", "gpu", "cpu", "model", "runs", "baseline_ms", "best_ms", "speedup", "batch", "last_run"]


def _machine_facts(text) -> dict:
    try:
        return json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}


def room_results(runs: pd.DataFrame, *, precision: str = "int8", baseline: str = "fp32") -> pd.DataFrame:
    """One row per machine × GPU × model: runs recorded, best ``baseline`` and ``precision`` median latency (ms) at the
    batch where the speed-up is largest, and that speed-up (baseline / precision; NaN until both were measured).

    ``runs``: a ResultsStore or the frame of ``ResultsStore.runs()``. Machines are told apart by hostname (the
    machine facts recorded with every run); the GPU column is the GPU's name, or "CPU only"."""
    if hasattr(runs, "runs"):
        runs = runs.runs("benchmark")
    if not isinstance(runs, pd.DataFrame):
        raise ConfigError(
            f"room_results needs a ResultsStore or the frame of ResultsStore.runs(), got {type(runs).__name__}"
        )
    if runs.empty:
        return pd.DataFrame(columns=ROOM_COLUMNS)
    runs = runs[runs["kind"] == "benchmark"] if "kind" in runs.columns else runs
    facts = [_machine_facts(m) for m in runs["machine"]]
    frame = runs.assign(
        machine=[f.get("hostname") or "unknown" for f in facts],
        gpu=[f.get("gpu") or "CPU only" for f in facts],
        cpu=[f.get("cpu") or "" for f in facts],
        model=runs["source_model"].fillna(runs["model"]).fillna("?"),
        precision=runs["precision"].fillna("fp32").str.lower(),
    )
    keys = ["machine", "gpu", "model"]
    like = keys + ["backend", "batch", "concurrency"]
    best = frame.groupby(like + ["precision"], dropna=False)["latency_ms_median"].min().unstack("precision")
    pairs = pd.DataFrame(
        {"baseline_ms": best.get(baseline.lower(), np.nan), "best_ms": best.get(precision.lower(), np.nan)},
        index=best.index,
    )
    pairs["speedup"] = pairs["baseline_ms"] / pairs["best_ms"]
    pairs = pairs.reset_index()
    ranked = pairs.sort_values("speedup", ascending=False, na_position="last").drop_duplicates(keys)
    summary = (
        frame.groupby(keys, dropna=False)
        .agg(cpu=("cpu", "first"), runs=("id", "size"), last_run=("created", "max"))
        .reset_index()
    )
    out = summary.merge(ranked[keys + ["baseline_ms", "best_ms", "speedup", "batch"]], on=keys, how="left")
    return (
        out[ROOM_COLUMNS]
        .sort_values(["speedup", "machine"], ascending=[False, True], na_position="last")
        .reset_index(drop=True)
    )


class RunsPoller:
    """Says whether a store received runs since the last look (one COUNT/MAX query, cheap enough to poll)."""

    def __init__(self, store: ResultsStore):
        self.store = store
        self.seen: tuple[int, int] | None = None

    def poll(self) -> bool:
        """True the first time and whenever runs were added (or removed) since the previous call."""
        now = self.store.summary_counts()
        changed = now != self.seen
        self.seen = now
        return changed
