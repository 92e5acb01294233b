"""Charts layer: plotly figures from the workbench's DataFrames (one function per chart, DataFrame -> Figure)."""

from __future__ import annotations

import importlib

# Public name -> the module defining it, imported on first use: ``workbench graph``'s canvas export reads
# ``charts.graph_html`` without importing plotly's figure modules (0.12 s of a process that takes seconds).
_LAZY = {
    "run_artifacts": "artifacts",
    "engine_diff_chart": "engines",
    "layer_time_bars": "engines",
    "precision_variant_bars": "engines",
    "roofline_chart": "engines",
    "graph_figure": "graph",
    "latency_distribution": "performance",
    "latency_throughput": "performance",
    "memory_bars": "performance",
    "pareto": "performance",
    "speedup_bars": "performance",
    "throughput_vs_concurrency": "performance",
    "accuracy_bars": "precision",
    "activation_histogram": "precision",
    "amax_error_curve": "precision",
    "quantization_mapping": "precision",
    "sensitivity_bars": "precision",
    "room_speedups": "room",
    "stream_schedule": "streams",
    "stream_timeline": "streams",
}

__all__ = [
    "latency_distribution",
    "latency_throughput",
    "throughput_vs_concurrency",
    "speedup_bars",
    "pareto",
    "memory_bars",
    "activation_histogram",
    "quantization_mapping",
    "accuracy_bars",
    "graph_figure",
    "roofline_chart",
    "layer_time_bars",
    "precision_variant_bars",
    "engine_diff_chart",
    "amax_error_curve",
    "sensitivity_bars",
    "stream_schedule",
    "stream_timeline",
    "room_speedups",
    "run_artifacts",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.charts' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
