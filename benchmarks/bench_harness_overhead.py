"""P1 (issue: build and benchmark): the harness adds ≤ 3 % to a bare loop at batch 1 on a tiny model.

Both loops call the same ONNX Runtime session in this process, interleaved 5 times; printed as ratios
(harness ÷ bare) of the median latency and of the mean time per iteration (= inverse throughput).
"""

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from models import conv_bn_relu  # noqa: E402

from workbench.bench import BenchmarkConfig, OnnxRuntimeRunner, measure  # noqa: E402
from workbench.model import load_model  # noqa: E402

ITERATIONS = 3000


def bare_loop(session, feeds) -> np.ndarray:
    samples = []
    for _ in range(ITERATIONS):
        t0 = time.perf_counter_ns()
        session.run(None, feeds)
        samples.append(time.perf_counter_ns() - t0)
    return np.array(samples) / 1e6


def main():
    runner = OnnxRuntimeRunner(load_model(conv_bn_relu()), threads=1)
    feeds = runner.make_feeds(1)
    session = runner.session()
    config = BenchmarkConfig(warmup_s=0.05, duration_s=0.0, min_iterations=ITERATIONS, max_iterations=ITERATIONS)
    median_ratios, mean_ratios = [], []
    for _ in range(5):
        for _ in range(100):
            session.run(None, feeds)
        t = time.perf_counter()
        bare = bare_loop(session, feeds)
        bare_wall = time.perf_counter() - t
        m = measure(runner, feeds=feeds, config=config)
        median_ratios.append(m.stats["median"] / float(np.median(bare)))
        mean_ratios.append((m.wall_s / m.iterations) / (bare_wall / ITERATIONS))
    print(f"tiny model, batch 1, {ITERATIONS} iterations x 5 interleaved runs; "
          f"bare-loop median {float(np.median(bare)) * 1000:.1f} µs")
    print(f"P1 harness / bare loop, median latency:     {statistics.median(median_ratios):.3f}   (goal ≤ 1.03)")
    print(f"P1 harness / bare loop, time per iteration: {statistics.median(mean_ratios):.3f}   (goal ≤ 1.03)")


if __name__ == "__main__":
    main()
