"""Widgets layer: thin ipywidgets panels over the library (every action is also a plain function call)."""

from .app import App
from .benchmark_panel import BenchmarkPanel
from .build_panel import BuildPanel
from .compare_panel import ComparePanel
from .estimate_panel import EstimatePanel
from .graph_panel import GraphPanel
from .graph_view import FusionView, GraphView
from .lint_panel import LintPanel
from .model_panel import ModelPanel
from .precision_panel import PrecisionPanel

__all__ = [
    "App",
    "BuildPanel",
    "BenchmarkPanel",
    "ComparePanel",
    "EstimatePanel",
    "GraphPanel",
    "GraphView",
    "FusionView",
    "LintPanel",
    "ModelPanel",
    "PrecisionPanel",
]
