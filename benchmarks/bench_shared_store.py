"""Issue 15 benchmarks: (1) runs written per second into a shared PostgreSQL results store from 8 processes at once
(goal ≥ 200 runs/s); (2) the overhead of a Ray-executed sweep over a local one for 16 small configurations.

    python benchmarks/bench_shared_store.py [--url postgresql://user:password@host/db] [--skip-ray]

Without --url a throw-away PostgreSQL server is started from Debian's postgresql binaries (as the tests do).
Each writer records real Measurements (samples, statistics, machine facts), one transaction per run, as a sweep does.
"""

import argparse
import multiprocessing
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from models import conv_bn_relu  # noqa: E402

from workbench.bench import BenchmarkConfig, ResultsStore, measure, sweep  # noqa: E402
from workbench.model import load_model  # noqa: E402

WRITERS = 8
RUNS_PER_WRITER = 150
QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.05, min_iterations=5)


def _writer(url, blob, start, queue):
    measurement = pickle.loads(blob)
    store = ResultsStore(url)
    while time.time() < start:  # every writer starts at the same instant
        time.sleep(0.001)
    t0 = time.perf_counter()
    for i in range(RUNS_PER_WRITER):
        store.record_measurement(measurement, tags={"i": i})
    queue.put((t0, time.perf_counter()))


def writes_per_second(url: str) -> float:
    blob = pickle.dumps(measure(load_model(conv_bn_relu(), name="conv_bn_relu"), config=QUICK))
    before = len(ResultsStore(url))
    queue = multiprocessing.get_context("spawn").Queue()
    start = time.time() + 8  # room for the spawned interpreters to import the workbench
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(url, blob, start, queue))
             for _ in range(WRITERS)]
    for p in procs:
        p.start()
    spans = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    written = len(ResultsStore(url)) - before
    assert written == WRITERS * RUNS_PER_WRITER, f"{written} runs arrived of {WRITERS * RUNS_PER_WRITER}"
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    return written / elapsed


def ray_overhead() -> tuple[float, float]:
    from workbench.bench.ray_executor import RayExecutor

    tiny = load_model(conv_bn_relu(), name="conv_bn_relu")
    variants = {f"v{i}": tiny for i in range(4)}  # 4 variants × 4 batch sizes = 16 configurations
    executor = RayExecutor(num_cpus=2)
    executor._ray()  # Ray's start-up is paid once per session, not per sweep: not counted
    sweep(variants, batch=[1], config=QUICK, executor=executor)  # workers warm (imports done)
    t0 = time.perf_counter()
    local = sweep(variants, batch=[1, 2, 4, 8], config=QUICK)
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    distributed = sweep(variants, batch=[1, 2, 4, 8], config=QUICK, executor=executor)
    t_ray = time.perf_counter() - t0
    assert len(local) == len(distributed) == 16
    return t_local, t_ray


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL results store (default: start a throw-away server)")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        import tempfile

        from postgres import PostgresServer

        server = PostgresServer(Path(tempfile.mkdtemp(prefix="workbench-bench-postgres-")))
        url = server.fresh_database("bench")
    try:
        rate = writes_per_second(url)
        print(f"shared PostgreSQL store: {rate:,.0f} runs/s written by {WRITERS} processes "
              f"({WRITERS * RUNS_PER_WRITER} runs; goal ≥ 200 runs/s: {'met' if rate >= 200 else 'NOT met'})")
    finally:
        if server is not None:
            server.stop("immediate")
    if not args.skip_ray:
        t_local, t_ray = ray_overhead()
        print(f"16 configurations: local sweep {t_local:.2f} s, Ray sweep {t_ray:.2f} s (2 local workers): "
              f"overhead {t_ray - t_local:+.2f} s ({(t_ray / t_local - 1):+.0%}), Ray start-up not counted")


if __name__ == "__main__":
    main()
