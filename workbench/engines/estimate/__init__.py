"""GPU time per engine layer without a GPU: FLOPs and bytes per layer, a GPU table from public spec sheets, and a
roofline with efficiency factors fitted on recorded TensorRT engines (leave-one-out error reported)."""

from .gpus import GpuSpec, gpu_for_device, gpu_spec, gpus
from .model import (
    RECORDINGS,
    EfficiencyFactors,
    EngineEstimate,
    Recording,
    accuracy_label,
    accuracy_summary,
    accuracy_table,
    calibrated_factors,
    error_metrics,
    estimate_engine,
    fit_factors,
    leave_one_gpu_out,
    leave_one_out,
    profile_latency_ms,
    recording,
)
from .variants import estimate_model
from .workload import layer_workload, tactic_math

__all__ = [
    "GpuSpec",
    "gpu_for_device",
    "gpu_spec",
    "gpus",
    "RECORDINGS",
    "EfficiencyFactors",
    "EngineEstimate",
    "Recording",
    "accuracy_label",
    "accuracy_summary",
    "accuracy_table",
    "calibrated_factors",
    "error_metrics",
    "estimate_engine",
    "fit_factors",
    "leave_one_gpu_out",
    "leave_one_out",
    "profile_latency_ms",
    "recording",
    "estimate_model",
    "layer_workload",
    "tactic_math",
]
