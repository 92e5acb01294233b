"""The estimate against PyTorch (cuDNN/cuBLAS) timings of real convolution and matmul layers on a GPU.

``timing_shapes`` lists the conv/GEMM layers of CPU-built engines (shapes as TensorRT sees them);
``tools/gpu_layer_timing.py`` (PyTorch only, runs on the GPU machine) times them; ``compare_measurements`` predicts
the same layers for that GPU and reports the error. A framework kernel is not TensorRT's tactic, so this checks the
roofline and its efficiency factors on real hardware, not TensorRT itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import EngineFileError
from .model import EfficiencyFactors, EngineEstimate, calibrated_factors, error_metrics, estimate_engine
from .workload import DTYPE_BYTES, WORKLOAD_COLUMNS

if TYPE_CHECKING:
    from ...files import PathArg

MEASUREMENTS = Path(__file__).resolve().parent / "data" / "h100_layer_timing.json"
_TORCH_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}


def timing_shapes(builds: dict) -> list[dict]:
    """Conv and GEMM layers of CPU builds ({model label: BuildResult}) as shape records for the timing tool."""
    from .workload import layer_workload

    records = []
    for label, build in builds.items():
        work = layer_workload(build, model=build.model)
        for row in work[work["op"].isin(["conv", "depthwise", "gemm"]) & work["shapes_known"]].itertuples():
            out = row.output_shapes[0]
            if row.op == "gemm":
                records.append(
                    {
                        "model": label,
                        "layer": row.name,
                        "op": "gemm",
                        "m": int(row.gemm_m),
                        "n": int(row.gemm_n),
                        "k": int(row.gemm_k),
                    }
                )
            elif row.weight_shape and len(row.weight_shape) == 4 and len(out) == 4:
                k, per_group, r, s = (int(d) for d in row.weight_shape)
                groups = 1 if row.op == "conv" else k
                source = next(
                    (
                        shape
                        for shape in row.input_shapes
                        if shape and len(shape) == 4 and shape[1] == per_group * groups
                    ),
                    None,
                )
                if source is None:
                    continue
                records.append(
                    {
                        "model": label,
                        "layer": row.name,
                        "op": "conv",
                        "n": source[0],
                        "c": source[1],
                        "h": source[2],
                        "w": source[3],
                        "k": k,
                        "r": r,
                        "s": s,
                        "stride": max(1, round(source[2] / out[2])),
                        "groups": groups,
                    }
                )
    return records


def _workload_of(record: dict, precision: str) -> dict:
    size = DTYPE_BYTES[_TORCH_DTYPE[precision]]
    if record["op"] == "gemm":
        m, n, k = record["m"], record["n"], record["k"]
        flops, nbytes, shapes = (
            2.0 * m * n * k,
            float(m * k + k * n) * size + m * n * (4 if precision == "int8" else size),
            [[m, n]],
        )
        gemm = (m, n, k)
    else:
        n, c, h, w, k, r, s = (record[x] for x in "nchwkrs")
        stride, groups = record["stride"], record["groups"]
        p, q = -(-h // stride), -(-w // stride)
        per_output = c // groups * r * s
        flops = 2.0 * n * k * p * q * per_output
        nbytes = float(n * c * h * w + k * per_output + n * k * p * q) * size
        shapes, gemm = [[n, k, p, q]], (n * p * q, k, per_output)
    op = record["op"] if record["op"] == "gemm" or record["groups"] == 1 else "depthwise"
    return {
        "name": f"{record['model']}/{record['layer']}",
        "type": "pytorch",
        "op": op,
        "precision": _TORCH_DTYPE[precision],
        "math": "",
        "accumulate": "float32" if precision == "fp16" else "",  # PyTorch's default for FP16 GEMMs
        "flops": flops,
        "bytes": nbytes,
        "weight_bytes": 0.0,
        "gemm_m": float(gemm[0]),
        "gemm_n": float(gemm[1]),
        "gemm_k": float(gemm[2]),
        "weight_shape": None,
        "input_shapes": [],
        "output_shapes": shapes,
        "shapes_known": True,
        "onnx_nodes": [],
        "kind": "compute",
        "tactic": "",
        "output_formats": [],
        "inputs": [],
        "outputs": [],
        "output_dtypes": [],
    }


def read_measurements(path: PathArg = MEASUREMENTS) -> dict:
    path = Path(path)
    if not path.is_file():
        raise EngineFileError(f"{path}: no such GPU timing recording (make one with tools/gpu_layer_timing.py)")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise EngineFileError(f"{path}: not a GPU timing recording ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise EngineFileError(f"{path}: not a GPU timing recording (no 'layers' list)")
    return data


def compare_measurements(
    path: PathArg = MEASUREMENTS, gpu: str | None = None, *, overhead_us: float | None = None
) -> pd.DataFrame:
    """Estimated vs measured time for every timed layer and precision; ``attrs['metrics']`` per precision and all.

    ``overhead_us``: the fixed per-kernel time to use; None keeps the fitted one, which, like the recording (each
    layer's launches replayed in a CUDA graph), holds no host or profiler overhead: it is fitted on end-to-end
    CUDA-graph times and on per-layer profiles less the profiler's measured overhead.
    """
    data = read_measurements(path)
    gpu = gpu or data.get("gpu_table_name") or "h100"
    rows = [_workload_of(r["shape"], r["precision"]) for r in data["layers"] if r.get("time_ms")]
    measured = np.array([r["time_ms"] for r in data["layers"] if r.get("time_ms")], dtype=float)
    if not rows:
        raise EngineFileError(f"{path}: the recording holds no timed layer")
    work = pd.DataFrame(rows, columns=WORKLOAD_COLUMNS)
    factors = calibrated_factors()
    if overhead_us is not None:
        factors = dataclasses.replace(factors, overhead_us=float(overhead_us))
    est = estimate_engine(work, gpu, factors=factors)
    out = est.layers[["name", "op", "precision", "flops", "bytes", "bound", "estimated_ms"]].copy()
    out["measured_ms"] = measured
    out["torch_precision"] = [r["precision"] for r in data["layers"] if r.get("time_ms")]
    out["error_pct"] = (out["estimated_ms"] / out["measured_ms"] - 1) * 100
    metrics = {"all": error_metrics(out["estimated_ms"], out["measured_ms"])}
    for precision, group in out.groupby("torch_precision"):
        metrics[precision] = error_metrics(group["estimated_ms"], group["measured_ms"])
    out.attrs.update(
        metrics=metrics, device=data.get("device"), date=data.get("date"), gpu=gpu, overhead_us=factors.overhead_us
    )
    return out


H200_KERNELS = Path(__file__).resolve().parent / "data" / "h200_kernels.csv"
_CSV_PRECISION = {"float16": "float16", "bfloat16": "bfloat16", "float8_e4m3": "float8"}


def h200_kernel_checks(gpu: str = "h200") -> pd.DataFrame:
    """The hardware model against PyTorch kernels on H200 (``data/h200_kernels.csv``: SDPA attention, GroupNorm,
    LayerNorm, batch-1 FP16 convolutions, FP16/BF16/FP8 GEMMs, decode GEMMs and whole decode steps): per kernel the
    estimate, the measurement and their ratio. Convs, GEMMs and attention use the fitted factors with the GEMM wave
    fill (attention: one 128-query tile per (batch, head)), norms the plugin table's passes and parallel units,
    decode steps ``decode_estimate``. PyTorch's kernels, not TensorRT's: a check of the roofline on Hopper."""
    from .decode import decode_estimate
    from .gpus import gpu_spec
    from .regions import attention_seconds, gemm_seconds, plugin_row, plugin_seconds

    spec, factors = gpu_spec(gpu), calibrated_factors()
    rows = []
    for r in pd.read_csv(H200_KERNELS).itertuples(index=False):
        if not (isinstance(r.time_ms, float) and r.time_ms > 0):
            continue
        s = json.loads(r.shape)
        peak, _ = spec.peak_flops(_CSV_PRECISION.get(r.dtype, "float16"))
        if r.kind in ("gemm", "decode-gemm"):
            seconds = gemm_seconds(r.flops, r.bytes, s["m"], s["n"], spec, peak, factors)
        elif r.kind == "conv":
            oh, ow = s["h"] // s["stride"], s["w"] // s["stride"]
            seconds = gemm_seconds(r.flops, r.bytes, s["n"] * oh * ow, s["k"], spec, peak, factors)
        elif r.kind == "attention":
            seconds = attention_seconds(
                r.flops, r.bytes, s["b"] * s["h"] * s["lq"] * s["lk"], s["lq"], s["b"] * s["h"], spec, peak, factors
            )
        elif r.kind in ("groupnorm", "layernorm"):
            plugin = plugin_row("GroupNorm" if r.kind == "groupnorm" else "LayerNorm")
            shape = [s["n"], s["c"], s["h"], s["w"]] if r.kind == "groupnorm" else [s["tokens"], s["c"]]
            seconds, _ = plugin_seconds(plugin, [shape], r.bytes / 2, r.bytes / 2, spec, factors)
        elif r.kind == "decode":
            seconds = (
                decode_estimate(
                    s["weight_bytes"] / 2,
                    spec,
                    kv_bytes=s["kv_bytes"],
                    batch=s["batch"],
                    context=s["context"],
                    layers=s["layers"],
                    hidden=s["hidden"],
                ).step_ms
                * 1e-3
            )
        else:
            continue
        rows.append(
            {
                "kind": r.kind,
                "kernel": r.name,
                "dtype": r.dtype,
                "measured_ms": float(r.time_ms),
                "estimated_ms": seconds * 1e3,
                "ratio": seconds * 1e3 / float(r.time_ms),
            }
        )
    return pd.DataFrame(rows)


H200_UNET_MODULES = Path(__file__).resolve().parent / "data" / "h200_unet_modules.csv"
_LEAF_MODULES = ("Conv2d", "GroupNorm", "LayerNorm", "Linear")
# which PyTorch modules an engine layer of each kind stands for (a 1x1 conv becomes a GEMM in Myelin); reformats and
# pointwise layers carry their neighbours' ONNX nodes (reshapes, casts) but none of their work
_CLAIMS = {
    "conv": ("Conv2d",),
    "gemm": ("Linear", "Conv2d"),
    "norm": ("GroupNorm", "LayerNorm"),
    "attention": ("Attention",),
}


def _module_of(onnx_node: str, modules: dict) -> str | None:
    """The module a torch.onnx node name belongs to (``/down.0/conv1/Conv`` -> ``down.0.conv1``): the longest
    timed path prefix that is a leaf (conv, norm, linear) or an attention module."""
    parts = onnx_node.strip("/").split("/")[:-1]
    for end in range(len(parts), 0, -1):
        path = ".".join(parts[:end])
        if path in modules and modules[path]["type"] in _LEAF_MODULES + ("Attention",):
            return path
    return None


def unet_like_check(estimate: EngineEstimate, modules_csv: str | Path = H200_UNET_MODULES) -> tuple[pd.DataFrame, dict]:
    """An estimate of the UNet-like network (tools/unet_like.py, built with the CPU builder) against the same
    network's modules timed with PyTorch on the H200 (``data/h200_unet_modules.csv``): per engine layer, the
    PyTorch modules its ONNX nodes came from (each module counted once; an attention layer gets the Attention
    module's time less its four projections). Returns (per-layer table, summary: per-kind sums, Spearman over the
    matched layers, the estimated total against the whole network's PyTorch time). PyTorch runs every pointwise op
    as its own kernel, which TensorRT fuses: the whole-network time is PyTorch's, not a TensorRT profile."""
    table = pd.read_csv(modules_csv)
    modules = {r.module: {"type": r.type, "ms": float(r.time_ms)} for r in table.itertuples(index=False)}
    whole = modules.pop("(whole network)")["ms"]
    for path, m in modules.items():
        if m["type"] == "Attention":  # the core (QKᵀ, softmax, PV): the module less its own projections
            m["ms"] -= sum(c["ms"] for p, c in modules.items() if p.startswith(path + ".") and c["type"] == "Linear")
    claimed, rows = set(), []
    for layer in estimate.layers.itertuples(index=False):
        mods = []
        for node in layer.onnx_nodes:
            path = _module_of(node, modules)
            if path and path not in claimed and modules[path]["type"] in _CLAIMS.get(layer.op, ()):
                claimed.add(path)
                mods.append(path)
        measured = sum(modules[p]["ms"] for p in mods) if mods else np.nan
        rows.append(
            {
                "name": layer.name,
                "op": layer.op,
                "estimated_ms": layer.estimated_ms,
                "pytorch_ms": measured,
                "modules": ", ".join(mods),
            }
        )
    out = pd.DataFrame(rows)
    matched = out.dropna(subset=["pytorch_ms", "estimated_ms"])
    timed = sum(m["ms"] for m in modules.values() if m["type"] in _LEAF_MODULES + ("Attention",))
    by_kind = out.groupby("op").agg(
        layers=("name", "size"),
        estimated_ms=("estimated_ms", "sum"),
        pytorch_ms=("pytorch_ms", "sum"),
        matched=("pytorch_ms", "count"),
    )
    summary = {
        "by_kind": by_kind,
        "spearman": float(matched["estimated_ms"].rank().corr(matched["pytorch_ms"].rank())),  # Pearson of ranks
        "matched_layers": len(matched),
        "layers": len(out),
        "estimated_total_ms": float(out["estimated_ms"].sum()),
        "pytorch_whole_ms": whole,
        "pytorch_modules_ms": timed,
        "pytorch_unfused_rest_ms": whole - timed,
        "matched_estimated_ms": float(matched["estimated_ms"].sum()),
        "matched_pytorch_ms": float(matched["pytorch_ms"].sum()),
        "label": "PyTorch kernels on H200 (eager, CUDA graph), not a TensorRT profile",
    }
    return out, summary


H200_SMALL_KERNELS = Path(__file__).resolve().parent / "data" / "h200_small_kernels.csv"


def h200_small_kernel_checks(gpu: str = "h200", factors: EfficiencyFactors | None = None) -> pd.DataFrame:
    """The small-kernel model (wave fill with K splits, L2 residency, per-kernel overhead) against PyTorch kernels on
    H200 (``data/h200_small_kernels.csv``), per kernel and cache state: "hot" rows (inputs just written, in L2 when
    they fit) against the estimate with L2 residency, "cold" rows (after an L2 scrub) against it without. Convs are
    compared cold (in an engine each layer reads its own weights from DRAM), GEMMs hot, GroupNorm through the
    plugin table (calibrated on the hot GroupNorm rows of h200_kernels.csv, so only the cold rows and the larger
    sizes here are new)."""
    from .gpus import gpu_spec
    from .occupancy import memory_seconds
    from .regions import gemm_seconds, plugin_row, plugin_seconds

    spec, factors = gpu_spec(gpu), factors or calibrated_factors()
    peak, _ = spec.peak_flops("float16")
    overhead = factors.overhead_us * 1e-6
    rows = []
    for r in pd.read_csv(H200_SMALL_KERNELS).itertuples(index=False):
        s, hot = json.loads(r.shape), r.cache == "hot"
        if r.kind == "gemm":
            seconds = gemm_seconds(
                r.flops, r.bytes, s["m"], s["n"], spec, peak, factors, weight_bytes=2.0 * s["k"] * s["n"]
            )
        elif r.kind == "conv":
            if hot:
                continue
            seconds = gemm_seconds(
                r.flops,
                r.bytes,
                s["h"] * s["w"],
                s["k"],
                spec,
                peak,
                factors,
                weight_bytes=2.0 * s["k"] * s["c"] * s["r"] ** 2,
            )
        elif r.kind in ("add", "cast", "floor", "reformat"):
            memory = float(memory_seconds(r.bytes, 0.0, spec, resident=hot))
            seconds = memory / (factors.reformat if r.kind == "reformat" else factors.memory) + overhead
        elif r.kind == "groupnorm":
            shape = [s["n"], s["c"], s["h"], s["w"]]
            seconds, _ = plugin_seconds(plugin_row("GroupNorm"), [shape], r.bytes / 2, r.bytes / 2, spec, factors)
        else:
            continue
        rows.append(
            {
                "kind": r.kind,
                "kernel": r.name,
                "cache": r.cache,
                "measured_ms": float(r.time_ms),
                "estimated_ms": seconds * 1e3,
                "ratio": seconds * 1e3 / float(r.time_ms),
            }
        )
    return pd.DataFrame(rows)
