"""Widgets layer: thin ipywidgets panels over the library (every action is also a plain function call)."""

from .benchmark_panel import BenchmarkPanel
from .build_panel import BuildPanel
from .precision_panel import PrecisionPanel

__all__ = ["BuildPanel", "BenchmarkPanel", "PrecisionPanel"]
