"""The faster calibration kernels (issue 19, item 5) give exactly what the plain ones gave: the same KL divergences
for every Entropy candidate (so the same thresholds) and the same histogram counts, on random and real data."""

import numpy as np
import pytest

from workbench.model import load_model
from workbench.model.datasets import digits
from workbench.precision import calibrate, histogram
from workbench.precision.calibrators import entropy_amax, entropy_divergences
from workbench.precision.histogram import HISTOGRAM_BLOCK, TensorHistogram


def every_level_divergences(counts: np.ndarray, levels: int = 128, start: int = 128) -> np.ndarray:
    """The closed form as it was: each candidate computes all of its levels (the faster version shares the levels
    that candidates with the same bins per level have in common)."""
    c = np.array(counts, dtype=np.float64)
    c[0] = 0.0
    n = len(c)
    divergences = np.full(n + 1, np.inf)
    i = np.arange(max(min(start, n), levels, 1), n + 1)
    if len(i) == 0:
        return divergences
    cumulative = np.concatenate([[0.0], np.cumsum(c)])
    nonzero = np.concatenate([[0], np.cumsum(c > 0)])
    c_log_c = np.concatenate([[0.0], np.cumsum(np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0)), 0.0))])
    total = cumulative[n]
    tail = total - cumulative[i]
    last = c[i - 1]
    p_last = last + tail
    q_total = cumulative[i]
    merged = i // levels
    starts = np.arange(levels)[None, :] * merged[:, None]
    ends = starts + merged[:, None]
    ends[:, -1] = i
    level_sums = cumulative[ends] - cumulative[starts]
    level_nonzero = nonzero[ends] - nonzero[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_bin = np.where(level_nonzero > 0, level_sums / np.maximum(level_nonzero, 1), 1.0)
        c_log_q = (level_sums * np.log(per_bin)).sum(axis=1)
        a = c_log_c[i] - c_log_q
        log_q_last = np.log(per_bin[:, -1])
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


def plain_counts(values: list[np.ndarray]) -> list[np.ndarray]:
    """TensorHistogram's counts with the binning written plainly: |x|, scaled, clipped to the last bin, truncated
    (and never the compiled kernel's one-pass path either)."""

    class Plain(TensorHistogram):
        def _count(self, a, inverse):
            dtype = np.float32 if isinstance(inverse, np.float32) else np.float64
            scaled = np.abs(a, dtype=dtype) * inverse
            index = np.minimum(scaled, len(self.counts) - 1).astype(np.intp)
            self.counts += np.bincount(index, minlength=len(self.counts))

    compiled, histogram.kernel = histogram.kernel, None
    try:
        hist = Plain("x")
        for v in values:
            hist.update(v)
    finally:
        histogram.kernel = compiled
    return hist.counts


def random_histograms(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(19)
    out = []
    for k in range(count):
        n = int(rng.integers(1, 4200))
        kind = k % 5
        if kind == 0:
            out.append(rng.integers(0, 1000, n))
        elif kind == 1:  # sparse: most bins empty, as for discrete inputs
            out.append((rng.random(n) < 0.05) * rng.integers(0, 50, n))
        elif kind == 2:
            out.append(np.histogram(np.abs(rng.standard_normal(50000) * rng.random()), n)[0])
        elif kind == 3:  # heavy tail
            out.append(np.histogram(np.abs(rng.standard_cauchy(50000)), n)[0])
        else:  # a ReLU-like spike of zeros and a few points
            h = np.zeros(n, np.int64)
            h[0] = 10**6
            h[rng.integers(0, n, int(rng.integers(1, 4)))] += rng.integers(1, 9)
            out.append(h)
    return out


def test_shared_level_divergences_equal_every_level_ones_on_random_histograms():
    for counts in random_histograms(120):
        assert np.array_equal(entropy_divergences(counts), every_level_divergences(counts)), len(counts)
        for levels, start in ((16, 16), (128, 512)):
            assert np.array_equal(
                entropy_divergences(counts, levels, start), every_level_divergences(counts, levels, start)
            )


@pytest.fixture(scope="module")
def digits_histograms():
    table = calibrate(load_model("digits_cnn"), digits("calibration")[0][:64], "entropy2", histograms=True)
    return table.histograms


def test_shared_level_divergences_equal_every_level_ones_on_real_histograms(digits_histograms):
    for name, hist in digits_histograms.items():
        counts, _ = hist.histogram()
        assert np.array_equal(entropy_divergences(counts), every_level_divergences(counts)), name
        assert entropy_amax(hist) > 0


def test_binning_counts_equal_the_plain_binning():
    rng = np.random.default_rng(5)
    cases = [
        [rng.standard_normal(3 * HISTOGRAM_BLOCK + 17).astype(np.float32)],  # several blocks, a partial one
        [np.maximum(rng.standard_normal(5000), 0).astype(np.float32), -np.abs(rng.standard_normal(7000)) * 3],
        [np.array([-2.0, -0.0, 0.0, 2.0, 1.0, -1.0], np.float32)],  # exact |x|max on both sides, signed zeros
        [rng.standard_normal(1000).astype(np.float32) * 1e-3, rng.standard_normal(1000) * 1e3],  # bins merged
        [np.zeros(10, np.float32), rng.standard_normal(100).astype(np.float32) * 1e-42],  # float64 scale
        [rng.integers(0, 256, 20000).astype(np.float32)],  # discrete values on bin edges
    ]
    for values in cases:
        fast = TensorHistogram("x")
        for v in values:
            fast.update(v)
        assert np.array_equal(fast.counts, plain_counts(values))
        assert fast.counts.sum() == sum(v.size for v in values)
