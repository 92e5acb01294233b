"""Per-layer GPU time estimate: a roofline with efficiency factors fitted on real TensorRT profiles.

time = max(FLOPs / (peak(precision) x compute efficiency x wave fill), bytes / (bandwidth x memory efficiency))
       + fixed per-layer overhead

- peak(precision): the GPU table's dense tensor-core rate for conv/GEMM layers (FP32 runs as TF32, TensorRT's
  default on Ampere and later); CUDA-core rates for depthwise convolutions and everything else.
- wave fill: a conv/GEMM is split into 128x128 output tiles, one per SM at a time; a layer with fewer tiles than SMs
  (or a last partial wave) leaves SMs idle, so small layers reach less of the peak.
- the three factors (compute efficiency, memory efficiency, overhead) are fitted on the recorded profiles in
  ``engines/data`` by least squares on log time, pulled gently towards typical values (about 60 % of peak compute,
  70 % of bandwidth, 3 us per layer) so that a fit on one small recording stays sensible; ``leave_one_out`` reports
  how well a fit on one recording predicts the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import ConfigError, EngineFileError
from ..layers import read_profile
from .gpus import GpuSpec, gpu_spec
from .workload import NO_TIME_OPS, TENSOR_CORE_OPS, layer_workload

DATA = Path(__file__).resolve().parent.parent / "data"
TILE = 128
PRIOR = {"compute": 0.6, "memory": 0.7, "overhead_us": 3.0}
PRIOR_WEIGHT = 20.0  # strength of the pull towards PRIOR, relative to one layer's squared log error: two small
# recordings cannot pin three factors (a batch-1 INT8 MobileNet is all launch overhead), so the prior dominates where the
# data says little; benchmarks/bench_estimate.py prints the leave-one-out error this gives


@dataclass(frozen=True)
class EfficiencyFactors:
    compute: float = PRIOR["compute"]        # fraction of the tensor-core peak a large conv/GEMM reaches
    memory: float = PRIOR["memory"]          # fraction of DRAM bandwidth a memory-bound layer reaches
    overhead_us: float = PRIOR["overhead_us"]  # fixed time per layer: launch, ramp-up, tail
    fitted_on: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"compute": round(self.compute, 4), "memory": round(self.memory, 4),
                "overhead_us": round(self.overhead_us, 3), "fitted_on": list(self.fitted_on)}


@dataclass(frozen=True)
class Recording:
    """A real engine's layer information and per-layer profile, with the GPU it was timed on."""

    name: str
    graph: Path
    profile: Path
    gpu: str
    description: str

    def workload(self) -> pd.DataFrame:
        return layer_workload(self.graph)

    def measured_ms(self) -> np.ndarray:
        times = read_profile(self.profile)
        return times["time_ms"].to_numpy(dtype=float)


RECORDINGS = (
    Recording("resnet18-fp16-a100", DATA / "resnet.onnx.engine.graph.json", DATA / "resnet.onnx.engine.profile.json",
              "a100", "ResNet-18, FP16, batch 32, NVIDIA A100 (TREx example)"),
    Recording("mobilenetv2-int8-titan-rtx", DATA / "mobilenet.qat.onnx.engine.graph.json",
              DATA / "mobilenet.qat.onnx.engine.profile.json", "titan-rtx",
              "MobileNetV2 QAT, INT8, batch 1, NVIDIA TITAN RTX (TREx test input)"),
)


def _roofline_terms(work: pd.DataFrame, gpu: GpuSpec) -> pd.DataFrame:
    """Per layer: the peak FLOP/s used, the wave fill, and compute / memory seconds at 100 % efficiency."""
    ops = work["op"].to_numpy()
    precisions = work["precision"].to_numpy()
    peaks, rates = [], []
    for op, precision in zip(ops, precisions):
        peak, rate = gpu.peak_flops(precision or "float32", tensor_cores=op in TENSOR_CORE_OPS)
        peaks.append(peak)
        rates.append(rate)
    peaks = np.asarray(peaks)
    m = work["gemm_m"].to_numpy(dtype=float)
    n = work["gemm_n"].to_numpy(dtype=float)
    tiles = np.ceil(np.nan_to_num(m, nan=TILE) / TILE) * np.ceil(np.nan_to_num(n, nan=TILE) / TILE)
    waves = np.ceil(tiles / gpu.sm_count)
    fill = np.where(np.isin(ops, TENSOR_CORE_OPS), tiles / np.maximum(waves * gpu.sm_count, 1), 1.0)
    flops = work["flops"].to_numpy(dtype=float)
    nbytes = work["bytes"].to_numpy(dtype=float)
    return pd.DataFrame({"peak_flops": peaks, "rate": rates, "fill": fill,
                         "compute_s": flops / (peaks * fill),
                         "memory_s": nbytes / (gpu.memory_bandwidth_gbs * 1e9)}, index=work.index)


def _predict_seconds(terms: pd.DataFrame, ops: np.ndarray, factors: EfficiencyFactors) -> tuple[np.ndarray, np.ndarray]:
    compute = terms["compute_s"].to_numpy() / factors.compute
    memory = terms["memory_s"].to_numpy() / factors.memory
    seconds = np.maximum(compute, memory) + factors.overhead_us * 1e-6
    seconds = np.where(np.isin(ops, NO_TIME_OPS), 0.0, seconds)
    bound = np.where(np.isin(ops, NO_TIME_OPS), "none", np.where(compute >= memory, "compute", "memory"))
    return seconds, bound


def fit_factors(recordings=RECORDINGS) -> EfficiencyFactors:
    """Least squares on log time over every timed layer of ``recordings``, with a weak pull towards PRIOR."""
    from scipy.optimize import minimize

    data = []
    for rec in recordings:
        work = rec.workload()
        measured = rec.measured_ms() * 1e-3
        terms = _roofline_terms(work, gpu_spec(rec.gpu))
        usable = (measured > 0) & ~np.isin(work["op"], NO_TIME_OPS) & work["bytes"].notna().to_numpy()
        data.append((terms[usable], work["op"].to_numpy()[usable], measured[usable]))
    prior = np.log([PRIOR["compute"], PRIOR["memory"], PRIOR["overhead_us"]])

    def loss(x):
        factors = EfficiencyFactors(*np.exp(x))
        total = 0.0
        for terms, ops, measured in data:
            predicted, _ = _predict_seconds(terms, ops, factors)
            total += float(np.sum((np.log(predicted) - np.log(measured)) ** 2))
        return total + PRIOR_WEIGHT * float(np.sum((x - prior) ** 2))

    best = minimize(loss, prior, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    compute, memory, overhead = np.exp(best.x)
    return EfficiencyFactors(min(float(compute), 1.0), min(float(memory), 1.0), float(overhead),
                             tuple(r.name for r in recordings))


def error_metrics(estimated_ms, measured_ms) -> dict:
    """Per-layer median absolute % error, total % error and Spearman rank correlation (layers timed > 0)."""
    from scipy.stats import spearmanr

    est = np.asarray(estimated_ms, dtype=float)
    meas = np.asarray(measured_ms, dtype=float)
    keep = (meas > 0) & np.isfinite(est) & np.isfinite(meas)
    est, meas = est[keep], meas[keep]
    if not len(meas):
        raise ConfigError("no layer has both an estimate and a measured time to compare")
    rho = float(spearmanr(est, meas).statistic) if len(meas) > 2 else float("nan")
    return {"layers": int(len(meas)), "median_abs_pct_error": float(np.median(np.abs(est / meas - 1)) * 100),
            "total_pct_error": float((est.sum() / meas.sum() - 1) * 100), "spearman": rho,
            "estimated_total_ms": float(est.sum()), "measured_total_ms": float(meas.sum())}


@lru_cache(maxsize=1)
def calibrated_factors() -> EfficiencyFactors:
    """The factors fitted on every recording (what estimates use)."""
    return fit_factors(RECORDINGS)


@lru_cache(maxsize=1)
def leave_one_out() -> pd.DataFrame:
    """Fit on all recordings but one, predict the one left out: the estimate's honest error."""
    rows = []
    for held_out in RECORDINGS:
        others = tuple(r for r in RECORDINGS if r is not held_out)
        factors = fit_factors(others)
        est = estimate_engine(held_out.graph, held_out.gpu, factors=factors)
        metrics = error_metrics(est.layers["estimated_ms"], held_out.measured_ms())
        rows.append({"predicted": held_out.name, "gpu": held_out.gpu, "fitted_on": ", ".join(factors.fitted_on),
                     **metrics, **{f"factor_{k}": v for k, v in factors.to_dict().items() if k != "fitted_on"}})
    return pd.DataFrame(rows)


def accuracy_summary() -> dict:
    """The leave-one-out error, worst case over recordings, in the words every estimate is labelled with."""
    loo = leave_one_out()
    return {"median_abs_pct_error": float(loo["median_abs_pct_error"].max()),
            "total_abs_pct_error": float(loo["total_pct_error"].abs().max()),
            "spearman": float(loo["spearman"].min()), "recordings": list(loo["predicted"]),
            "method": "leave one out over recorded TensorRT profiles (fit on the others, predict the held-out one)"}


def accuracy_label() -> str:
    a = accuracy_summary()
    return (f"estimate (leave-one-out error on recorded TensorRT profiles: per-layer median ±"
            f"{a['median_abs_pct_error']:.0f} %, total ±{a['total_abs_pct_error']:.0f} %)")


@dataclass
class EngineEstimate:
    """Estimated time per engine layer on one GPU (every figure an estimate; ``accuracy`` says how good)."""

    gpu: GpuSpec
    layers: pd.DataFrame
    factors: EfficiencyFactors
    layers_without_shapes: list[str] = field(default_factory=list)
    label: str = ""
    source: object = field(default=None, repr=False)  # the BuildResult / layer JSON estimated (for diff_engines)

    @property
    def total_ms(self) -> float:
        return float(self.layers["estimated_ms"].sum(skipna=True))

    def accuracy(self) -> dict:
        return accuracy_summary()

    def compare(self, measured) -> pd.DataFrame:
        """Join with measured times: a profile file/DataFrame (name, time_ms) or a Series by layer name."""
        if isinstance(measured, pd.Series):
            times = measured.rename("measured_ms").reset_index().rename(columns={"index": "name"})
        elif isinstance(measured, pd.DataFrame):
            times = measured[["name", "time_ms"]].rename(columns={"time_ms": "measured_ms"})
        else:
            times = read_profile(measured)[["name", "time_ms"]].rename(columns={"time_ms": "measured_ms"})
        cols = ["name", "op", "precision", "bound", "estimated_ms"]
        if len(times) == len(self.layers) and list(times["name"]) == list(self.layers["name"]):
            out = pd.concat([self.layers[cols].reset_index(drop=True), times[["measured_ms"]]], axis=1)
        else:
            out = self.layers[cols].merge(times.drop_duplicates("name"), on="name", how="left")
        out["error_pct"] = (out["estimated_ms"] / out["measured_ms"] - 1) * 100
        out.loc[~(out["measured_ms"] > 0), "error_pct"] = np.nan
        out.attrs["metrics"] = error_metrics(out["estimated_ms"], out["measured_ms"])
        return out

    def to_dict(self) -> dict:
        layers = [{"name": r.name, "estimated_ms": None if pd.isna(r.estimated_ms) else round(float(r.estimated_ms), 6),
                   "bound": r.bound, "flops": None if pd.isna(r.flops) else float(r.flops),
                   "bytes": None if pd.isna(r.bytes) else float(r.bytes), "op": r.op, "precision": r.precision}
                  for r in self.layers.itertuples(index=False)]
        return {"gpu": self.gpu.name, "gpu_label": self.gpu.label, "total_ms": round(self.total_ms, 6),
                "label": self.label, "accuracy": self.accuracy(), "factors": self.factors.to_dict(),
                "layers_without_shapes": self.layers_without_shapes, "layers": layers}

    def _repr_html_(self) -> str:
        missing = (f"<br>{len(self.layers_without_shapes)} layers have no shapes and are not estimated: "
                   f"{', '.join(self.layers_without_shapes[:5])}" if self.layers_without_shapes else "")
        return (f"<div><b>{self.total_ms:.3f} ms</b> on {self.gpu.label} — {self.label}{missing}</div>"
                + self.layers[["name", "op", "precision", "bound", "estimated_ms"]].to_html(index=False))


def estimate_engine(source, gpu, *, model=None, factors: EfficiencyFactors | None = None) -> EngineEstimate:
    """Estimate each layer's time on ``gpu`` for an engine: a BuildResult (CPU build), layer-information JSON
    (path or parsed) or a ``layer_workload`` DataFrame. Layers without shapes are listed, not estimated."""
    spec = gpu_spec(gpu)
    work = source if isinstance(source, pd.DataFrame) else layer_workload(source, model=model)
    own_factors = factors is None
    factors = factors or calibrated_factors()
    terms = _roofline_terms(work, spec)
    seconds, bound = _predict_seconds(terms, work["op"].to_numpy(), factors)
    missing = work["bytes"].isna().to_numpy()
    if len(work) and missing.all():
        raise EngineFileError("no engine layer carries tensor shapes, so nothing can be estimated (layer information "
                              "exported without detail: use trtexec --profilingVerbosity=detailed --exportLayerInfo)")
    layers = work[["name", "type", "op", "precision", "flops", "bytes", "onnx_nodes"]].copy()
    layers["rate"] = terms["rate"].to_numpy()
    layers["intensity"] = np.where(layers["bytes"] > 0, layers["flops"] / layers["bytes"].where(layers["bytes"] > 0),
                                   np.nan)
    layers["estimated_ms"] = np.where(missing, np.nan, seconds * 1e3)
    layers["bound"] = np.where(missing, "unknown (no shapes)", bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        layers["achieved_tflops"] = np.where(layers["estimated_ms"] > 0,
                                             layers["flops"] / (layers["estimated_ms"] * 1e-3) / 1e12, np.nan)
    label = accuracy_label() if own_factors else f"estimate (factors fitted on {', '.join(factors.fitted_on)})"
    return EngineEstimate(gpu=spec, layers=layers, factors=factors,
                          layers_without_shapes=list(work.loc[missing, "name"]), label=label,
                          source=None if isinstance(source, pd.DataFrame) else source)
