"""The workbench in one window: Model -> Graph -> Precision & calibration -> Build -> Benchmark -> Compare.

Panels share one state (the model, its calibration data, the converted models and their accuracy); every step is
also a plain library call, and each panel can be used on its own.
"""

from __future__ import annotations

import ipywidgets as widgets
from typing import TYPE_CHECKING

from ..bench import ResultsStore
from ..bench.quality import quality_tags
from ..precision.sample_data import default_data
from .benchmark_panel import BenchmarkPanel
from .build_panel import BuildPanel
from .common import Panel
from .compare_panel import ComparePanel
from .estimate_panel import EstimatePanel
from .graph_panel import GraphPanel
from .lint_panel import LintPanel
from .model_panel import ModelPanel
from .precision_panel import PrecisionPanel

if TYPE_CHECKING:
    from ..model import Model
    from ..model.sources import ModelSource

STEPS = ("1 Model", "2 Graph", "3 Precision", "4 Build", "5 Benchmark", "6 Compare", "Lint", "Estimate")


class App(Panel):
    """``App()`` shows the whole workflow; ``model``: the starting model, ``store``: the results store."""

    def __init__(self, model: ModelSource = "resnet_tiny", *, store: ResultsStore | None = None):
        self.store = store if store is not None else ResultsStore()
        self.variants: dict = {}
        self.model_panel = ModelPanel()
        self.graph_panel = GraphPanel()
        self.precision_box = widgets.VBox()
        self.build_panel = BuildPanel(store=self.store)
        self.benchmark_panel = BenchmarkPanel(store=self.store)
        self.compare_panel = ComparePanel(self.store)
        self.lint_panel = LintPanel()
        self.estimate_panel = EstimatePanel()
        self.precision_panel = None
        self.data_note = widgets.HTML()
        self.tabs = widgets.Tab(
            children=[
                self.model_panel,
                self.graph_panel,
                widgets.VBox([self.data_note, self.precision_box]),
                self.build_panel,
                self.benchmark_panel,
                self.compare_panel,
                self.lint_panel,
                self.estimate_panel,
            ]
        )
        for i, title in enumerate(STEPS):
            self.tabs.set_title(i, title)
        self.tabs.observe(self.guarded(self._tab_changed), names="selected_index")
        header = widgets.HTML("<h3 style='margin:4px 0'>TensorRT Workbench</h3>")
        super().__init__([header, self.tabs])
        self.model_panel.on_model(self.guarded(self._model_changed))
        # one place for input shapes: the Model tab; Graph and Build build at them
        self.graph_panel.use_shapes_from(self.model_panel.shapes)
        self.build_panel.use_shapes_from(self.model_panel.shapes)
        if model is not None:
            self.model_panel.load(model)

    @property
    def model(self) -> Model | None:
        return self.model_panel.model

    def _model_changed(self, model) -> None:
        self.graph_panel.set_model(model)  # first: a model whose data cannot be made up can still be looked at
        self.build_panel.set_model(model)
        data = default_data(model, shapes=self.model_panel.opt_shapes())
        self.data_note.value = f"<i>calibration and evaluation data: {data.note}</i>"
        self.precision_panel = PrecisionPanel(model, data.calibration, eval_data=data.evaluation, labels=data.labels)
        self.precision_panel.on_converted(self._converted)
        self.precision_box.children = (self.precision_panel,)
        self.build_panel.calibration_data = data.calibration
        self.variants = {"fp32": model}
        self.benchmark_panel.set_targets(self.variants)
        self.benchmark_panel.variant_tags = {}
        self.compare_panel.model = model
        self.lint_panel.set_model(model)
        self.estimate_panel.set_model(model)

    def _converted(self, converted, accuracy_row) -> None:
        name = converted.precision + (f" {converted.calibrator}" if converted.calibrator else "")
        self.variants[name] = converted
        self.benchmark_panel.set_targets(self.variants)
        self.lint_panel.set_variants(self.variants)
        if accuracy_row is not None:
            self.benchmark_panel.variant_tags[name] = quality_tags(accuracy_row)
            self.benchmark_panel.variant_tags["fp32"] = quality_tags(self.precision_panel.accuracy.iloc[0])

    def _tab_changed(self, change) -> None:
        if change["new"] == STEPS.index("6 Compare"):
            self.compare_panel.refresh()
