"""PrecisionPanel: choose precision, calibrator, percentile, calibration batches and excluded nodes; calibrate with a
progress bar; see each tensor's histogram with the thresholds and an accuracy table that grows run by run."""

from __future__ import annotations


import ipywidgets as widgets
import pandas as pd
from typing import Callable, TYPE_CHECKING

from .. import charts
from ..model import load_model
from ..precision import (
    CALIBRATORS,
    DEFAULT_CALIBRATOR,
    PrecisionPlan,
    accuracy_table,
    apply_precision,
    calibrate,
    compare,
    run_outputs,
)
from ..precision.plan import PRECISIONS, REMAINDER_PRECISIONS, is_quantized
from ..precision.qdq import WEIGHTED_OPS
from .common import Panel, html_table, progress_bar, show_figure

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from ..precision.data import DataSource
    from ..model import Model
    import numpy as np
    from ..precision import CalibrationTable


class PrecisionPanel(Panel):
    """``model``: what to convert; ``calibration_data``: samples for INT8/FP8 (anything ``calibrate`` takes);
    ``eval_data``/``labels``: held-out samples for the accuracy table (optional).

    After a run: ``model_out`` is the converted model, ``table`` the calibration table, ``accuracy`` one row per
    run (FP32 first), kept across runs so calibrators can be compared side by side.
    """

    def __init__(
        self,
        model: ModelSource,
        calibration_data: DataSource | None = None,
        *,
        eval_data: DataSource | None = None,
        labels: np.ndarray | None = None,
        batch_size: int = 32,
    ):
        self.model = load_model(model)
        self.calibration_data = calibration_data
        self.eval_data, self.labels = eval_data, labels
        self.batch_size = batch_size
        self.model_out = None
        self.table = None
        self.tables: dict[str, CalibrationTable] = {}  # calibrator -> last table (for the threshold overlay)
        self.accuracy = pd.DataFrame()
        self._listeners = []
        self._reference = None
        quantizable = [n.name for n in self.model.nodes if n.op_type in (*WEIGHTED_OPS, "Add")]
        self.precision = widgets.Dropdown(
            options=[p for p in PRECISIONS if p != "fp32"], value="int8", description="precision"
        )
        self.calibrator = widgets.Dropdown(
            options=list(CALIBRATORS), value=DEFAULT_CALIBRATOR, description="calibrator"
        )
        self.percentile = widgets.BoundedFloatText(value=99.99, min=50, max=100, step=0.01, description="percentile")
        self.target = widgets.Dropdown(options=["tensorrt", "onnxruntime"], value="tensorrt", description="target")
        self.float_precision = widgets.Dropdown(
            options=list(REMAINDER_PRECISIONS), value="fp32", description="rest in"
        )  # what stays unquantized computes in
        self.batches = widgets.IntSlider(value=8, min=1, max=64, description="calib batches")
        self.exclude = widgets.SelectMultiple(options=quantizable, description="keep fp32", rows=5)
        self.run_button = widgets.Button(
            description="Calibrate & quantize",
            button_style="primary",
            icon="sliders",
            layout=widgets.Layout(width="200px"),
        )
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.progress = progress_bar("calibrate")
        self.stage = widgets.Label()
        self.tensor = widgets.Dropdown(description="tensor", layout=widgets.Layout(width="60%"))
        self.histogram = widgets.Output()
        self.accuracy_view = widgets.HTML()
        self.accuracy_chart = widgets.Output()
        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.tensor.observe(self.guarded(lambda _: self._draw_histogram()), names="value")
        self.precision.observe(lambda _: self._sync(), names="value")
        self.target.observe(lambda _: self._sync(), names="value")
        controls = widgets.VBox(
            [
                widgets.HBox([self.precision, self.calibrator, self.percentile]),
                widgets.HBox([self.target, self.float_precision, self.batches]),
                widgets.HBox([self.exclude, widgets.VBox([self.run_button, self.stop_button])]),
            ]
        )
        super().__init__(
            [
                controls,
                widgets.HBox([self.progress, self.stage]),
                self.tensor,
                self.histogram,
                self.accuracy_view,
                self.accuracy_chart,
            ]
        )
        self._sync()

    def on_converted(self, listener: Callable[[Model, dict | None], None]) -> None:
        """``listener(model, accuracy_row_or_None)`` is called after each successful run."""
        self._listeners.append(listener)

    def _sync(self) -> None:
        quantized = is_quantized(self.precision.value)
        for w in (self.calibrator, self.percentile, self.batches):
            w.disabled = not quantized
        if self.precision.value == "fp8":
            self.target.value = "tensorrt"
        self.target.disabled = not quantized or self.precision.value == "fp8"
        if not quantized or self.target.value != "tensorrt":
            self.float_precision.value = "fp32"
        self.float_precision.disabled = not quantized or self.target.value != "tensorrt"

    def plan(self) -> PrecisionPlan:
        return PrecisionPlan(
            self.precision.value,
            keep_nodes=tuple(self.exclude.value),
            calibrator=self.calibrator.value,
            percentile=self.percentile.value,
            target=self.target.value,
            float_precision=self.float_precision.value,
        )

    def run(self, wait: bool = False) -> None:
        """Calibrate (INT8/FP8) and convert with the current settings; background unless ``wait``."""
        plan = self.plan()  # bad settings are reported before any work
        if is_quantized(plan.precision) and self.calibration_data is None:
            self.say("INT8/FP8 need calibration data: PrecisionPanel(model, calibration_data)", "warning")
            return
        self.progress.value = 0.0
        self.say(f"{plan.label}: working …")

        model, calibration, batches = self.model, self.calibration_data, self.batches.value

        def work():  # background thread: computes; widgets change in shown(), on the kernel's thread
            table = None
            if is_quantized(plan.precision):
                table = calibrate(
                    model,
                    calibration,
                    plan.calibrator,
                    precision=plan.precision,
                    percentile=plan.percentile,
                    samples=batches * self.batch_size,
                    batch_size=self.batch_size,
                    on_progress=self.show_progress,
                    cancel=self._cancel,
                )
            converted = apply_precision(model, plan, table)  # the table is reused, not calibrated again
            row = self._accuracy_row(plan, converted) if self.eval_data is not None else None
            self.on_ui(shown, table, converted, row)

        def shown(table, converted, row):
            if table is not None:
                self.table = table
                self.tables[plan.calibrator] = table
                previous = self.tensor.value
                names = list(table.frame.tensor)
                self.tensor.options = names
                # keep the tensor being looked at; else the first activation after the input
                self.tensor.value = previous if previous in names else names[min(2, len(names) - 1)]
                self._draw_histogram()
            self.model_out = converted
            self.progress.value = 1.0
            if row is not None:
                self._show_accuracy(row)
                row = self.accuracy.iloc[-1].to_dict()
            self.say(f"{plan.label}: done → {converted.name}", "ok")
            for listener in self._listeners:
                listener(converted, row)

        self.run_stoppable(work, wait=wait)  # Stop ends the calibration; earlier tables and rows are kept

    def _accuracy_row(self, plan, converted) -> dict:
        """One accuracy row of ``converted`` against the FP32 model on the evaluation data (background thread)."""
        if self._reference is None:  # the FP32 outputs on the evaluation data: computed once per panel
            self._reference = run_outputs(self.model, self.eval_data)
        row = (
            compare(self.model, converted, self.eval_data, labels=self.labels, reference_outputs=self._reference)
            .iloc[0]
            .to_dict()
        )
        row.update(
            variant=plan.label,
            precision=plan.precision,
            calibrator=plan.calibrator if is_quantized(plan.precision) else "",
        )
        return row

    def _show_accuracy(self, row: dict) -> None:
        if self.accuracy.empty:
            self.accuracy = accuracy_table(self.model, {}, self.eval_data, labels=self.labels)
        self.accuracy = pd.concat([self.accuracy, pd.DataFrame([row])], ignore_index=True)
        columns = [
            c
            for c in (
                "variant",
                "precision",
                "calibrator",
                "accuracy",
                "top1_agreement",
                "sqnr_db",
                "cosine",
                "max_abs_error",
            )
            if c in self.accuracy.columns
        ]
        title = (
            "Accuracy (labels) and agreement with FP32"
            if "accuracy" in self.accuracy.columns
            else "Agreement with FP32 (no labels: not accuracy)"
        )
        self.accuracy_view.value = f"<b>{title}</b>" + html_table(self.accuracy[columns])
        metric = "accuracy" if "accuracy" in self.accuracy.columns else "sqnr_db"
        show_figure(self.accuracy_chart, charts.accuracy_bars(self.accuracy, metric=metric))

    def _draw_histogram(self) -> None:
        if not self.tensor.value or not self.tables:
            return
        tables = [t for t in self.tables.values() if self.tensor.value in t.histograms]
        show_figure(self.histogram, charts.activation_histogram(tables, self.tensor.value))
