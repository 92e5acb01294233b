"""Sweeps on a Ray cluster: each configuration of a sweep becomes one Ray task.

Ray schedules, retries and places the tasks (never a home-made scheduler): a TensorRT configuration asks for a GPU,
an ONNX Runtime one for as many CPUs as its intra-op threads. Each task builds or loads its engine where it runs,
measures with the same harness as a local sweep and records its run in the (shared) results store; the driver
gathers the rows into the same DataFrame a local sweep returns.

Honest timing (two tasks on one machine must not time each other): the timed section of every task holds a
machine-wide lock, an ``fcntl.flock`` on a file in the machine's temp folder. Tasks of a sweep that land on the same
machine therefore measure one after the other, whatever Ray runs in parallel around them (building, loading, writing
results); concurrency that a configuration asks for (``concurrency=2``) runs inside one measurement, as locally. The
lock belongs to the kernel: a killed task releases it, so a crash never blocks the machine.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError, WorkbenchError
from ..progress import ProgressReporter

if TYPE_CHECKING:
    from ..progress import ProgressCallback
    from .harness import BenchmarkConfig
    from .store import ResultsStore
    from .sweep import SweepJob

TIMING_LOCK = Path(tempfile.gettempdir()) / "workbench-timing.lock"


@contextmanager
def machine_timing_slot(path: Path = TIMING_LOCK) -> Iterator[None]:
    """Hold this machine's one timing slot (blocks while another process of any sweep is timing)."""
    import fcntl  # POSIX: Ray's supported worker platforms; importing this module elsewhere still works

    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_job(job, config, store):
    """The Ray task: one configuration, measured inside the machine's timing slot. Returns the row, the timed
    window (host, start, end in epoch seconds) and whether the run waits in the local spool."""
    runner = job.runner()  # a TensorRT engine is built or loaded here, on the machine that times it
    with machine_timing_slot():
        start = time.time()
        row, pending = job.measure_and_record(config, store, runner=runner)
        end = time.time()
    return row, {"host": socket.gethostname(), "pid": os.getpid(), "start": start, "end": end}, pending


def _unmet(request: dict, available: dict) -> str:
    """What a task's resource request asks beyond the whole cluster ("" when the cluster can run it). Only whole-
    cluster totals: waiting for a busy node is Ray's job, waiting for a GPU that no node has would never end."""
    unmet = []
    for option, amount in request.items():
        resource = {"num_cpus": "CPU", "num_gpus": "GPU"}.get(option, option)  # Ray's resource names
        if available.get(resource, 0) < amount:
            unmet.append(f"{amount:g} {resource} requested, {available.get(resource, 0):g} in the cluster")
    return "; ".join(unmet)


class RayExecutor:
    """Runs a sweep's configurations as Ray tasks: ``sweep(..., executor=RayExecutor())``.

    ``address``: a Ray cluster (``"ray://host:10001"``, ``"auto"``); None starts a local Ray on this machine (with
    ``num_cpus`` CPUs, default all) unless one is already running in this process. ``max_retries``: how often Ray
    runs a task again when its worker dies (a run is recorded once, whatever the retries).
    """

    def __init__(
        self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = 2, poll_s: float = 0.1
    ):
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.poll_s = poll_s

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("RayExecutor needs Ray: pip install 'tensorrt-workbench[ray]'") from None
        # A local Ray on a busy laptop sometimes misses its own start-up deadline (its raylet waits a fixed ~15 s for
        # the agents' port files): try again before giving up.
        tries = 1 if self.address else 3
        for attempt in range(tries):
            if ray.is_initialized():
                break
            try:
                ray.init(
                    address=self.address,
                    num_cpus=self.num_cpus if self.address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception when its node does not start
                ray.shutdown()
                if attempt == tries - 1:
                    raise WorkbenchError(
                        f"cannot connect to Ray at {self.address or 'a new local Ray'}: {exc}"
                    ) from None
        return ray

    @staticmethod
    def resources(job: SweepJob) -> dict:
        """The task's resource request: a GPU for TensorRT, CPUs (its intra-op threads) for ONNX Runtime."""
        if job.backend == "tensorrt":
            return {"num_gpus": 1, "num_cpus": 1}
        return {"num_cpus": job.threads or 1}

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
        ray = self._ray()
        report = ProgressReporter(on_progress)
        task = ray.remote(_run_job)
        results: dict[int, dict] = {}
        windows, failed = [], []
        # A request no node can ever meet would wait forever: such configurations fail now, by name.
        available = ray.cluster_resources()
        runnable = []
        for job in jobs:
            missing = _unmet(self.resources(job), available)
            if missing:
                failed.append({**job.describe(), "error": f"the Ray cluster cannot run it: {missing}"})
            else:
                runnable.append(job)
        if failed:
            warnings.warn(
                f"{len(failed)} configuration(s) cannot run on this Ray cluster: {failed[0]['error']}",
                RuntimeWarning,
                stacklevel=2,
            )
        pending_refs = {
            task.options(
                name=f"workbench-sweep-{job.index}", max_retries=self.max_retries, **self.resources(job)
            ).remote(job, config, store): job
            for job in runnable
        }
        spooled = 0
        stopped = False
        report(f"{len(runnable)} configurations sent to Ray", 0.0)
        while pending_refs:
            if cancel.is_set():
                for ref in pending_refs:
                    ray.cancel(ref, force=True)
                stopped = True
                break
            ready, _ = ray.wait(list(pending_refs), num_returns=1, timeout=self.poll_s)
            for ref in ready:
                job = pending_refs.pop(ref)
                try:
                    row, window, pending = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - reported for its configuration; the others go on
                    cause = getattr(exc, "cause", None) or exc
                    failed.append({**job.describe(), "error": f"{type(cause).__name__}: {cause}"})
                    warnings.warn(
                        f"configuration {job.describe()} failed on Ray: {cause}", RuntimeWarning, stacklevel=2
                    )
                    continue
                results[job.index] = row
                windows.append({"index": job.index, **window})
                spooled += pending
                done = len(results) + len(failed)
                report(f"[{done}/{len(jobs)}] {row['label']} · batch {row['batch']} measured", done / len(jobs))
                if on_result is not None:
                    on_result(pd.DataFrame([results[i] for i in sorted(results)]))
        frame = pd.DataFrame([results[i] for i in sorted(results)])  # the local sweep's order
        frame.attrs.update(
            partial=stopped,
            planned=len(jobs),
            pending=spooled,
            failed=failed,
            timed_windows=sorted(windows, key=lambda w: w["start"]),
        )
        if spooled and store is not None:
            warnings.warn(
                f"{spooled} runs could not reach {store.location}; they wait in each worker's spool",
                RuntimeWarning,
                stacklevel=2,
            )
        return frame
