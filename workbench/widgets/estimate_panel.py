"""Estimate tab: how fast would this model's engine be on a GPU you do not have, per precision, and why."""

from __future__ import annotations

import html
from typing import Sequence, TYPE_CHECKING

import ipywidgets as widgets

from ..charts import layer_time_bars, precision_variant_bars, roofline_chart
from ..engines.estimate import accuracy_table, gpus
from ..engines.estimate.variants import VARIANTS, estimate_model
from .common import Panel, html_table, progress_bar, show_figure
from .diff_view import EngineDiffView

if TYPE_CHECKING:
    from ..model.sources import ModelSource


class EstimatePanel(Panel):
    """Build the model per precision (CPU builder), estimate each engine on the chosen GPU, draw the per-precision
    totals, the roofline and per-layer bars of one variant, and the side-by-side diff of two variants."""

    def __init__(
        self,
        model: ModelSource | None = None,
        *,
        gpu: str = "a100",
        precisions: Sequence[str] = ("fp32", "fp16", "int8"),
    ):
        table = gpus()
        self.model = None
        self.estimates: dict = {}
        self.table = None
        self.gpu = widgets.Dropdown(
            options=[(f"{r.label}", r.name) for r in table.itertuples()], value=gpu, description="GPU"
        )
        self.precisions = widgets.SelectMultiple(
            options=list(VARIANTS), value=tuple(precisions), description="precisions", rows=len(VARIANTS)
        )
        self.run_button = widgets.Button(description="Estimate", button_style="primary", icon="tachometer")
        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.progress = progress_bar("building")
        self.stage = widgets.Label()
        self.summary = widgets.HTML()
        self.variant = widgets.ToggleButtons(options=[], description="layers of")
        self.variant.observe(self.guarded(lambda _: self._show_variant()), names="value")
        self.totals_chart, self.roofline, self.bars = widgets.Output(), widgets.Output(), widgets.Output()
        self.diff_view = EngineDiffView()
        self.accuracy = widgets.Accordion(children=[widgets.HTML()], selected_index=None)
        self.accuracy.set_title(0, "How good is the estimate? Each recorded engine predicted by a fit on the others")
        note = widgets.HTML(
            "<i>Every figure here is an <b>estimate</b> from a roofline fitted on real TensorRT "
            "profiles; its measured error is printed next to it.</i>"
        )
        super().__init__(
            [
                note,
                widgets.HBox([self.gpu, self.precisions, self.run_button, self.stop_button]),
                widgets.HBox([self.progress, self.stage]),
                self.summary,
                self.accuracy,
                self.totals_chart,
                self.variant,
                self.roofline,
                self.bars,
                widgets.HTML("<b>Engine vs engine</b> (first two precisions)"),
                self.diff_view,
            ]
        )
        if model is not None:
            self.set_model(model)

    def set_model(self, model: ModelSource | None) -> None:
        self.model = model
        self.estimates, self.table = {}, None
        self.summary.value = f"model <b>{html.escape(model.name)}</b>: choose a GPU and precisions, then Estimate"

    def run(self, wait: bool = False) -> None:
        if self.model is None:
            self.say("load a model first", "warning")
            return
        model, gpu, precisions = self.model, self.gpu.value, tuple(self.precisions.value)

        def work():  # background thread: computes only; every widget change goes through on_ui
            self.say("building and estimating …")
            table, estimates = estimate_model(
                model, gpu, precisions, on_progress=self.show_progress, cancel=self._cancel
            )
            diff = None
            if len(estimates) >= 2:
                from ..engines import diff_engines

                a, b = list(estimates)[:2]
                diff = diff_engines(estimates[a].source, estimates[b].source, gpu=gpu, labels=(a, b))
            accuracy = accuracy_table()
            self.on_ui(self._show, table, estimates, accuracy, diff)

        self.run_stoppable(work, wait=wait)

    def _show(self, table, estimates, accuracy, diff) -> None:  # on the kernel's thread
        self.table, self.estimates = table, estimates
        label = table.attrs.get("label", "")
        self.summary.value = html_table(table) + f"<div><i>{html.escape(label)}</i></div>"
        self.accuracy.children[0].value = (
            html_table(accuracy) + "<div><i>per layer: against the profiled time less the profiler's "
            "measured per-layer overhead; total: against trtexec's end-to-end GPU time. 'GPU left out': no "
            "recording of that GPU in the fit, as for a GPU the workbench has never seen.</i></div>"
        )
        show_figure(self.totals_chart, precision_variant_bars(table, next(iter(estimates.values())).gpu.label))
        self.variant.options = list(estimates)
        self.variant.value = next(iter(estimates))  # shows its roofline and bars (observer)
        self._show_variant()
        if diff is not None:
            self.diff_view.show(diff)
        self.say("done", "ok")

    def _show_variant(self) -> None:
        est = self.estimates.get(self.variant.value)
        if est is None:
            return
        show_figure(self.roofline, roofline_chart(est))
        show_figure(self.bars, layer_time_bars(est))
