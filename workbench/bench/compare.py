"""Which recorded runs to compare: the latest run of each label (per batch and concurrency), and the baseline the
speed-ups are relative to. Used by the Compare panel and by the performance-report lesson."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ConfigError

KEYS = ("label", "batch", "concurrency")


@dataclass
class LatestRuns:
    """``runs``: the latest run of each (label, batch, concurrency), oldest first; ``baseline``: the label the
    speed-ups are relative to (None when there are no runs)."""

    runs: pd.DataFrame
    baseline: str | None


def latest_runs(runs: pd.DataFrame, baseline: str | None = None) -> LatestRuns:
    """The latest run per label (and batch, concurrency) of a ``ResultsStore.runs()`` frame, then the baseline.
    Runs of one machine: for a shared store, group the runs by machine first (``bench.room`` does), since the same
    label on two machines is two different measurements.

    The baseline is ``baseline`` when given (a label among the runs), else the first of: the variant named "fp32",
    an FP32 run on ONNX Runtime, any FP32 run, the first label.
    """
    if runs.empty:
        return LatestRuns(runs, baseline)
    ordered = runs.sort_values("id", kind="stable") if "id" in runs.columns else runs
    keys = [k for k in KEYS if k in ordered.columns]
    latest = ordered.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)
    if baseline is not None:
        if baseline not in set(latest["label"]):
            raise ConfigError(f"baseline '{baseline}' is not among the runs (labels: "
                              f"{', '.join(dict.fromkeys(latest['label']))})")
        return LatestRuns(latest, baseline)

    def column(name):
        return latest[name] if name in latest.columns else pd.Series([None] * len(latest))

    fp32 = column("precision").eq("fp32").fillna(False).astype(bool)
    preferences = [column("variant").eq("fp32").fillna(False).astype(bool),
                   fp32 & column("backend").eq("onnxruntime").fillna(False).astype(bool), fp32]
    chosen = next((latest.loc[p, "label"].iloc[0] for p in preferences if p.any()), latest["label"].iloc[0])
    return LatestRuns(latest, str(chosen))
