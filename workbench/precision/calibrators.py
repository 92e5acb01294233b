"""Calibrators: from a tensor's |x| histogram to the amax (clipping threshold) of symmetric linear quantization.

Written from their public descriptions:
- MinMax: the largest |x| seen (TensorRT's IInt8MinMaxCalibrator).
- Entropy: the KL-divergence threshold search of Migacz, "8-bit Inference with TensorRT" (GTC 2017): a 2048-bin
  histogram of |x|; for every i from 128 to 2048 the first i bins (the clipped tail added to the last one) are
  compared with their quantization to 128 levels; the i with the smallest divergence m gives amax = (m + 0.5) · w.
  Two rules from TensorRT's shipped calibrator (NVIDIA's MLPerf v0.5 calibration note, "first bin discarded"; the
  same in pytorch-quantization): bin 0 is left out — a ReLU output's spike of exact zeros would otherwise drag every
  threshold below 1/8 of the range (measured: digits_cnn's ReLU outputs clipped from 4.3 to 1.4, accuracy 98.2 % ->
  95.6 %) — and a candidate whose clipped distribution is a single point mass is skipped (its divergence is 0
  whatever it clips; discrete inputs such as 8-bit pixels would get a threshold below their second level).
  Entropy and Entropy2 use this same search; they differ in *which tensors* are calibrated (see calibrate.py).
- Percentile: the p-th percentile of |x| (p = 99.9, 99.99, 99.999, ...), read from the histogram.
- MSE: the threshold minimizing the mean squared quantization error (rounding + clipping) over the histogram.
- Auto: per tensor, whichever of MinMax's and Entropy's thresholds gives the lower quantization MSE over the
  histogram. Entropy alone clips detector activations (box coordinates, the large tail of SiLU outputs) about twice
  as hard as ModelOpt's calibrators; MinMax alone wastes levels on a single outlier. The histogram's MSE is what the
  tensor actually loses either way, so each tensor keeps the threshold that loses less.
"""

from __future__ import annotations

from typing import Any, Callable, TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from .histogram import TensorHistogram

# CALIBRATORS (the names, in the order menus show them) is defined at the end, from the registry of amax functions.
# Scales read from a TensorRT cache written by the legacy calibrator: which calibrator chose them is unknown.
LEGACY = "legacy"
# Largest representable magnitude per quantized type: scale = amax / QMAX (the one table; fp8 = float8 e4m3fn).
QMAX = {"int8": 127.0, "fp8": 448.0}
# TensorRT 10 calibration-cache algorithm names (header TRT-<version>-<algorithm>), for the calibrators TensorRT has,
# and "legacy" for scales that came from a LegacyCalibration cache (written back under the name they came with).
# Percentile and MSE are not TensorRT calibrators (they come from NVIDIA's PyTorch/ModelOpt quantization tools), so
# their scales are never written under a TensorRT calibrator's name: use Q/DQ (quantize()) for them.
TRT_ALGORITHMS = {
    "minmax": "MinMaxCalibration",
    "entropy": "EntropyCalibration",
    "entropy2": "EntropyCalibration2",
    LEGACY: "LegacyCalibration",
}
# A cache's algorithm -> the calibrator it names (LegacyCalibration: "legacy", never a guess such as "mse").
CALIBRATOR_OF_TRT_ALGORITHM = {
    "MinMaxCalibration": "minmax",
    "EntropyCalibration": "entropy",
    "EntropyCalibration2": "entropy2",
    "LegacyCalibration": LEGACY,
}
QUANTIZED_LEVELS = 128  # Entropy: levels of the quantized candidate distribution (|x| side of int8)
START_BIN = 128


def check_calibrator(name: str, *, allow_legacy: bool = False) -> str:
    """The calibrator's canonical name. ``legacy`` (scales read from a TensorRT LegacyCalibration cache) names a
    table's origin, allowed where a table is described (``allow_legacy``), never as a calibrator to run."""
    key = str(name).lower().replace("_", "").replace("-", "")
    if key == LEGACY and allow_legacy:
        return key
    if key == LEGACY:
        raise ConfigError(
            f"calibrator '{name}' describes scales read from a TensorRT LegacyCalibration cache and "
            f"cannot be run; choose one of {', '.join(CALIBRATORS)} to calibrate"
        )
    if key not in CALIBRATORS:
        raise ConfigError(f"calibrator '{name}' is unknown (calibrators: {', '.join(CALIBRATORS)})")
    return key


def minmax_amax(hist: TensorHistogram) -> float:
    return hist.absmax


def entropy_divergences(counts: np.ndarray, levels: int = QUANTIZED_LEVELS, start: int = START_BIN) -> np.ndarray:
    """KL divergence for every candidate i (index = i) of TensorRT's search; entries below ``start`` are inf.

    All candidates at once, in closed form from prefix sums (the per-candidate loop took ~1 ms per candidate, 1.8 s
    per tensor: 94 % of YOLO's calibration). With P the first i bins (the clipped tail added to bin i-1) and Q their
    merge into ``levels`` levels spread evenly over each level's non-empty bins (q_j = S_L / N_L):
    KL = (sum_j p_j log p_j - sum_L S_L log(S_L / N_L)) / |P| + log(|Q| / |P|), the last bin corrected for its tail;
    a tail over an empty last bin has mass where Q has none (inf), as in the loop."""
    c = np.array(counts, dtype=np.float64)
    c[0] = 0.0  # first bin discarded (see the module docstring)
    n = len(c)
    divergences = np.full(n + 1, np.inf)
    i = np.arange(max(min(start, n), levels, 1), n + 1)
    if len(i) == 0:
        return divergences
    cumulative = np.concatenate([[0.0], np.cumsum(c)])  # cumulative[k] = sum(c[:k])
    nonzero = np.concatenate([[0], np.cumsum(c > 0)])
    c_log_c = np.concatenate([[0.0], np.cumsum(np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0)), 0.0))])
    total = cumulative[n]
    tail = total - cumulative[i]
    last = c[i - 1]
    p_last = last + tail
    q_total = cumulative[i]
    merged = i // levels
    # Every level but the last spans the same bins for all candidates with the same ``merged`` (about n / levels
    # distinct values): their terms are computed once per distinct value and laid out per candidate, so each row
    # sums the very same numbers as when every candidate computed all its levels (bit-identical, 25x faster).
    distinct, row_of = np.unique(merged, return_inverse=True)
    starts = np.arange(levels)[None, :] * distinct[:, None]
    ends = starts + distinct[:, None]
    level_sums = cumulative[ends] - cumulative[starts]
    level_nonzero = nonzero[ends] - nonzero[starts]
    last_start = (levels - 1) * merged  # the last level runs to i: the remainder goes to it
    last_sums = cumulative[i] - cumulative[last_start]
    last_nonzero = nonzero[i] - nonzero[last_start]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_bin = np.where(level_nonzero > 0, level_sums / np.maximum(level_nonzero, 1), 1.0)
        terms = np.empty((len(i), levels))
        terms[:, :-1] = (level_sums[:, :-1] * np.log(per_bin[:, :-1]))[row_of]
        log_q_last = np.log(np.where(last_nonzero > 0, last_sums / np.maximum(last_nonzero, 1), 1.0))
        terms[:, -1] = last_sums * log_q_last
        c_log_q = terms.sum(axis=1)
        a = c_log_c[i] - c_log_q
        correction = np.where(
            last > 0,
            p_last * (np.log(np.where(p_last > 0, p_last, 1.0)) - log_q_last)
            - last * (np.log(np.where(last > 0, last, 1.0)) - log_q_last),
            0.0,
        )
        kl = (a + correction) / total + np.log(q_total / total) if total > 0 else np.full(len(i), np.inf)
    points = nonzero[i - 1] + (p_last > 0)
    unusable = (points < 2) | (q_total == 0) | ((last == 0) & (tail > 0)) | ~np.isfinite(kl)
    divergences[i] = np.where(unusable, np.inf, np.maximum(kl, 0.0))
    return divergences


def entropy_amax(hist: TensorHistogram, levels: int = QUANTIZED_LEVELS, start: int = START_BIN) -> float:
    counts, edges = hist.histogram()
    if len(counts) <= start:  # too few bins to search: keep the full range
        return hist.absmax
    divergences = entropy_divergences(counts, levels, start)
    if not np.isfinite(divergences).any():  # e.g. a constant tensor: every candidate is a point mass
        return hist.absmax
    # The first minimum; candidates equal to it within rounding of the closed form count as ties.
    best = divergences[np.isfinite(divergences)].min()
    m = int(np.flatnonzero(divergences <= best + 1e-12 * max(abs(best), 1.0))[0])
    width = edges[1] - edges[0]
    return float(min((m + 0.5) * width, hist.absmax))


def percentile_amax(hist: TensorHistogram, percentile: float) -> float:
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile {percentile} must be in (0, 100], e.g. 99.99")
    counts, edges = hist.histogram()
    total = counts.sum()
    if total == 0:
        return 0.0
    cdf = np.cumsum(counts) / total
    index = int(np.searchsorted(cdf, percentile / 100.0))
    return float(min(edges[min(index + 1, len(edges) - 1)], hist.absmax))  # the right edge of that bin


def _histogram_mse(centers: np.ndarray, weights: np.ndarray, thresholds: np.ndarray, levels: int) -> np.ndarray:
    """Squared quantization error (rounding + clipping) of the histogram for each threshold; each bin's values are
    taken at its centre."""
    scale = np.maximum(thresholds[:, None], np.finfo(np.float64).tiny) / levels
    q = np.clip(np.round(centers[None, :] / scale), -levels, levels) * scale
    return ((centers[None, :] - q) ** 2 * weights[None, :]).sum(axis=1)


def mse_amax(hist: TensorHistogram, levels: int = int(QMAX["int8"]), start: int = START_BIN, stride: int = 1) -> float:
    """Search thresholds at bin edges from ``start``."""
    counts, edges = hist.histogram()
    if len(counts) <= start:
        return hist.absmax
    centers = (edges[:-1] + edges[1:]) / 2
    weights = counts.astype(np.float64)
    candidates = edges[start::stride]
    best, best_error = hist.absmax, np.inf
    for chunk in np.array_split(candidates, max(1, len(candidates) // 256)):
        error = _histogram_mse(centers, weights, chunk, levels)
        k = int(np.argmin(error))
        if error[k] < best_error:
            best, best_error = float(chunk[k]), float(error[k])
    return min(best, hist.absmax)  # the last edge can lie past |x|max


def auto_amax(hist: TensorHistogram, levels: int = int(QMAX["int8"])) -> tuple[float, str]:
    """(amax, "minmax" or "entropy"): the one of the two thresholds with the lower quantization MSE."""
    candidates = {"minmax": minmax_amax(hist), "entropy": entropy_amax(hist)}
    counts, edges = hist.histogram()
    if len(counts) < 2 or candidates["minmax"] == candidates["entropy"]:
        return candidates["minmax"], "minmax"
    centers = (edges[:-1] + edges[1:]) / 2
    errors = _histogram_mse(centers, counts.astype(np.float64), np.array(list(candidates.values())), levels)
    chosen = list(candidates)[int(np.argmin(errors))]
    return candidates[chosen], chosen


# The calibrator registry: name -> amax(histogram, percentile). Entropy and Entropy2 share the search; they differ in
# which tensors are calibrated (calibrate.py). ``calibrate()`` dispatches through it, never through an if/elif chain.
AMAX_FUNCTIONS: dict[str, Callable[[Any, float], float]] = {
    "minmax": lambda hist, _percentile: minmax_amax(hist),
    "entropy": lambda hist, _percentile: entropy_amax(hist),
    "entropy2": lambda hist, _percentile: entropy_amax(hist),
    "percentile": lambda hist, percentile: percentile_amax(hist, percentile),
    "mse": lambda hist, _percentile: mse_amax(hist),
    "auto": lambda hist, _percentile: auto_amax(hist)[0],
}
CALIBRATORS = tuple(AMAX_FUNCTIONS)
# The default everywhere (library, CLI, panels). MinMax: measured by benchmarks/bench_default_calibrator.py on every
# detector and classifier sample (TensorRT placement, held-out samples vs FP32) it has the best SQNR on the four
# classifiers (digits_cnn 38.3 dB vs entropy2 37.0, ocr_recognizer 30.9 vs 28.6) and is within 0.3 dB, 0.002 px of
# box error and 0.6 points of class agreement of the best on the random-weight YOLO sample; Entropy2 clipped real
# YOLO models (TensorRT#3922: 10-20 % mAP lost, 1 % with MinMax; Ultralytics switched to MinMax), and ModelOpt's
# INT8 ONNX default "entropy" runs ONNX Runtime's 128-bin search, which returns the min/max range (research note).
DEFAULT_CALIBRATOR = "minmax"


def calibrator_amax(calibrator: str, hist: TensorHistogram, percentile: float = 99.99) -> float:
    """The amax that ``calibrator`` chooses for a tensor's |x| histogram (``percentile``: for Percentile)."""
    return AMAX_FUNCTIONS[check_calibrator(calibrator)](hist, float(percentile))
