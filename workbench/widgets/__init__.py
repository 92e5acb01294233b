"""Widgets layer: thin ipywidgets panels over the library (every action is also a plain function call)."""

from .benchmark_panel import BenchmarkPanel
from .build_panel import BuildPanel
from .graph_panel import GraphPanel
from .graph_view import FusionView, GraphView
from .model_panel import ModelPanel
from .precision_panel import PrecisionPanel

__all__ = ["BuildPanel", "BenchmarkPanel", "GraphPanel", "GraphView", "FusionView", "ModelPanel", "PrecisionPanel"]
