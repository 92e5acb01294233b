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
            raise ConfigError(
                f"baseline '{baseline}' is not among the runs (labels: {', '.join(dict.fromkeys(latest['label']))})"
            )
        return LatestRuns(latest, baseline)

    def column(name):
        return latest[name] if name in latest.columns else pd.Series([None] * len(latest))

    fp32 = column("precision").eq("fp32").fillna(False).astype(bool)
    preferences = [
        column("variant").eq("fp32").fillna(False).astype(bool),
        fp32 & column("backend").eq("onnxruntime").fillna(False).astype(bool),
        fp32,
    ]
    chosen = next((latest.loc[p, "label"].iloc[0] for p in preferences if p.any()), latest["label"].iloc[0])
    return LatestRuns(latest, str(chosen))


def speedups(frame: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Speed-up of each run over ``baseline`` at the same batch and concurrency, from **median** latency.

    ``speedup`` = the baseline's median latency ÷ this run's (at one batch and concurrency that is the ratio of
    median-based throughputs). The mean, and with it ``throughput`` (batch × iterations ÷ wall time), follows the
    stalls of a busy machine: one 250 ms hiccup among 0.4 ms runs moves it, not the median. The wall-time ratio is
    kept as ``throughput_speedup``, labelled as such.

    ``unstable``: this run or its baseline had a latency CV above the harness's threshold (``stats.UNSTABLE_CV``),
    so its ratio is not to be trusted. ``same_threads``: False where the two ran with different intra-op thread
    counts (a comparison of thread counts, not of backends); None where a run did not record its threads.
    ``baseline``: a label (default: the first row's). Rows with no baseline at their batch/concurrency are dropped.
    """
    from .stats import UNSTABLE_CV

    if not isinstance(frame, pd.DataFrame) or "latency_ms_median" not in frame.columns or "batch" not in frame:
        raise ConfigError(
            "speed-ups need a DataFrame with 'latency_ms_median' and 'batch' columns (from sweep() or "
            "ResultsStore.runs())"
        )
    if frame.empty:
        raise ConfigError("speed-ups: the frame has no rows")
    data = frame.copy()
    data["label"] = (data["label"] if "label" in data.columns else data["backend"]).astype(str)
    if "concurrency" not in data.columns:
        data["concurrency"] = 1
    baseline = baseline if baseline is not None else data["label"].iloc[0]
    if baseline not in set(data["label"]):
        raise ConfigError(
            f"baseline '{baseline}' is not a label in the frame (labels: {', '.join(dict.fromkeys(data['label']))})"
        )
    if "cv" in data.columns:
        cv_unstable = data["cv"].astype(float) > UNSTABLE_CV
    else:
        cv_unstable = pd.Series(False, index=data.index)
    flagged = data["unstable"].fillna(False).astype(bool) if "unstable" in data.columns else cv_unstable
    data["run_unstable"] = flagged | cv_unstable
    threads = data["threads"] if "threads" in data.columns else pd.Series([None] * len(data), index=data.index)
    data["threads"] = [None if pd.isna(t) else int(t) for t in threads]
    columns = ["latency_ms_median", "run_unstable", "threads"] + (["throughput"] if "throughput" in data else [])
    base = (
        data[data["label"] == baseline]
        .drop_duplicates(["batch", "concurrency"], keep="last")
        .set_index(["batch", "concurrency"])[columns]
        .add_prefix("baseline_")
    )
    data = data.join(base, on=["batch", "concurrency"], how="inner")
    data["speedup"] = data["baseline_latency_ms_median"] / data["latency_ms_median"]
    if "throughput" in data.columns:
        data["throughput_speedup"] = data["throughput"] / data["baseline_throughput"]
    data["unstable"] = data["run_unstable"] | data["baseline_run_unstable"].astype(bool)
    data["same_threads"] = [
        None if a is None or b is None else a == b for a, b in zip(data["threads"], data["baseline_threads"])
    ]
    keep = [
        "label",
        "batch",
        "concurrency",
        "threads",
        "latency_ms_median",
        "baseline_latency_ms_median",
        "speedup",
        *(["throughput_speedup"] if "throughput" in data.columns else []),
        *(["cv"] if "cv" in data.columns else []),
        "unstable",
        "same_threads",
    ]
    return data[keep].reset_index(drop=True).assign(baseline=baseline)
