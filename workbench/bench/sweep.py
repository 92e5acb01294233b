"""Sweeps: measure every combination of variants × batch sizes × concurrency (× ONNX Runtime levels × threads).

One tidy DataFrame per sweep, one row per configuration. Results are handed to ``on_result`` (live charts) and to
the results store as each configuration finishes, so a stopped sweep keeps what it measured.
"""

from __future__ import annotations

import itertools
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError, ResultsStoreUnavailableError
from ..progress import ProgressCallback
from .harness import BenchmarkConfig, Measurement, check_concurrency, exclusive, measure
from .records import benchmark_tags, run_label
from .runners import OnnxRuntimeRunner, Runner, backend_for, runner_for

if TYPE_CHECKING:
    from .store import ResultsStore
    from .ray_executor import RayExecutor
    import numpy as np


def _as_tuple(values, name: str) -> tuple:
    if values is None:
        return (None,)
    if isinstance(values, (str, int)):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ConfigError(f"sweep axis '{name}' is empty")
    return values


def _named(targets) -> list[tuple[str, object]]:
    """``[(variant name, target)]`` from a target, a list of targets or a ``{variant: target}`` dict."""
    if isinstance(targets, Mapping):
        return list(targets.items())
    if isinstance(targets, (list, tuple)):
        return [("", t) for t in targets]
    return [("", targets)]


def _runners(targets, optimization_levels, threads, runner_options: dict) -> list[tuple[str, Runner]]:
    out: list[tuple[str, Runner]] = []
    for variant, target in _named(targets):
        runner = runner_for(target, **runner_options)
        if isinstance(runner, OnnxRuntimeRunner):
            for level, count in itertools.product(optimization_levels, threads):
                out.append(
                    (
                        variant,
                        OnnxRuntimeRunner(
                            runner.model,
                            optimization_level=level or runner.optimization_level,
                            threads=count or runner.threads,
                            providers=runner.providers,
                            variant=variant or runner.variant,
                        ),
                    )
                )
        else:
            if variant:
                runner.variant = variant
            out.append((variant, runner))
    return out


def sweep(
    targets: object,
    *,
    batch: Iterable[int] | int = (1,),
    concurrency: Iterable[int] | int = (1,),
    optimization_level: Iterable[str] | str | None = None,
    threads: Iterable[int] | int | None = None,
    config: BenchmarkConfig | None = None,
    store: ResultsStore | None = None,
    tags: Mapping | None = None,
    variant_tags: Mapping[str, Mapping] | None = None,
    on_progress: ProgressCallback | None = None,
    on_result: Callable[[pd.DataFrame], None] | None = None,
    cancel: threading.Event | None = None,
    executor: LocalExecutor | RayExecutor | None = None,
    **runner_options: Any,
) -> pd.DataFrame:
    """Measure every configuration; returns one row per configuration (see ``Measurement.row``).

    ``targets``: a model/engine/module, a list of them, or a dict ``{variant name: target}`` (e.g. precisions).
    ``optimization_level`` / ``threads`` apply to ONNX Runtime targets. ``store``: a ResultsStore (or path) that
    records each row as it completes. ``tags``: extra columns for every row (e.g. precision, calibrator);
    ``variant_tags``: extra columns per variant name (e.g. ``{"int8": {"accuracy": 0.981}}``; accuracy and
    agreement go only on rows of the backend that measured them, see ``quality.measured_quality_only``).
    ``executor``: where configurations run; None measures them here one after the other, a
    :class:`~workbench.bench.ray_executor.RayExecutor` sends each one to a Ray task (same rows, same columns).
    The returned frame's ``attrs['partial']`` is True when the sweep was stopped before the end; ``attrs['pending']``
    counts rows kept in the local spool because a shared store's server could not be reached (see
    ``ResultsStore.push_pending``).
    """
    from .store import ResultsStore

    config = config or BenchmarkConfig()
    batches = _as_tuple(batch, "batch")
    concurrencies = _as_tuple(concurrency, "concurrency")
    for c in concurrencies:
        check_concurrency(c)  # all of them before anything is measured
    if store is not None and not isinstance(store, ResultsStore):
        store = ResultsStore(store)  # an unwritable path fails here, before anything is measured
    cancel = cancel or threading.Event()
    jobs = plan_jobs(
        targets,
        batches,
        concurrencies,
        _as_tuple(optimization_level, "optimization_level"),
        _as_tuple(threads, "threads"),
        tags,
        variant_tags,
        runner_options,
    )
    return (executor or LocalExecutor()).run(
        jobs, config=config, store=store, on_progress=on_progress, on_result=on_result, cancel=cancel
    )


class LocalExecutor:
    """Runs a sweep's jobs here, one after the other (the default executor): the same :class:`SweepJob` s, rows and
    records as :class:`~workbench.bench.ray_executor.RayExecutor`, one runner per target and setting, and every
    configuration's inputs made before anything is timed (a batch outside an engine's profile fails first)."""

    def run(
        self,
        jobs: list[SweepJob],
        *,
        config: BenchmarkConfig,
        store: ResultsStore | None = None,
        on_progress: ProgressCallback | None = None,
        on_result: Callable[[pd.DataFrame], None] | None = None,
        cancel: threading.Event,
    ) -> pd.DataFrame:
        rows: list[dict] = []
        stopped = False
        pending = 0
        with exclusive("a sweep"):
            runners: dict[tuple, Runner] = {}
            for job in jobs:
                if job.setting not in runners:
                    runners[job.setting] = job.runner()
            feeds = {(job.setting, job.batch): runners[job.setting].make_feeds(job.batch) for job in jobs}
            for step, job in enumerate(jobs):
                if cancel.is_set():
                    stopped = True
                    break

                def progress(stage, fraction, _step=step):
                    if on_progress is not None:
                        on_progress(
                            f"[{_step + 1}/{len(jobs)}] {stage}",
                            None if fraction is None else (_step + fraction) / len(jobs),
                        )

                try:
                    m = job.measure(
                        config,
                        runners[job.setting],
                        feeds=feeds[(job.setting, job.batch)],
                        on_progress=progress,
                        cancel=cancel,
                    )
                except KeyboardInterrupt:
                    stopped = True
                    break
                row, spooled = job.record(m, store, pending)
                pending += spooled
                rows.append(row)
                if on_result is not None:
                    on_result(pd.DataFrame(rows))
                if m.partial:
                    stopped = True
                    break
        frame = pd.DataFrame(rows)
        frame.attrs.update(partial=stopped, planned=len(jobs), pending=pending)
        return frame


def _record(store, measurement, tags, pending_so_far: int, uid: str | None = None) -> int:
    """Record one row; 1 when the shared server was unreachable and the row waits in the local spool (warned once
    per sweep: the sweep goes on, nothing measured is lost)."""
    try:
        store.record_measurement(measurement, tags=tags, uid=uid)
        return 0
    except ResultsStoreUnavailableError as exc:
        if pending_so_far == 0:
            warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
        return 1


@dataclass
class SweepJob:
    """One configuration of a sweep, self-contained so that it can run in another process or on another machine:
    the target (a model, BuildResult or engine file: engines are built or loaded where the job runs) and its axes.
    ``uid``: the run's id in the results store, fixed here so that a retried job is recorded once."""

    index: int
    variant: str
    target: object
    backend: str
    optimization_level: str | None
    threads: int | None
    batch: int
    concurrency: int
    tags: dict
    runner_options: dict
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def runner(self) -> Runner:
        """The runner exactly as a local sweep makes it (same variant naming, same settings)."""
        named = {self.variant: self.target} if self.variant else self.target
        return _runners(named, (self.optimization_level,), (self.threads,), self.runner_options)[0][1]

    @property
    def setting(self) -> tuple:
        """What makes this job's runner: jobs with the same setting (other batch sizes, concurrency) share one."""
        return (self.variant, id(self.target), self.backend, self.optimization_level, self.threads)

    def describe(self) -> dict:
        return {
            "variant": self.variant,
            "backend": self.backend,
            "optimization_level": self.optimization_level,
            "threads": self.threads,
            "batch": self.batch,
            "concurrency": self.concurrency,
        }

    def measure(
        self,
        config: BenchmarkConfig,
        runner: Runner | None = None,
        *,
        feeds: dict[str, np.ndarray] | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Measurement:
        """Time this configuration with the harness."""
        return measure(
            runner or self.runner(),
            batch=self.batch,
            concurrency=self.concurrency,
            feeds=feeds,
            config=config,
            on_progress=on_progress,
            cancel=cancel,
        )

    def record(
        self, measurement: Measurement, store: ResultsStore | None = None, pending_so_far: int = 0
    ) -> tuple[dict, int]:
        """The sweep's row of a measurement and its record in ``store``, the one path of local and Ray sweeps:
        the quality filter applied once (``records.benchmark_tags``), the same tags in the row and the store.
        Returns (row, 1 if the record waits in the spool)."""
        tags = benchmark_tags(self.tags, measurement.description.get("backend"))
        row = {"kind": "benchmark", **measurement.row(), **tags, "uid": self.uid}
        row["label"] = run_label(row)
        pending = _record(store, measurement, tags, pending_so_far, uid=self.uid) if store is not None else 0
        return row, pending

    def measure_and_record(
        self, config: BenchmarkConfig, store: ResultsStore | None = None, runner: Runner | None = None
    ) -> tuple[dict, int]:
        """Measure this configuration and record it (a Ray task); returns (row, 1 if it waits in the spool)."""
        return self.record(self.measure(config, runner), store)


def plan_jobs(
    targets: object,
    batches: Sequence[int],
    concurrencies: Sequence[int],
    levels: Sequence[str | None],
    threads: Sequence[int | None],
    tags: Mapping | None,
    variant_tags: Mapping[str, Mapping] | None,
    runner_options: dict[str, Any],
) -> list[SweepJob]:
    """Every configuration of a sweep in the local sweep's order, without building or loading anything."""
    options = {k: v for k, v in runner_options.items() if k != "backend"}
    jobs = []
    for variant, target in _named(targets):
        backend = backend_for(target, runner_options.get("backend"))
        if backend == "onnxruntime":
            settings = list(itertools.product(levels, threads))
        else:
            settings = [(None, None)]
        extra = {**(tags or {}), **((variant_tags or {}).get(variant, {}))}
        for (level, count), b, c in itertools.product(settings, batches, concurrencies):
            jobs.append(
                SweepJob(
                    len(jobs), variant, target, backend, level, count, b, c, extra, {**options, "backend": backend}
                )
            )
    return jobs
