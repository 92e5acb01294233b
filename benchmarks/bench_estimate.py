"""GPU estimate (issue 14): its error on each recorded TensorRT profile (leave one out), on the H100 PyTorch layer
timings, and the time to estimate a 2,000-layer engine (goal < 1 s). Goals for the error: per-layer median absolute
error <= 35 %, total <= 20 %.

    python benchmarks/bench_estimate.py
"""

import copy
import json
import time

import pandas as pd

from workbench.engines.estimate import (RECORDINGS, calibrated_factors, estimate_engine, fit_factors,
                                        leave_one_out)
from workbench.engines.estimate.gpu_check import compare_measurements, read_measurements


def _row(name, m):
    return {"case": name, "layers": m["layers"], "median_abs_%": round(m["median_abs_pct_error"], 1),
            "total_%": round(m["total_pct_error"], 1), "spearman": round(m["spearman"], 2),
            "estimated_ms": round(m["estimated_total_ms"], 4), "measured_ms": round(m["measured_total_ms"], 4)}


def main():
    pd.set_option("display.width", 200)
    start = time.perf_counter()
    factors = calibrated_factors()
    print(f"fit on all recordings: {factors.to_dict()} ({time.perf_counter() - start:.2f} s)\n")

    print("1. Leave one out (fit on the other recording, predict this one):")
    loo = leave_one_out()
    print(loo[["predicted", "gpu", "fitted_on", "layers", "median_abs_pct_error", "total_pct_error", "spearman",
               "estimated_total_ms", "measured_total_ms"]].round(3).to_string(index=False))

    print("\n2. In sample (factors fitted on both recordings), for reference:")
    rows = []
    for rec in RECORDINGS:
        rows.append(_row(rec.name, estimate_engine(rec.graph, rec.gpu).compare(rec.profile).attrs["metrics"]))
        own = fit_factors((rec,))
        rows.append(_row(rec.name + " (fit on itself)",
                         estimate_engine(rec.graph, rec.gpu, factors=own).compare(rec.profile).attrs["metrics"]))
    print(pd.DataFrame(rows).to_string(index=False))

    data = read_measurements()
    print(f"\n3. PyTorch (cuDNN/cuBLAS) layer timings on {data['device']} ({data['date']}), estimate for "
          f"'{data['gpu_table_name']}':")
    rows = []
    for overhead, what in ((0.0, "no per-layer overhead (CUDA-graph replay)"), (None, "fitted per-layer overhead")):
        c = compare_measurements(overhead_us=overhead)
        for precision, m in c.attrs["metrics"].items():
            rows.append({"overhead": what, **_row(precision, m)})
    print(pd.DataFrame(rows).to_string(index=False))
    print("   (int8 = torch._int_mm, far slower than TensorRT's INT8 GEMMs: it measures PyTorch, not the GPU)")

    print("\n4. Time to estimate a 2,000-layer engine (the ResNet-18 layer JSON repeated, names made unique):")
    base = json.loads(RECORDINGS[0].graph.read_text())
    layers = []
    while len(layers) < 2000:
        for layer in base["Layers"]:
            copy_ = copy.deepcopy(layer)
            copy_["Name"] = f"{layer['Name']} #{len(layers)}"
            layers.append(copy_)
    big = {"Layers": layers[:2000], "Bindings": base.get("Bindings", [])}
    times = []
    for _ in range(5):
        t = time.perf_counter()
        est = estimate_engine(big, "h100")
        times.append(time.perf_counter() - t)
    print(f"   {len(est.layers)} layers: best {min(times):.3f} s, median {sorted(times)[2]:.3f} s (goal < 1 s); "
          f"total {est.total_ms:.2f} ms (estimate)")


if __name__ == "__main__":
    main()
