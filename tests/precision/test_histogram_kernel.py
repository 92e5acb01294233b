"""The compiled histogram kernel (workbench/precision/histogram_kernel.c) gives what numpy gives: the same counts,
bin width, min, max and element count after any sequence of batches, the same error for NaN and Inf with nothing
changed, and it is built by the project's install (so every calibration test here runs it)."""

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.precision import histogram
from workbench.precision.histogram import TensorHistogram


def test_the_install_built_the_kernel():
    assert histogram.kernel is not None, (
        "workbench/precision/histogram_kernel.c is not built: `make .venv/.installed-dev` (pip install -e .) "
        "compiles it and needs a C compiler (apt-get install g++ python3-dev); without it calibration counts "
        "with numpy, slower"
    )


def histograms_of(batches: list[np.ndarray], monkeypatch, compiled: bool) -> TensorHistogram:
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(histogram, "kernel", None)
        hist = TensorHistogram("x")
        for batch in batches:
            hist.update(batch)
    return hist


def batch_sequences() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(26)
    normal = lambda n, scale=1.0: (rng.standard_normal(n) * scale).astype(np.float32)  # noqa: E731
    return [
        [normal(10_000)],
        [normal(5_000) for _ in range(6)],  # the width fixed by the first: later batches take the one-pass path
        [normal(1_000, 0.1), normal(1_000), normal(1_000, 10), normal(1_000, 3)],  # the range grows, then not
        [normal(1_000, 1e-3), normal(1_000, 1e3)],  # bins merged
        [np.zeros(64, np.float32), normal(3_001)],  # zeros before the width exists
        [normal(100, 1e-42), normal(100, 1e-42)],  # denormal-sized bins: float64 products
        [np.maximum(normal(4099), 0), -np.abs(normal(4097)) * 3, np.maximum(normal(4103), 0)],  # ReLU zeros
        [np.array([-2.0, -0.0, 0.0, 2.0, 1.0, -1.0], np.float32), np.array([2.0, -2.0, 0.5], np.float32)],  # |x|max
        [rng.integers(0, 256, 20_000).astype(np.float32), rng.integers(0, 256, 3).astype(np.float32)],  # bin edges
        [normal(7, 5.0) for _ in range(40)],  # batches smaller than the kernel's unrolling
        [normal(2_000).reshape(2, 10, 100)[:, ::2], normal(2_000).astype(np.float64)],  # strided, float64
        [np.full(1_000, 3.0, np.float32), np.full(1_000, 3.0, np.float32)],  # a constant: one value on the edge
    ]


@pytest.mark.parametrize("case", range(len(batch_sequences())))
def test_kernel_and_numpy_histograms_are_identical(case, monkeypatch):
    batches = batch_sequences()[case]
    compiled = histograms_of(batches, monkeypatch, compiled=True)
    plain = histograms_of(batches, monkeypatch, compiled=False)
    assert np.array_equal(compiled.counts, plain.counts)
    assert (compiled.width, compiled.min, compiled.max, compiled.count) == (plain.width, plain.min, plain.max,
                                                                              plain.count)
    assert compiled.counts.sum() == sum(b.size for b in batches)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("compiled", [True, False])
def test_a_non_finite_batch_is_refused_and_changes_nothing(bad, compiled, monkeypatch):
    rng = np.random.default_rng(3)
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(histogram, "kernel", None)
        hist = TensorHistogram("conv1_out")
        hist.update(rng.standard_normal(3000).astype(np.float32))
        before = (hist.counts.copy(), hist.min, hist.max, hist.count)
        values = rng.standard_normal(3000).astype(np.float32) * 0.5
        values[2500] = bad  # late in the batch: after blocks that were already counted
        with pytest.raises(ConfigError, match="produces (NaN|Inf) in tensor 'conv1_out'"):
            hist.update(values, " (batch 1)")
        assert np.array_equal(hist.counts, before[0]) and (hist.min, hist.max, hist.count) == before[1:]


def test_kernel_counts_fold_or_report_what_lies_past_the_last_bin():
    kernel = histogram.kernel
    if kernel is None:
        pytest.fail("the kernel is not built (see test_the_install_built_the_kernel)")
    values = np.array([0.0, 0.5, -1.5, 3.9, 4.0, -7.0, 100.0], np.float32)
    counts = np.zeros(4, np.int64)
    assert kernel.count(values, 1.0, True, False, counts) == (-7.0, 100.0, True, 3)
    assert counts.tolist() == [2, 1, 0, 1]  # 4.0, -7.0 and 100.0 have no bin: counted as outside only
    counts[:] = 0
    assert kernel.count(values, 1.0, False, True, counts) == (-7.0, 100.0, True, 0)
    assert counts.tolist() == [2, 1, 0, 4]  # folded into the last bin
    with pytest.raises(ValueError, match="float32 values"):
        kernel.count(values, 1.0, True, True, np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="float32 values"):
        kernel.count(np.zeros(3, np.int8), 1.0, True, True, counts)

