"""Lint tab: what keeps this model's engine slow, each finding with its layer, ONNX nodes and a fix."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..engines import BuildConfig, build_engine, lint_engine
from ..engines.estimate import gpus
from ..engines.estimate.variants import precision_variant
from ..engines.lint import lint_summary
from ..precision import PRECISIONS
from .common import Panel, progress_bar

if TYPE_CHECKING:
    import pandas as pd
    from ..model.sources import ModelSource

CONVERSIONS = [p for p in PRECISIONS if p != "fp32"]  # what a model can be converted to before linting
_COLORS = {"error": "#b00020", "warning": "#8a6d00", "info": "#555"}


def findings_html(findings: pd.DataFrame) -> str:
    if findings.empty:
        return "<div style='color:#1b5e20'>no findings</div>"
    rows = "".join(
        f"<tr><td style='color:{_COLORS[f.severity]};font-weight:bold'>{f.severity}</td><td>{html.escape(f.rule)}</td>"
        f"<td title='{html.escape(', '.join(f.onnx_nodes))}'>{html.escape(f.layer[:60])}</td>"
        f"<td>{html.escape(f.message)}</td><td><i>{html.escape(f.fix)}</i></td></tr>"
        for f in findings.itertuples(index=False)
    )
    return (
        "<div style='max-height:420px;overflow:auto;font-size:12px'><table><tr><th>severity</th><th>rule</th>"
        f"<th>layer</th><th>why</th><th>fix</th></tr>{rows}</table></div>"
    )


class LintPanel(Panel):
    """Build the current model (or a converted variant) with the CPU builder and lint the engine and its Q/DQ."""

    def __init__(self, model: ModelSource | None = None, *, variants: dict | None = None):
        self.model = None
        self.variants: dict = dict(variants or {})
        self.findings = None
        self.target = widgets.Dropdown(options=[], description="engine of")
        self.precision = widgets.Dropdown(options=["as is", *CONVERSIONS], value="as is", description="convert")
        self.gpu = widgets.Dropdown(options=list(gpus()["name"]), value="a100", description="price on")
        self.run_button = widgets.Button(description="Lint", button_style="primary", icon="search")
        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.progress = progress_bar("build")
        self.stage = widgets.Label()
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        super().__init__(
            [
                widgets.HBox([self.target, self.precision, self.gpu, self.run_button, self.stop_button]),
                widgets.HBox([self.progress, self.stage]),
                self.summary,
                self.table,
            ]
        )
        if model is not None:
            self.set_model(model)

    def set_model(self, model: ModelSource | None) -> None:
        self.model = model
        self.set_variants({"fp32": model})

    def set_variants(self, variants: dict) -> None:
        """Models to choose from (the App passes its converted variants: FP16, INT8 Q/DQ, ...)."""
        self.variants = dict(variants)
        current = self.target.value
        self.target.options = list(self.variants)
        self.target.value = current if current in self.variants else next(iter(self.variants), None)

    def run(self, wait: bool = False) -> None:
        if not self.variants:
            self.say("load a model first", "warning")
            return
        model = self.variants[self.target.value]
        conversion, gpu = self.precision.value, self.gpu.value

        def work():  # background thread: computes only; every widget change goes through on_ui
            self.say("building with the CPU builder and linting …")
            variant = model if conversion == "as is" else precision_variant(model, conversion)
            build = build_engine(variant, BuildConfig(), on_progress=self.show_progress, cancel=self._cancel)
            self.on_ui(self._show, lint_engine(build, gpu=gpu), len(build.layers), gpu)

        self.run_stoppable(work, wait=wait)

    def _show(self, findings, engine_layers: int, gpu: str) -> None:  # on the kernel's thread
        self.findings = findings
        counts = lint_summary(findings)
        self.summary.value = (
            f"<b>{counts['error']}</b> errors, <b>{counts['warning']}</b> warnings, "
            f"<b>{counts['info']}</b> notes — {engine_layers} engine layers "
            f"(reformat costs: estimate on {gpu})"
        )
        self.table.value = findings_html(findings)
        self.say("done", "ok")
