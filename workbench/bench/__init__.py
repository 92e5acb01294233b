"""Bench layer: honest latency/throughput measurement (ONNX Runtime, TensorRT, PyTorch), sweeps, results store."""

from .compare import LatestRuns, latest_runs, speedups
from .harness import BenchmarkConfig, Measurement, measure
from .machine import machine_facts
from .runners import OnnxRuntimeRunner, Runner, TensorRTOptions, TensorRTRunner, TorchRunner, runner_for
from .stats import latency_stats
from .store import ResultsStore, default_store_path, default_store_url
from .sweep import sweep

__all__ = [
    "BenchmarkConfig",
    "Measurement",
    "measure",
    "machine_facts",
    "OnnxRuntimeRunner",
    "Runner",
    "TensorRTOptions",
    "TensorRTRunner",
    "TorchRunner",
    "runner_for",
    "latency_stats",
    "ResultsStore",
    "default_store_path",
    "default_store_url",
    "sweep",
    "LatestRuns",
    "latest_runs",
    "speedups",
]
