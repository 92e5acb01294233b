"""Which recorded runs to compare: the latest run of each label (per batch and concurrency), and the baseline the
speed-ups are relative to. Used by the Compare panel and by the performance-report lesson."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

KEYS = ("label", "batch", "concurrency")


@dataclass
class LatestRuns:
    """``runs``: the latest run of each (label, batch, concurrency), oldest first; ``baseline``: the label of the
    first FP32 run among them (else the first label; None when there are no runs)."""

    runs: pd.DataFrame
    baseline: str | None


def latest_runs(runs: pd.DataFrame) -> LatestRuns:
    """The latest run per label (and batch, concurrency) of a ``ResultsStore.runs()`` frame, then the baseline."""
    if runs.empty:
        return LatestRuns(runs, None)
    ordered = runs.sort_values("id", kind="stable") if "id" in runs.columns else runs
    keys = [k for k in KEYS if k in ordered.columns]
    latest = ordered.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)
    fp32 = latest["precision"].eq("fp32").fillna(False) if "precision" in latest.columns else None
    baseline = latest.loc[fp32, "label"].iloc[0] if fp32 is not None and fp32.any() else latest["label"].iloc[0]
    return LatestRuns(latest, str(baseline))
