"""Latency statistics the way trtexec reports them."""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = (90, 95, 99)
# trtexec warns when the coefficient of variation of the timings is above 2.5 %.
UNSTABLE_CV = 0.025


def percentile(sorted_ms: np.ndarray, p: float) -> float:
    """trtexec's percentile: the sorted sample at index n-1-floor((1-p/100)·n) (a real sample, no interpolation)."""
    n = len(sorted_ms)
    index = n - 1 - math.floor((100 - p) * n / 100)  # (100 - p) first: 1 - 0.9 is not 0.1 in floating point
    return float(sorted_ms[min(max(index, 0), n - 1)])


def latency_stats(samples_ms) -> dict[str, float]:
    """min, mean, median, p90/p95/p99, max and the coefficient of variation (std/mean) of latency samples in ms."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        return {k: math.nan for k in ("min", "mean", "median", *(f"p{p}" for p in PERCENTILES), "max", "cv")}
    mean = float(x.mean())
    stats = {"min": float(x[0]), "mean": mean, "median": float(np.median(x))}
    stats.update({f"p{p}": percentile(x, p) for p in PERCENTILES})
    stats["max"] = float(x[-1])
    stats["cv"] = float(x.std() / mean) if mean > 0 else math.nan
    return stats
