"""Charts layer: plotly figures from the workbench's DataFrames (one function per chart, DataFrame -> Figure)."""

from .artifacts import run_artifacts
from .graph import graph_figure
from .performance import (latency_distribution, latency_throughput, memory_bars, pareto, speedup_bars,
                          throughput_vs_concurrency)
from .precision import accuracy_bars, activation_histogram, quantization_mapping
from .room import room_speedups

__all__ = ["latency_distribution", "latency_throughput", "throughput_vs_concurrency", "speedup_bars", "pareto",
           "memory_bars", "activation_histogram", "quantization_mapping", "accuracy_bars", "graph_figure", "room_speedups", "run_artifacts"]
