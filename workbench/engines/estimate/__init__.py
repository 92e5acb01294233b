"""GPU time per engine layer without a GPU: FLOPs and bytes per layer, a GPU table from public spec sheets, and a
roofline with efficiency factors fitted on recorded TensorRT profiles (leave-one-out error reported)."""

from .gpus import GpuSpec, gpu_spec, gpus
from .model import (RECORDINGS, EfficiencyFactors, EngineEstimate, accuracy_label, accuracy_summary,
                    calibrated_factors, error_metrics, estimate_engine, fit_factors, leave_one_out)
from .variants import estimate_model
from .workload import layer_workload

__all__ = ["GpuSpec", "gpu_spec", "gpus", "RECORDINGS", "EfficiencyFactors", "EngineEstimate", "accuracy_label",
           "accuracy_summary", "calibrated_factors", "error_metrics", "estimate_engine", "fit_factors",
           "leave_one_out", "layer_workload", "estimate_model"]
