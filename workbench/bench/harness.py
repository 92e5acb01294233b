"""The measurement loop, as trtexec does it: time-based warm-up, then a duration and an iteration count.

Each worker runs in its own thread when ``concurrency`` > 1 (ONNX Runtime's ``run`` and TensorRT's
``execute_async_v3`` release the GIL); with one worker the loop runs in the caller's thread, so Ctrl-C / a notebook
interrupt stops it and keeps what was measured (marked partial).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import BenchmarkBusyError, BenchmarkError, ConfigError, WorkbenchError
from ..model.loading import Model
from ..model.shapes import defaulted_dimensions, shapes_advice
from ..progress import ProgressCallback, ProgressReporter
from .runners import Runner, Worker, runner_for
from .stats import UNSTABLE_CV, latency_stats, unstable_message


# One benchmark at a time per process: two interleaved measurements would each time the other's work.
_ACTIVE = threading.RLock()
_ACTIVE_WHAT: list[str] = []


class exclusive:
    """Hold the process-wide benchmark slot; a second benchmark started meanwhile gets BenchmarkBusyError."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> exclusive:
        if not _ACTIVE.acquire(blocking=False):
            running = _ACTIVE_WHAT[0] if _ACTIVE_WHAT else "another benchmark"
            raise BenchmarkBusyError(
                f"cannot start {self.what}: {running} is still running in this process; "
                "wait for it or stop it (two measurements at once would time each other)"
            )
        _ACTIVE_WHAT.append(self.what)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE_WHAT.pop()
        _ACTIVE.release()


@dataclass
class BenchmarkConfig:
    """How long to measure. Defaults are shorter than trtexec's (0.2 s warm-up, 3 s) to suit a notebook."""

    warmup_s: float = 0.2
    duration_s: float = 1.0
    min_iterations: int = 10
    max_iterations: int | None = None

    def __post_init__(self) -> None:
        for name in ("warmup_s", "duration_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number of seconds, got {value!r}")
        if not isinstance(self.min_iterations, int) or self.min_iterations < 1:
            raise ConfigError(f"min_iterations must be a positive integer, got {self.min_iterations!r}")
        if self.max_iterations is not None and (
            not isinstance(self.max_iterations, int) or self.max_iterations < self.min_iterations
        ):
            raise ConfigError(
                f"max_iterations must be an integer ≥ min_iterations ({self.min_iterations}), "
                f"got {self.max_iterations!r}"
            )


@dataclass
class Measurement:
    """Per-iteration latencies of one configuration, and what they add up to."""

    description: dict  # runner: backend, version, device, model, settings
    batch: int
    concurrency: int
    samples_ms: np.ndarray  # every timed iteration, all workers (warm-up excluded)
    wall_s: float  # first timed iteration start -> last timed iteration end
    warmup_iterations: int
    partial: bool = False  # interrupted or stopped: fewer iterations than asked for
    device_timings: dict = field(default_factory=dict)  # TensorRT: h2d_ms / compute_ms / d2h_ms per iteration
    config: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    @property
    def iterations(self) -> int:
        return int(len(self.samples_ms))

    @property
    def throughput(self) -> float:
        """Inferences per second: batch × iterations / wall time (samples/s, unlike trtexec's queries/s)."""
        return self.batch * self.iterations / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def stats(self) -> dict[str, float]:
        return latency_stats(self.samples_ms)

    @property
    def unstable(self) -> bool:
        cv = self.stats["cv"]
        return bool(cv > UNSTABLE_CV) if math.isfinite(cv) else False

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.unstable:
            out.append(unstable_message(self.stats["cv"]))
        if self.partial:
            out.append(f"partial: stopped after {self.iterations} iterations")
        timings = self.device_timings
        if timings.get("compute_ms") is not None and len(timings["compute_ms"]):
            compute = float(np.median(timings["compute_ms"]))
            for phase in ("h2d_ms", "d2h_ms"):
                if float(np.median(timings[phase])) >= compute:
                    out.append(f"{phase[:3].upper()} copies take as long as compute: data transfers bound")
        if self.concurrency > 1:
            out.append("several workers at once: per-iteration latency includes waiting; read throughput")
        return out

    def row(self) -> dict:
        """One flat record: configuration columns, then statistics (ms), throughput and flags."""
        row = dict(self.description)
        row.update(batch=self.batch, concurrency=self.concurrency)
        row.update({f"latency_ms_{k}": v for k, v in self.stats.items() if k != "cv"})
        row.update(
            throughput=self.throughput,
            cv=self.stats["cv"],
            iterations=self.iterations,
            warmup_iterations=self.warmup_iterations,
            wall_s=self.wall_s,
            unstable=self.unstable,
            partial=self.partial,
        )
        for phase, values in self.device_timings.items():
            row[f"{phase[:-3]}_ms_median"] = float(np.median(values)) if len(values) else math.nan
        row["samples_ms"] = self.samples_ms.tolist()
        return row

    def to_dict(self) -> dict:
        """The CLI's JSON row: configuration, ``latency_ms`` {min, mean, …}, ``throughput``, ``cv``, ``iterations``."""
        stats = self.stats
        out = dict(self.description)
        out.update(
            batch=self.batch,
            concurrency=self.concurrency,
            latency_ms={k: v for k, v in stats.items() if k != "cv"},
            throughput=self.throughput,
            cv=stats["cv"],
            iterations=self.iterations,
            warmup_iterations=self.warmup_iterations,
            wall_s=self.wall_s,
            partial=self.partial,
            warnings=self.warnings,
            config=asdict(self.config),
        )
        return out

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"<Measurement {self.description.get('backend')} batch={self.batch} concurrency={self.concurrency}: "
            f"median {s['median']:.3f} ms, p99 {s['p99']:.3f} ms, {self.throughput:,.1f} inferences/s, "
            f"{self.iterations} iterations{', partial' if self.partial else ''}>"
        )


def check_concurrency(concurrency: int) -> None:
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")


def _warm_up(worker: Worker, seconds: float) -> int:
    # The first run is never counted (lazy initialisation, allocator growth, JIT), even with warmup_s=0.
    deadline = time.perf_counter_ns() + int(seconds * 1e9)
    count = 0
    while True:
        worker.infer()
        count += 1
        if time.perf_counter_ns() >= deadline:
            return count


def _timed_loop(
    worker: Worker,
    samples: list,
    deadline_ns: int,
    min_iterations: int,
    max_iterations: float,
    stop: threading.Event,
    tick: Callable[[], None] | None,
) -> None:
    # Kept as lean as a bare loop: a clock read on each side of infer(), one append, one test.
    clock = time.perf_counter_ns
    infer = worker.infer
    append = samples.append
    stopped = stop.is_set
    next_tick = clock() + 100_000_000
    n = 0
    while True:
        t0 = clock()
        infer()
        t1 = clock()
        append(t1 - t0)
        n += 1
        if (t1 >= deadline_ns and n >= min_iterations) or n >= max_iterations or stopped():
            return
        if tick is not None and t1 >= next_tick:
            next_tick = t1 + 100_000_000
            tick()


def measure(
    target: object,
    *,
    batch: int = 1,
    concurrency: int = 1,
    feeds: dict | None = None,
    config: BenchmarkConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    **runner_options: Any,
) -> Measurement:
    """Measure one configuration of ``target`` (a Runner, a model, a BuildResult/engine, or a torch module).

    ``concurrency``: independent workers running at once (sessions on threads; execution contexts on streams).
    ``cancel``: set it to stop early; the measurement is returned marked partial (so is a KeyboardInterrupt).
    """
    config = config or BenchmarkConfig()
    check_concurrency(concurrency)
    runner = runner_for(target, **runner_options)
    with exclusive(f"a benchmark of {runner.label}"):
        generated = feeds is None
        feeds = feeds if feeds is not None else runner.make_feeds(batch)
        workers = runner.workers(concurrency, feeds)
        try:
            return _measure_workers(runner, workers, batch, config, on_progress, cancel or threading.Event())
        except BenchmarkError as exc:
            model = getattr(runner, "model", None)
            if not generated or not isinstance(model, Model):
                raise
            # inputs made up at default shapes: say which dimensions were defaulted (the batch is the one asked for)
            advice = shapes_advice(
                model, {n: f.shape for n, f in feeds.items()}, defaulted_dimensions(model, skip_axes=[0])
            )
            raise BenchmarkError(f"{exc}{advice}") from None
        finally:
            for worker in workers:
                worker.close()


def _measure_workers(
    runner: Runner,
    workers: list[Worker],
    batch: int,
    config: BenchmarkConfig,
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
) -> Measurement:
    label = runner.label
    max_iterations = config.max_iterations or math.inf
    per_worker = [[] for _ in workers]
    warmups = [0] * len(workers)
    errors: list[BaseException] = []
    partial = False
    started = time.perf_counter_ns()
    total_ns = (config.warmup_s + config.duration_s) * 1e9

    progress = ProgressReporter(on_progress)

    def report():
        if on_progress is not None:
            fraction = min((time.perf_counter_ns() - started) / total_ns, 1.0) if total_ns else 1.0
            progress(f"{label}: batch {batch}, {sum(map(len, per_worker))} iterations", fraction)

    def fail(exc: BaseException) -> WorkbenchError:
        if isinstance(exc, WorkbenchError):
            return exc
        return BenchmarkError(f"{label}: inference failed at batch {batch}: {exc}")

    # Throughput is iterations over wall time, measured from the start of the timed loop to its end (or to the
    # interrupt) — never the sum of latencies, which leaves out whatever ran between iterations.
    if len(workers) == 1:
        worker = workers[0]
        t0 = None  # set when timing starts: an interrupt during warm-up has timed nothing
        try:
            warmups[0] = _warm_up(worker, config.warmup_s)
            t0 = time.perf_counter_ns()
            _timed_loop(
                worker,
                per_worker[0],
                t0 + int(config.duration_s * 1e9),
                config.min_iterations,
                max_iterations,
                cancel,
                report,
            )
        except KeyboardInterrupt:
            partial = True
        except BenchmarkError:
            raise
        except Exception as exc:
            raise fail(exc) from None
        wall_ns = time.perf_counter_ns() - t0 if t0 is not None else 0
    else:
        start_ns = [0]
        ends = [0] * len(workers)

        def begin():  # runs once, when every worker has warmed up
            start_ns[0] = time.perf_counter_ns()

        barrier = threading.Barrier(len(workers), action=begin)

        def run(i: int, worker: Worker):
            try:
                warmups[i] = _warm_up(worker, config.warmup_s)
                barrier.wait()
                deadline = start_ns[0] + int(config.duration_s * 1e9)
                _timed_loop(
                    worker,
                    per_worker[i],
                    deadline,
                    max(1, config.min_iterations // len(workers)),
                    max_iterations,
                    cancel,
                    report if i == 0 else None,
                )
            except threading.BrokenBarrierError:
                pass
            except BaseException as exc:
                errors.append(exc)
                cancel.set()
                barrier.abort()
            finally:
                ends[i] = time.perf_counter_ns()

        threads = [
            threading.Thread(target=run, args=(i, w), daemon=True, name=f"workbench-bench-{i}")
            for i, w in enumerate(workers)
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.1)
        except KeyboardInterrupt:
            partial = True
            cancel.set()
            barrier.abort()
            for t in threads:
                t.join()
        if errors:
            raise fail(errors[0])
        # From the moment every worker started timing to the last one's end (each worker notes its end however it
        # stops); no start means nothing was timed.
        wall_ns = max(ends) - start_ns[0] if start_ns[0] else 0
    samples = np.concatenate([np.asarray(s, dtype=np.float64) for s in per_worker]) / 1e6
    if cancel.is_set() and not errors:
        partial = True
    device = {}
    timed = [w.device_timings() for w in workers if w.device_timings is not None]
    if timed:
        # Device timings cover warm-up too; keep each worker's last len(samples) entries (the timed ones).
        for phase in timed[0]:
            device[phase] = np.concatenate([t[phase][len(t[phase]) - len(s) :] for t, s in zip(timed, per_worker)])
    if on_progress is not None:
        report()
    return Measurement(
        runner.describe(), batch, len(workers), samples, wall_ns / 1e9, sum(warmups), partial, device, config
    )
