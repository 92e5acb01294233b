"""Per-layer GPU time estimate: a roofline with efficiency factors fitted on real TensorRT profiles.

time = max(FLOPs / (peak x compute efficiency x wave fill), bytes / (bandwidth x memory efficiency))
       + fixed per-kernel overhead

- peak: the GPU table's dense rate for the layer's math: tensor cores for conv/GEMM layers (FP32 runs as TF32,
  TensorRT's default on Ampere and later; FP16 at the FP16-accumulate rate unless the kernel accumulates in FP32),
  CUDA cores for depthwise convolutions, everything else, and kernels whose name says they are SIMT (a Winograd
  kernel does 2.25x fewer multiplies).
- wave fill: a conv/GEMM is split into 128x128 output tiles, one per SM at a time; a layer with fewer tiles than SMs
  (or a last partial wave) leaves SMs idle, unless its K is deep enough to split across SMs (``occupancy.py``).
- L2 residency: activations that fit in (half) the L2 are read at L2 speed, weights from DRAM (``occupancy.py``).
- memory efficiency is separate for reformats (layout changes gather and scatter, far below streaming bandwidth).
- the four factors are fitted on the recorded TensorRT engines in package data (``data/recordings.csv``: 10 engines,
  3 GPUs, FP32/FP16/INT8) by weighted least squares on log time, pulled gently towards typical values.

What is estimated is GPU time, as in trtexec's end-to-end "GPU Compute Time" (CUDA graph). A per-layer profile
(``--exportProfile``, "separate profiling") times each layer with its own events, which adds the profiler's overhead
to every layer: on the recordings, (sum of the profile - end-to-end time) / layers = 1.6 to 7.5 us, different on
each machine (the A100's host adds the most), so not a property of the GPU. Comparisons therefore add that measured
overhead to each estimated layer, and compare the estimated total with the end-to-end time
(``Recording.profiler_overhead_ms``, ``EngineEstimate.compare``).
``leave_one_out`` / ``leave_one_gpu_out`` report how well a fit on the other recordings predicts each one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence, TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import ConfigError, EngineFileError
from ...model.tensors import dims_text
from ..layers import join_profile, read_profile
from .fit_cache import disk_cached
from .gpus import GpuSpec, gpu_for_device, gpu_spec
from .occupancy import memory_seconds, wave_fill
from .regions import NOT_ESTIMATED, SPECIAL_OPS, special_layer_costs
from .workload import NO_TIME_OPS, TENSOR_CORE_OPS, WINOGRAD_SAVING, layer_workload

if TYPE_CHECKING:
    from ...files import PathArg
    from ...model import Model
    from ..build import BuildResult

ENGINES_PACKAGE = Path(__file__).resolve().parent.parent  # workbench/engines: recordings.csv's paths start there
RECORDINGS_TABLE = ENGINES_PACKAGE / "estimate" / "data" / "recordings.csv"
PRIOR = {"compute": 0.6, "memory": 0.7, "reformat": 0.5, "overhead_us": 3.0}
TOTAL_WEIGHT = 0.5  # weight of each recording's end-to-end time in the fit, against its per-layer errors (sum 1)
PRIOR_WEIGHT = 0.02  # pull towards PRIOR, against one recording's weighted mean squared log error: keeps a fit on few
# recordings sensible (a batch-1 MobileNet says little about compute efficiency) without overriding the data
TIME_SHARE_WEIGHT = 0.5  # each layer's weight in the fit: half even, half its share of the recording's time, so the
# fit serves both goals (per-layer error and total time) and every recording counts the same


@dataclass(frozen=True)
class EfficiencyFactors:
    compute: float = PRIOR["compute"]  # fraction of the math peak a large conv/GEMM reaches
    memory: float = PRIOR["memory"]  # fraction of DRAM bandwidth a memory-bound layer reaches
    reformat: float = PRIOR["reformat"]  # the same for reformats (layout changes: strided, poorly coalesced)
    overhead_us: float = PRIOR["overhead_us"]  # fixed time per kernel in a CUDA graph: launch gap, ramp-up, tail
    fitted_on: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "compute": round(self.compute, 4),
            "memory": round(self.memory, 4),
            "reformat": round(self.reformat, 4),
            "overhead_us": round(self.overhead_us, 3),
            "fitted_on": list(self.fitted_on),
        }


@dataclass(frozen=True)
class Recording:
    """A real engine's layer information and per-layer profile, with the GPU it was timed on (from the profile's
    metadata: trtexec's device information)."""

    name: str
    graph: Path
    profile: Path
    metadata: Path
    description: str

    @property
    def device(self) -> dict:
        return _read_json(self.metadata)["device_information"]

    @property
    def gpu(self) -> str:
        """The GPU table's name for the device the profile was recorded on."""
        return gpu_for_device(self.device["Selected Device"]).name

    @property
    def latency_ms(self) -> float:
        """Median end-to-end GPU time of the whole engine (trtexec, CUDA graph, no per-layer profiling)."""
        return metadata_latency_ms(self.metadata)

    @property
    def profiler_overhead_ms(self) -> float:
        """What per-layer profiling adds to each timed layer on this machine (measured, not fitted)."""
        return profiler_overhead_ms(self.measured_ms(), self.latency_ms)

    def workload(self) -> pd.DataFrame:
        return layer_workload(self.graph)

    def measured_ms(self) -> np.ndarray:
        times = read_profile(self.profile)
        return times["time_ms"].to_numpy(dtype=float)


@lru_cache(maxsize=None)
def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def profiler_overhead_ms(profile_ms: np.ndarray | pd.Series, latency_ms: float) -> float:
    """(sum of a per-layer profile - the engine's end-to-end GPU time) / timed layers, never below 0."""
    times = np.asarray(profile_ms, dtype=float)
    timed = times[times > 0]
    return max(float(timed.sum()) - float(latency_ms), 0.0) / max(len(timed), 1)


def metadata_latency_ms(metadata: Path) -> float:
    """The median end-to-end GPU time ("GPU Compute Time") in a TREx profile metadata file (trtexec's summary)."""
    try:
        return float(np.median(json.loads(Path(metadata).read_text())["performance_summary"]["GPU Compute Time"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise EngineFileError(f"{metadata}: no readable performance_summary / 'GPU Compute Time' ({exc})") from exc


def profile_latency_ms(profile: PathArg) -> float | None:
    """The end-to-end GPU time in the TREx metadata file beside a profile (``X.profile.json`` ->
    ``X.profile.metadata.json``), or None when there is none."""
    path = Path(profile)
    metadata = path.with_name(path.name[: -len(".json")] + ".metadata.json") if path.name.endswith(".json") else None
    return metadata_latency_ms(metadata) if metadata is not None and metadata.is_file() else None


def _recordings() -> tuple[Recording, ...]:
    """The recorded TensorRT engines in package data (``estimate/data/recordings.csv``; sources in SOURCES.md)."""
    table = pd.read_csv(RECORDINGS_TABLE)
    root = ENGINES_PACKAGE
    return tuple(
        Recording(r.name, root / r.graph, root / r.profile, root / r.metadata, r.description)
        for r in table.itertuples(index=False)
    )


RECORDINGS = _recordings()


def recording(name: str) -> Recording:
    """One recorded engine by name (ConfigError listing the names)."""
    for rec in RECORDINGS:
        if rec.name == name:
            return rec
    raise ConfigError(f"no recorded engine '{name}' (recordings: {', '.join(r.name for r in RECORDINGS)})")


def _roofline_terms(work: pd.DataFrame, gpu: GpuSpec) -> pd.DataFrame:
    """Per layer: the peak FLOP/s used, the wave fill, and compute / memory seconds at 100 % efficiency."""
    ops = work["op"].to_numpy()
    precisions = work["precision"].to_numpy()
    peaks, rates = [], []
    for op, precision, math_unit, accumulate in zip(ops, precisions, work["math"], work["accumulate"]):
        peak, rate = gpu.peak_flops(
            precision or "float32",
            tensor_cores=op in TENSOR_CORE_OPS and math_unit not in ("simt", "winograd"),
            accumulate=accumulate,
        )
        peaks.append(peak)
        rates.append(rate)
    peaks = np.asarray(peaks)
    fill = np.where(
        np.isin(ops, TENSOR_CORE_OPS), wave_fill(work["gemm_m"], work["gemm_n"], work["gemm_k"], gpu.sm_count), 1.0
    )
    flops = work["flops"].to_numpy(dtype=float) / np.where(work["math"] == "winograd", WINOGRAD_SAVING, 1.0)
    memory_s = memory_seconds(work["bytes"], work["weight_bytes"], gpu)
    return pd.DataFrame(
        {"peak_flops": peaks, "rate": rates, "fill": fill, "compute_s": flops / (peaks * fill), "memory_s": memory_s},
        index=work.index,
    )


def _predict_seconds(
    compute_s: np.ndarray, memory_s: np.ndarray, ops: np.ndarray, factors: EfficiencyFactors
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per layer and what bounds it, from the roofline terms at 100 % efficiency."""
    compute = compute_s / factors.compute
    memory = memory_s / np.where(ops == "reformat", factors.reformat, factors.memory)
    timed = ~np.isin(ops, NO_TIME_OPS)
    seconds = np.where(timed, np.maximum(compute, memory) + factors.overhead_us * 1e-6, 0.0)
    bound = np.where(timed, np.where(compute >= memory, "compute", "memory"), "none")
    return seconds, bound


@lru_cache(maxsize=None)
def _fit_data(rec: Recording) -> tuple:
    """A recording's timed layers: roofline terms, ops, measured seconds, fit weights, profiler overhead, end-to-end."""
    work = rec.workload()
    measured = rec.measured_ms() * 1e-3
    terms = _roofline_terms(work, gpu_spec(rec.gpu))
    usable = (measured > 0) & ~np.isin(work["op"], NO_TIME_OPS) & work["bytes"].notna().to_numpy()
    weights = (1 - TIME_SHARE_WEIGHT) / usable.sum() + TIME_SHARE_WEIGHT * measured[usable] / measured[usable].sum()
    return (
        terms["compute_s"].to_numpy()[usable],
        terms["memory_s"].to_numpy()[usable],
        work["op"].to_numpy()[usable],
        measured[usable],
        weights * (1 - TOTAL_WEIGHT),
        rec.profiler_overhead_ms * 1e-3,
        rec.latency_ms * 1e-3,
    )


FACTOR_NAMES = ("compute", "memory", "reformat", "overhead_us")


def fit_factors(recordings: Sequence[Recording] = RECORDINGS) -> EfficiencyFactors:
    """Fit the factors on ``recordings``: weighted least squares on log time per layer (each estimate plus the
    recording's measured profiler overhead, against the profile) and on the end-to-end time (the estimated total
    against trtexec's GPU compute time), with a weak pull towards PRIOR."""
    from scipy.optimize import minimize

    data = [_fit_data(rec) for rec in recordings]
    prior = np.log([PRIOR[n] for n in FACTOR_NAMES])

    def loss(x):
        factors = EfficiencyFactors(**dict(zip(FACTOR_NAMES, np.exp(x))))
        total = 0.0
        for compute_s, memory_s, ops, measured, weights, overhead, latency in data:
            predicted, _ = _predict_seconds(compute_s, memory_s, ops, factors)
            total += float(np.sum(weights * (np.log(predicted + overhead) - np.log(measured)) ** 2))
            total += TOTAL_WEIGHT * float(np.log(predicted.sum() / latency) ** 2)
        return total + PRIOR_WEIGHT * float(np.sum((x - prior) ** 2))

    # efficiencies stay within (0, 1] and the overhead within 0.1-50 us during the search (not clipped after it)
    bounds = [(np.log(1e-3), 0.0) if n != "overhead_us" else (np.log(0.1), np.log(50.0)) for n in FACTOR_NAMES]
    best = minimize(
        loss, prior, method="Nelder-Mead", bounds=bounds, options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 4000}
    )
    return EfficiencyFactors(
        **{n: float(v) for n, v in zip(FACTOR_NAMES, np.exp(best.x))}, fitted_on=tuple(r.name for r in recordings)
    )


def error_metrics(
    estimated_ms: Sequence[float] | np.ndarray | pd.Series,
    measured_ms: Sequence[float] | np.ndarray | pd.Series,
    *,
    latency_ms: float | None = None,
) -> dict:
    """Per-layer median absolute % error, total % error and Spearman rank correlation (layers timed > 0).

    With ``latency_ms`` (the engine's end-to-end GPU time), each estimate is compared with its layer's profiled time
    after adding the profiler's measured per-layer overhead, and the estimated total with ``latency_ms``; without it,
    both with the profile as it is."""
    from scipy.stats import spearmanr

    if latency_ms is not None and not (np.isfinite(latency_ms) and latency_ms > 0):
        raise ConfigError(
            f"the end-to-end time (latency_ms) must be a positive number of milliseconds, got {latency_ms}"
        )
    est = np.asarray(estimated_ms, dtype=float)
    meas = np.asarray(measured_ms, dtype=float)
    keep = (meas > 0) & np.isfinite(est) & np.isfinite(meas)
    est, meas = est[keep], meas[keep]
    if not len(meas):
        raise ConfigError("no layer has both an estimate and a measured time to compare")
    overhead = profiler_overhead_ms(meas, latency_ms) if latency_ms else 0.0
    measured_total = float(latency_ms) if latency_ms else float(meas.sum())
    rho = float(spearmanr(est, meas).statistic) if len(meas) > 2 else float("nan")
    return {
        "layers": int(len(meas)),
        "median_abs_pct_error": float(np.median(np.abs((est + overhead) / meas - 1)) * 100),
        "total_pct_error": float((est.sum() / measured_total - 1) * 100),
        "spearman": rho,
        "estimated_total_ms": float(est.sum()),
        "measured_total_ms": measured_total,
        "profiler_overhead_ms": overhead,
        "profile_total_ms": float(meas.sum()),
        "compared_with": "end-to-end GPU time" if latency_ms else "per-layer profile",
    }


@lru_cache(maxsize=1)
@disk_cached("calibrated_factors")
def calibrated_factors() -> EfficiencyFactors:
    """The factors fitted on every recording (what estimates use)."""
    return fit_factors(RECORDINGS)


def _held_out_rows(groups) -> pd.DataFrame:
    """Fit on the recordings outside each group, predict the group's. Two comparisons per recording: with its own
    end-to-end time (``error_metrics``), and with its raw per-layer profile, each estimate plus the profiler overhead
    of that machine as its other recordings measured it (all fitted recordings' mean when it has none)."""
    rows = []
    for held_out in groups:
        fitted = tuple(r for r in RECORDINGS if r not in held_out)
        factors = fit_factors(fitted)
        for rec in held_out:
            estimated = estimate_engine(rec.graph, rec.gpu, factors=factors).layers["estimated_ms"]
            measured = rec.measured_ms()
            metrics = error_metrics(estimated, measured, latency_ms=rec.latency_ms)
            same_machine = [r for r in fitted if r.gpu == rec.gpu] or list(fitted)
            overhead = float(np.mean([r.profiler_overhead_ms for r in same_machine]))
            raw = error_metrics(estimated + overhead, measured)
            rows.append(
                {
                    "predicted": rec.name,
                    "gpu": rec.gpu,
                    "fitted_on": ", ".join(factors.fitted_on),
                    **metrics,
                    "profile_median_abs_pct_error": raw["median_abs_pct_error"],
                    "profile_total_pct_error": raw["total_pct_error"],
                    "profiler_overhead_used_ms": overhead,
                    **{f"factor_{k}": v for k, v in factors.to_dict().items() if k != "fitted_on"},
                }
            )
    return pd.DataFrame(rows)


@lru_cache(maxsize=1)
@disk_cached("leave_one_out")
def leave_one_out() -> pd.DataFrame:
    """Fit on all recordings but one, predict the one left out: the estimate's honest error."""
    return _held_out_rows([(rec,) for rec in RECORDINGS])


@lru_cache(maxsize=1)
@disk_cached("leave_one_gpu_out")
def leave_one_gpu_out() -> pd.DataFrame:
    """Stricter: fit only on the other GPUs' recordings, predict every recording of the GPU left out (the case of a
    GPU the workbench has no recording of)."""
    gpus = list(dict.fromkeys(rec.gpu for rec in RECORDINGS))
    return _held_out_rows([tuple(r for r in RECORDINGS if r.gpu == gpu) for gpu in gpus])


def accuracy_summary() -> dict:
    """The leave-one-out error, worst case over recordings, in the words every estimate is labelled with."""
    loo, by_gpu = leave_one_out(), leave_one_gpu_out()
    return {
        "median_abs_pct_error": float(loo["median_abs_pct_error"].max()),
        "total_abs_pct_error": float(loo["total_pct_error"].abs().max()),
        "spearman": float(loo["spearman"].min()),
        "recordings": list(loo["predicted"]),
        "profile_median_abs_pct_error": float(loo["profile_median_abs_pct_error"].max()),
        "profile_total_abs_pct_error": float(loo["profile_total_pct_error"].abs().max()),
        "gpu_left_out_median_abs_pct_error": float(by_gpu["median_abs_pct_error"].max()),
        "gpu_left_out_total_abs_pct_error": float(by_gpu["total_pct_error"].abs().max()),
        "method": "leave one out over recorded TensorRT engines (fit on the others, predict the held-out one): "
        "each layer against its profiled time less the profiler's measured per-layer overhead, the "
        "total against trtexec's end-to-end GPU compute time",
    }


def accuracy_table() -> pd.DataFrame:
    """Per recorded engine: its GPU, what it is, and the estimate's error when it is left out of the fit (leave one
    out) and when its whole GPU is (leave one GPU out): per-layer median absolute % error and total % error."""
    loo = leave_one_out().set_index("predicted")
    by_gpu = leave_one_gpu_out().set_index("predicted")
    return pd.DataFrame(
        [
            {
                "recording": rec.name,
                "gpu": rec.gpu,
                "what": rec.description,
                "per-layer % (left out)": loo.at[rec.name, "median_abs_pct_error"],
                "total % (left out)": loo.at[rec.name, "total_pct_error"],
                "per-layer % (GPU left out)": by_gpu.at[rec.name, "median_abs_pct_error"],
                "total % (GPU left out)": by_gpu.at[rec.name, "total_pct_error"],
            }
            for rec in RECORDINGS
        ]
    ).round(1)


def accuracy_label() -> str:
    loo = leave_one_out()  # the label quotes leave one out only: the GPU-left-out fits need not run for it
    return (
        f"estimate (leave-one-out error on {len(RECORDINGS)} recorded TensorRT engines: per-layer median ±"
        f"{loo['median_abs_pct_error'].max():.0f} %, total ±{loo['total_pct_error'].abs().max():.0f} %)"
    )


def _engine_traits(work: pd.DataFrame) -> dict:
    """What the error band is matched on: the precision of the math layers (conv/GEMM; else the most common) and
    the batch (first dimension of the first conv/GEMM input)."""
    math_rows = work[work["op"].isin(TENSOR_CORE_OPS + ("depthwise",))]
    rows = math_rows if len(math_rows) else work[~work["op"].isin(NO_TIME_OPS)]
    precisions = rows["precision"].replace("", np.nan).dropna()
    shapes = [s[0] for s in rows["input_shapes"] if s and s[0]]
    return {
        "precision": str(precisions.mode().iloc[0]) if len(precisions) else "",
        "batch": int(shapes[0][0]) if shapes and shapes[0] else None,
    }


@lru_cache(maxsize=None)
def _recording_traits(rec: Recording) -> dict:
    work = rec.workload()
    return {**_engine_traits(work), "ops": frozenset(work["op"]), "gpu": rec.gpu}


def seen_ops() -> frozenset:
    """Layer kinds (``op``) the fit has seen in at least one recording."""
    return frozenset().union(*(_recording_traits(r)["ops"] for r in RECORDINGS))


def error_band(layers: pd.DataFrame, traits: dict, gpu: GpuSpec) -> dict:
    """The error band an estimate can honestly quote: leave-one-out errors of the recordings that resemble it (same
    precision and batch class: 1 vs more), and how much of its estimated time lies in layers the fit never saw
    (layer kinds absent from every recording, Myelin regions and plugins costed outside the roofline fit) or that
    are not estimated at all (then the total is a lower bound)."""
    timed = ~layers["op"].isin(NO_TIME_OPS)
    estimated = layers["estimated_ms"].fillna(0.0)
    total = float(estimated[timed].sum()) or 1.0
    unseen = timed & (~layers["op"].isin(seen_ops()) | (layers["basis"] != "roofline"))
    not_estimated = timed & layers["estimated_ms"].isna()
    traits_of = {r.name: _recording_traits(r) for r in RECORDINGS}
    same_precision = [n for n, t in traits_of.items() if t["precision"] == traits["precision"]]
    batch_class = (traits["batch"] or 1) > 1
    similar = [n for n in same_precision if ((traits_of[n]["batch"] or 1) > 1) == batch_class]

    def same_chip(name):  # A100 40GB / 80GB / PCIe share one chip: recordings on any of them count
        other = gpu_spec(traits_of[name]["gpu"])
        return (other.architecture, other.sm_count) == (gpu.architecture, gpu.sm_count)

    on_gpu = [n for n in similar if same_chip(n)]
    notes = []
    if not same_precision:
        notes.append(
            f"no recording has {traits['precision'] or 'this'} precision: the band below is of other "
            "precisions and may not hold"
        )
    elif not similar:
        notes.append(
            f"no {traits['precision']} recording at batch {traits['batch']} "
            f"({'all are batch 1' if batch_class else 'all are larger batches'})"
        )
    if not any(same_chip(n) for n in same_precision):
        notes.append(
            f"no recording on {gpu.name} at {traits['precision'] or 'this precision'}: the fit has never "
            "seen this GPU with it (leave-one-GPU-out is the relevant error)"
        )
    basis = similar or same_precision or [r.name for r in RECORDINGS]
    loo = leave_one_out().set_index("predicted").loc[basis]
    band = {
        "median_abs_pct_error": float(loo["median_abs_pct_error"].max()),
        "total_abs_pct_error": float(loo["total_pct_error"].abs().max()),
        "resembling": basis,
        "on_this_gpu": on_gpu,
        "unseen_fraction": float(estimated[unseen].sum()) / total,
        "unseen_ops": sorted(set(layers.loc[unseen, "op"])),
        "not_estimated_layers": int(not_estimated.sum()),
        "lower_bound": bool(not_estimated.any()),
        "notes": notes,
    }
    return band


def band_label(band: dict) -> str:
    """The estimate's label from its error band: the resembling recordings' leave-one-out error, what they do not
    cover, and 'lower bound' when layers are not estimated."""
    text = (
        f"estimate (leave-one-out error on {len(band['resembling'])} resembling recorded TensorRT engines: "
        f"per-layer median ±{band['median_abs_pct_error']:.0f} %, total ±{band['total_abs_pct_error']:.0f} %)"
    )
    if band["unseen_fraction"] > 0.005:
        text += (
            f"; {band['unseen_fraction'] * 100:.0f} % of the estimated time is in layers the fit never saw "
            f"({', '.join(band['unseen_ops'])}): the band does not cover it"
        )
    for note in band["notes"]:
        text += f"; {note}"
    if band["lower_bound"]:
        text = (
            f"LOWER BOUND: {band['not_estimated_layers']} layers not estimated (their time is missing from the "
            f"total); " + text
        )
    return text


@dataclass
class EngineEstimate:
    """Estimated time per engine layer on one GPU (every figure an estimate; ``accuracy`` says how good)."""

    gpu: GpuSpec
    layers: pd.DataFrame
    factors: EfficiencyFactors
    layers_without_shapes: list[str] = field(default_factory=list)
    label: str = ""
    band: dict = field(default_factory=dict)  # error_band(): resembling recordings, unseen fraction, lower bound
    source: object = field(default=None, repr=False)  # the BuildResult / layer JSON estimated (for diff_engines)

    @property
    def total_ms(self) -> float:
        return float(self.layers["estimated_ms"].sum(skipna=True))

    @property
    def lower_bound(self) -> bool:
        """True when some layers are not estimated: the total is then a lower bound."""
        return bool(self.band.get("lower_bound"))

    @property
    def not_estimated(self) -> list[str]:
        timed = ~self.layers["op"].isin(NO_TIME_OPS)
        return list(self.layers.loc[timed & self.layers["estimated_ms"].isna(), "name"])

    def accuracy(self) -> dict:
        return accuracy_summary()

    def compare(self, measured: PathArg | pd.DataFrame | pd.Series, *, latency_ms: float | None = None) -> pd.DataFrame:
        """Join with measured times: a profile file/DataFrame (name, time_ms) or a Series by layer name.

        ``latency_ms``: the engine's end-to-end GPU time on the same machine (trtexec's "GPU Compute Time"); for a
        profile file it is read from the metadata file TREx keeps beside it (``*.profile.metadata.json``) when
        there is one. With it, the per-layer errors allow for the profiler's own per-layer overhead and the total
        is compared with the end-to-end time (``error_metrics``)."""
        if isinstance(measured, pd.Series):
            times = measured.rename("measured_ms").reset_index().rename(columns={"index": "name"})
        elif isinstance(measured, pd.DataFrame):
            times = measured[["name", "time_ms"]].rename(columns={"time_ms": "measured_ms"})
        else:
            times = read_profile(measured)[["name", "time_ms"]].rename(columns={"time_ms": "measured_ms"})
            latency_ms = profile_latency_ms(measured) if latency_ms is None else latency_ms
        cols = ["name", "op", "precision", "bound", "estimated_ms"]
        out = self.layers[cols].reset_index(drop=True)
        out["measured_ms"] = join_profile(self.layers, times)["measured_ms"].astype(float)
        metrics = error_metrics(out["estimated_ms"], out["measured_ms"], latency_ms=latency_ms)
        out["error_pct"] = ((out["estimated_ms"] + metrics["profiler_overhead_ms"]) / out["measured_ms"] - 1) * 100
        out.loc[~(out["measured_ms"] > 0), "error_pct"] = np.nan
        out.attrs["metrics"] = metrics
        return out

    def to_dict(self) -> dict:
        layers = [
            {
                "name": r.name,
                "estimated_ms": None if pd.isna(r.estimated_ms) else round(float(r.estimated_ms), 6),
                "bound": r.bound,
                "flops": None if pd.isna(r.flops) else float(r.flops),
                "bytes": None if pd.isna(r.bytes) else float(r.bytes),
                "op": r.op,
                "precision": r.precision,
                "basis": r.basis,
                "note": r.note,
            }
            for r in self.layers.itertuples(index=False)
        ]
        return {
            "gpu": self.gpu.name,
            "gpu_label": self.gpu.label,
            "total_ms": round(self.total_ms, 6),
            "label": self.label,
            "lower_bound": self.lower_bound,
            "band": self.band,
            "accuracy": self.accuracy(),
            "factors": self.factors.to_dict(),
            "layers_without_shapes": self.layers_without_shapes,
            "layers": layers,
        }

    def _repr_html_(self) -> str:
        missing = (
            f"<br>{len(self.layers_without_shapes)} layers have no shapes and are not estimated: "
            f"{', '.join(self.layers_without_shapes[:5])}"
            if self.layers_without_shapes
            else ""
        )
        return f"<div><b>{self.total_ms:.3f} ms</b> on {self.gpu.label} — {self.label}{missing}</div>" + self.layers[
            ["name", "op", "precision", "bound", "estimated_ms"]
        ].to_html(index=False)


def _ranges_hint(source: object) -> str:
    """What to do when the engine was built for a range of shapes: its layers then carry -1 for every dimension
    that varies (the inspector of a CPU build has no execution context to fix them), so no layer has a size."""
    profiles = getattr(source, "profiles", None) or {}
    ranged = {name: r for name, r in profiles.items() if tuple(r[0]) != tuple(r[2])}
    if not ranged:
        return ""
    name, (low, opt, high) = next(iter(ranged.items()))
    return (
        f" (the engine is built for a range of shapes, e.g. {name} {dims_text(low)}..{dims_text(high)}, and its "
        f"layers carry -1 for what varies): build it at one shape to estimate it (on the command line --shapes "
        f"{name}:{dims_text(opt)} instead of --min/--opt/--max-shapes)"
    )


def estimate_engine(
    source: BuildResult | PathArg | dict | list[dict],
    gpu: GpuSpec | str,
    *,
    model: Model | None = None,
    factors: EfficiencyFactors | None = None,
) -> EngineEstimate:
    """Estimate each layer's time on ``gpu`` for an engine: a BuildResult (CPU build), layer-information JSON
    (path or parsed) or a ``layer_workload`` DataFrame. Layers without shapes are listed, not estimated."""
    spec = gpu_spec(gpu)
    work = source if isinstance(source, pd.DataFrame) else layer_workload(source, model=model)
    own_factors = factors is None
    factors = factors or calibrated_factors()
    terms = _roofline_terms(work, spec)
    seconds, bound = _predict_seconds(
        terms["compute_s"].to_numpy(), terms["memory_s"].to_numpy(), work["op"].to_numpy(), factors
    )
    missing = work["bytes"].isna().to_numpy()
    if len(work) and missing.all():
        raise EngineFileError(
            "no engine layer carries tensor shapes, so nothing can be estimated (layer information "
            "exported without detail: use trtexec --profilingVerbosity=detailed --exportLayerInfo)"
        )
    special = special_layer_costs(work, spec, factors, model=model)
    is_special = np.isin(work["op"].to_numpy(), SPECIAL_OPS) | (special["basis"] != "roofline").to_numpy()
    seconds = np.where(is_special, special["seconds"].to_numpy(), seconds)
    bound = np.where(is_special, np.where(special["basis"] == NOT_ESTIMATED, NOT_ESTIMATED, "region"), bound)
    layers = work[["name", "type", "op", "precision", "flops", "bytes", "onnx_nodes"]].copy()
    layers["basis"] = np.where(missing, NOT_ESTIMATED, special["basis"].to_numpy())
    layers["note"] = special["note"].to_numpy()
    layers["rate"] = terms["rate"].to_numpy()
    layers["intensity"] = np.where(
        layers["bytes"] > 0, layers["flops"] / layers["bytes"].where(layers["bytes"] > 0), np.nan
    )
    layers["estimated_ms"] = np.where(missing & ~is_special, np.nan, seconds * 1e3)
    layers["bound"] = np.where(missing, "unknown (no shapes)", bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        layers["achieved_tflops"] = np.where(
            layers["estimated_ms"] > 0, layers["flops"] / (layers["estimated_ms"] * 1e-3) / 1e12, np.nan
        )
    timed = ~np.isin(work["op"].to_numpy(), NO_TIME_OPS)
    if timed.any() and np.isnan(layers["estimated_ms"].to_numpy()[timed]).all():
        reasons = "; ".join(dict.fromkeys(n for n in layers.loc[timed, "note"] if n)) or "no tensor shapes"
        raise EngineFileError(f"no layer of this engine can be estimated: {reasons}{_ranges_hint(source)}")
    band = error_band(layers, _engine_traits(work), spec) if own_factors else {}
    label = band_label(band) if own_factors else f"estimate (factors fitted on {', '.join(factors.fitted_on)})"
    return EngineEstimate(
        gpu=spec,
        layers=layers,
        factors=factors,
        band=band,
        layers_without_shapes=list(work.loc[missing, "name"]),
        label=label,
        source=None if isinstance(source, pd.DataFrame) else source,
    )
