"""Kernel auto-tuning, live on a CPU: what TensorRT's builder does for each layer, with implementations a laptop has.

TensorRT (datacenter, 8.x–11) has several implementations ("tactics") of each layer; the builder runs each one on the
target GPU, keeps the fastest, and records the timings in a timing cache keyed by the layer's configuration, so a
second build of the same layers times nothing. TensorRT-RTX does no timed search (its timing cache is a no-op; it
picks JIT kernels by heuristics), so its builds cannot show this. Here the same loop runs on the CPU for one layer,
a 2-D convolution (stride 1, "same" padding), with four real implementations:

* ``onnxruntime`` — ONNX Runtime's Conv kernel (MLAS), one thread;
* ``im2col+gemm`` — unfold every k×k patch into a matrix, then one matrix product (NumPy/BLAS);
* ``shifted taps`` — k² small matrix products, one per kernel tap, summed (no unfolded copy);
* ``fft`` — convolution as a pointwise product in the frequency domain (NumPy FFT): its cost barely depends on k.

Which wins depends on the shape (channels, image size, kernel size), which is the point: tuning is per shape and per
machine. Hand-written because no library exposes "the same layer, several kernels, time them": that loop is the lesson.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, EngineCacheError


@dataclass(frozen=True)
class ConvShape:
    """One convolution layer's configuration: NCHW input, ``out_channels`` filters of ``kernel``×``kernel``, stride 1,
    zero padding that keeps the image size (odd ``kernel``)."""

    batch: int
    in_channels: int
    size: int
    out_channels: int
    kernel: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ConvShape.{name} must be a positive integer, got {value!r}")
        if self.kernel % 2 == 0:
            raise ConfigError(f"ConvShape.kernel must be odd ('same' padding), got {self.kernel}")
        if self.kernel > self.size:
            raise ConfigError(f"ConvShape.kernel ({self.kernel}) is larger than the image ({self.size})")

    @property
    def key(self) -> str:
        """The timing cache's key: like TensorRT's, the layer's configuration (not its weights)."""
        return f"conv n{self.batch} c{self.in_channels} {self.size}x{self.size} k{self.out_channels} {self.kernel}x{self.kernel}"

    @property
    def macs(self) -> int:
        return self.batch * self.out_channels * self.in_channels * self.size * self.size * self.kernel * self.kernel


def _onnxruntime(x: np.ndarray, w: np.ndarray) -> Callable[[], np.ndarray]:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    pad = w.shape[-1] // 2
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[pad] * 4)],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # every tactic on one thread: the comparison is of algorithms, not of threads
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"x": x})[0]


def _padded(x: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _im2col_gemm(x: np.ndarray, w: np.ndarray) -> Callable[[], np.ndarray]:
    n, c, h, width = x.shape
    k_out, _, k, _ = w.shape
    matrix = w.reshape(k_out, c * k * k)

    def run():
        patches = np.lib.stride_tricks.sliding_window_view(_padded(x, k // 2), (k, k), axis=(2, 3))
        cols = patches.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * width, c * k * k)  # the unfolded copy
        return (cols @ matrix.T).reshape(n, h, width, k_out).transpose(0, 3, 1, 2)

    return run


def _shifted_taps(x: np.ndarray, w: np.ndarray) -> Callable[[], np.ndarray]:
    n, _, h, width = x.shape
    k_out, _, k, _ = w.shape
    taps = [(i, j, np.ascontiguousarray(w[:, :, i, j])) for i in range(k) for j in range(k)]

    def run():
        padded = _padded(x, k // 2)
        out = np.zeros((n, k_out, h, width), np.float32)
        for i, j, tap in taps:
            out += np.einsum("oc,nchw->nohw", tap, padded[:, :, i : i + h, j : j + width], optimize=True)
        return out

    return run


def _fft(x: np.ndarray, w: np.ndarray) -> Callable[[], np.ndarray]:
    _, _, h, width = x.shape
    k = w.shape[-1]
    size = (h + k - 1, width + k - 1)  # linear (not circular) convolution
    # correlation (what Conv computes) = convolution with the flipped kernel; its spectrum is computed once
    w_spectrum = np.fft.rfft2(w[:, :, ::-1, ::-1], s=size)

    def run():
        x_spectrum = np.fft.rfft2(x, s=size)
        y = np.fft.irfft2(np.einsum("nchw,ochw->nohw", x_spectrum, w_spectrum, optimize=True), s=size)
        p = k // 2
        return y[:, :, p : p + h, p : p + width].astype(np.float32)

    return run


TACTICS: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[], np.ndarray]]] = {
    "onnxruntime": _onnxruntime,
    "im2col+gemm": _im2col_gemm,
    "shifted taps": _shifted_taps,
    "fft": _fft,
}


def _machine_key() -> str:
    import platform

    import onnxruntime

    return (
        f"{platform.machine()} {platform.processor() or platform.system()} · numpy {np.__version__} · "
        f"onnxruntime {onnxruntime.__version__}"
    )


@dataclass
class TimingCache:
    """Tactic timings per layer configuration, for one machine and library versions (like TensorRT's, which is
    specific to the GPU, CUDA and TensorRT versions). ``path``: a JSON file read at creation and written by
    ``save()``; None keeps it in memory. ``hits`` / ``misses`` count look-ups since creation."""

    path: str | Path | None = None
    entries: dict = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        self.machine = _machine_key()
        if self.path is not None and Path(self.path).exists():
            try:
                saved = json.loads(Path(self.path).read_text())
            except (OSError, ValueError) as exc:
                raise EngineCacheError(
                    f"timing cache {self.path} cannot be read ({exc}); delete it to start a new one"
                ) from None
            # a cache from another machine or other library versions is not used: its timings say nothing here
            if saved.get("machine") == self.machine:
                self.entries = saved.get("entries", {})

    def lookup(self, key: str) -> dict | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def save(self) -> None:
        if self.path is not None:
            Path(self.path).write_text(json.dumps({"machine": self.machine, "entries": self.entries}, indent=1))


@dataclass
class TuningResult:
    """``timings``: one row per (layer, tactic) with its median time and whether it was chosen (or came from the
    cache: then no tactic was run, and the time is the cached one). ``seconds``: how long the "build" took."""

    timings: pd.DataFrame
    seconds: float
    cache: TimingCache

    @property
    def chosen(self) -> pd.DataFrame:
        return self.timings[self.timings["chosen"]].reset_index(drop=True)


def _time(run: Callable[[], np.ndarray], repeats: int) -> float:
    run()  # the first run is never timed (allocation, lazy initialisation), as TensorRT's builder does
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        run()
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) / 1e6


def autotune(
    shapes: Sequence[ConvShape],
    *,
    cache: TimingCache | None = None,
    tactics: Sequence[str] | None = None,
    repeats: int = 5,
    seed: int = 0,
    rtol: float = 1e-3,
) -> TuningResult:
    """Pick the fastest tactic for each convolution in ``shapes`` (ConvShape objects), as TensorRT's builder does.

    For a shape already in ``cache`` nothing runs: the cached choice is taken (the second build is instant). Else
    every tactic runs on the same random input and weights, is checked against ONNX Runtime's output (a tactic that
    gives a different answer is rejected, never chosen), is timed ``repeats`` times (median, after one untimed run),
    and the fastest is kept and cached.
    """
    shapes = [shapes] if isinstance(shapes, ConvShape) else list(shapes)
    if not shapes or not all(isinstance(s, ConvShape) for s in shapes):
        raise ConfigError("autotune needs one or more ConvShape(batch, in_channels, size, out_channels, kernel)")
    names = list(tactics or TACTICS)
    unknown = [n for n in names if n not in TACTICS]
    if unknown:
        raise ConfigError(f"unknown tactic(s) {', '.join(unknown)}; known: {', '.join(TACTICS)}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    cache = cache if cache is not None else TimingCache()
    rng = np.random.default_rng(seed)
    rows = []
    start = time.perf_counter()
    for shape in shapes:
        cached = cache.lookup(shape.key)
        if cached is not None:
            rows += [
                {
                    "layer": shape.key,
                    "tactic": t,
                    "median_ms": ms,
                    "chosen": t == cached["chosen"],
                    "from_cache": True,
                    "correct": True,
                }
                for t, ms in cached["timings"].items()
            ]
            continue
        x = rng.standard_normal((shape.batch, shape.in_channels, shape.size, shape.size)).astype(np.float32)
        w = rng.standard_normal((shape.out_channels, shape.in_channels, shape.kernel, shape.kernel)).astype(np.float32)
        reference = _onnxruntime(x, w)()
        timings = {}
        for name in names:
            run = TACTICS[name](x, w)
            correct = bool(np.allclose(run(), reference, rtol=rtol, atol=rtol * float(np.abs(reference).max())))
            timings[name] = (_time(run, repeats) if correct else float("nan"), correct)
        valid = {n: ms for n, (ms, ok) in timings.items() if ok}
        best = min(valid, key=valid.get)
        cache.entries[shape.key] = {"chosen": best, "timings": valid}
        rows += [
            {"layer": shape.key, "tactic": n, "median_ms": ms, "chosen": n == best, "from_cache": False, "correct": ok}
            for n, (ms, ok) in timings.items()
        ]
    cache.save()
    return TuningResult(pd.DataFrame(rows), time.perf_counter() - start, cache)
