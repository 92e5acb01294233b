"""Charts layer: plotly figures from the workbench's DataFrames (one function per chart, DataFrame -> Figure)."""

from .performance import (latency_distribution, latency_throughput, memory_bars, pareto, speedup_bars,
                          throughput_vs_concurrency)

__all__ = ["latency_distribution", "latency_throughput", "throughput_vs_concurrency", "speedup_bars", "pareto",
           "memory_bars"]
