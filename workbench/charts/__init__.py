"""Charts layer: plotly figures from the workbench's DataFrames (one function per chart, DataFrame -> Figure)."""

from .artifacts import run_artifacts
from .engines import engine_diff_chart, layer_time_bars, precision_variant_bars, roofline_chart
from .graph import graph_figure
from .performance import (
    latency_distribution,
    latency_throughput,
    memory_bars,
    pareto,
    speedup_bars,
    throughput_vs_concurrency,
)
from .precision import accuracy_bars, activation_histogram, amax_error_curve, quantization_mapping, sensitivity_bars
from .room import room_speedups
from .streams import stream_schedule, stream_timeline

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
