"""Latency statistics the way trtexec reports them, and the workbench's own stability check."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

PERCENTILES = (90, 95, 99)

# trtexec warns "GPU compute time is unstable" when the coefficient of variation (std/mean) of *GPU Compute Time*
# (CUDA-event time of the kernels, clocks ideally locked) is above kUNSTABLE_PERF_REPORTING_THRESHOLD: 1.0 % in
# TensorRT 8.4 to 10.13, 2.5 % from 10.13.2 on (NVIDIA/TensorRT samples/common/sampleReporting.cpp).
# Our CPU harness measures something else: the wall time of each host call (perf_counter_ns around the whole
# inference, threads and OS scheduling included) on a laptop whose clocks nobody locks. That varies more than GPU
# kernel time, so trtexec's threshold would flag nearly every CPU run. Our threshold is our own choice: 5 %, the
# point past which the median moves visibly between repeated short runs on a busy laptop.
UNSTABLE_CV = 0.05


def unstable_message(cv: float) -> str:
    """The warning for a run whose latency's coefficient of variation is above ``UNSTABLE_CV``."""
    return (
        f"unstable: wall-clock latency varies by {cv:.1%} (coefficient of variation above the workbench's "
        f"{UNSTABLE_CV:.0%}); close other programs, run longer, or pin CPU/GPU clocks"
    )


def percentile(sorted_ms: np.ndarray, p: float) -> float:
    """trtexec's percentile: the sorted sample at index n-1-floor((1-p/100)·n) (a real sample, no interpolation)."""
    n = len(sorted_ms)
    index = n - 1 - math.floor((100 - p) * n / 100)  # (100 - p) first: 1 - 0.9 is not 0.1 in floating point
    return float(sorted_ms[min(max(index, 0), n - 1)])


def latency_stats(samples_ms: Sequence[float] | np.ndarray) -> dict[str, float]:
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
