"""BuildPanel: precision plan + build configuration -> engine build with progress and log -> engine layers."""

from __future__ import annotations

import html
from typing import Callable, TYPE_CHECKING

import ipywidgets as widgets

from ..engines import BuildConfig
from ..model import load_model, parse_shapes
from ..precision import CALIBRATORS, DEFAULT_CALIBRATOR, PRECISIONS, PrecisionPlan, apply_precision
from ..precision.plan import is_quantized
from .common import Panel, html_table, progress_bar

if TYPE_CHECKING:
    from ..bench import ResultsStore
    from ..engines import BuildResult
    from ..model import Model
    from ..model.sources import ModelSource
    from ..model.tensors import Shapes
    from ..precision.data import DataSource


def built_text(model: Model, result: BuildResult) -> str:
    return (
        f"built {model.name}: {len(result.layers)} engine layers "
        f"({'from the engine cache' if result.cache_hit else f'{result.build_seconds:.1f} s'})"
    )


class BuildPanel(Panel):
    """Build a TensorRT engine for ``model`` (anything ``load_model`` takes) and show what TensorRT made of it.

    ``store``: a ResultsStore to record each build in (optional); ``calibration_data``: samples for INT8/FP8 plans.
    After a build, ``result`` is the BuildResult and ``built_model`` the model that was built (the plan applied).
    """

    def __init__(
        self,
        model: ModelSource | None = None,
        *,
        store: ResultsStore | None = None,
        calibration_data: DataSource | None = None,
    ):
        self.model = load_model(model) if model is not None else None
        self.store = store
        self.calibration_data = calibration_data
        self.result = None
        self.built_model = None
        self.store_error: Exception | None = None  # why the last build could not be recorded in ``store``
        self.shapes_provider = None  # the App's Model panel: () -> {input: shape or (min, opt, max)}
        self.precision = widgets.Dropdown(options=list(PRECISIONS), value="fp32", description="precision")
        self.calibrator = widgets.Dropdown(
            options=list(CALIBRATORS), value=DEFAULT_CALIBRATOR, description="calibrator"
        )
        self.keep_op_types = widgets.Text(placeholder="e.g. LayerNormalization,Softmax", description="keep fp32")
        self.shapes = widgets.Text(placeholder="input:1x3x224x224 (default: the model's)", description="shapes")
        self.opt_level = widgets.IntSlider(value=3, min=0, max=5, description="opt level")
        self.aux_streams = widgets.IntText(
            value=-1, description="aux streams", tooltip="-1: TensorRT decides; 0: one stream"
        )
        self.workspace = widgets.IntText(value=0, description="workspace MiB", tooltip="0: no limit")
        self.build_button = widgets.Button(description="Build", button_style="primary", icon="cogs")
        self.run_button = self.build_button  # the Run/Stop pair of Panel.run_stoppable
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.progress = progress_bar("build")
        self.stage = widgets.Label()
        self.summary = widgets.HTML()
        self.layers_table = widgets.HTML()
        self.log_view = widgets.Textarea(layout=widgets.Layout(width="100%", height="160px"), disabled=True)
        log_box = widgets.Accordion(children=[self.log_view], titles=("TensorRT log",), selected_index=None)
        self.build_button.on_click(self.guarded(lambda _: self.build()))
        controls = widgets.VBox(
            [
                widgets.HBox([self.precision, self.calibrator, self.keep_op_types]),
                widgets.HBox([self.shapes, self.opt_level]),
                widgets.HBox([self.aux_streams, self.workspace, self.build_button, self.stop_button]),
            ]
        )
        super().__init__(
            [controls, widgets.HBox([self.progress, self.stage]), self.summary, self.layers_table, log_box]
        )

    def set_model(self, model: ModelSource | None) -> None:
        self.model = load_model(model)
        self.say(f"model: {self.model.name}")

    def plan(self) -> PrecisionPlan:
        kept = tuple(o.strip() for o in self.keep_op_types.value.split(",") if o.strip())
        return PrecisionPlan(self.precision.value, keep_op_types=kept, calibrator=self.calibrator.value)

    def use_shapes_from(self, provider: Callable[[], Shapes]) -> None:
        """Build at the shapes ``provider()`` gives (the App's Model panel), instead of a shapes field here."""
        self.shapes_provider = provider
        self.shapes.layout.display = "none"

    def config(self) -> BuildConfig:
        shapes = parse_shapes(self.shapes.value)
        if not shapes and self.shapes_provider is not None:
            shapes = self.shapes_provider()
        return BuildConfig(
            shapes=shapes,
            optimization_level=self.opt_level.value,
            max_aux_streams=None if self.aux_streams.value < 0 else self.aux_streams.value,
            memory_pool_limits={"workspace": self.workspace.value * 2**20} if self.workspace.value > 0 else {},
        )

    def build(self, wait: bool = False) -> None:
        """Build with the current settings (in the background; ``wait=True`` blocks until done)."""
        if self.model is None:
            self.say("choose a model first", "warning")
            return
        plan, config = self.plan(), self.config()  # bad settings are reported now, before any work
        if is_quantized(plan.precision) and self.calibration_data is None:
            self.say(f"{plan.precision} needs calibration data: BuildPanel(model, calibration_data=...)", "warning")
            return
        self.progress.value = 0.0
        lines: list[str] = []
        self.say(f"building {self.model.name} in {plan.label} …")

        def on_log(severity, message):  # background thread: only collects, shown at the end
            if severity in ("ERROR", "WARNING", "INFO", "INTERNAL_ERROR"):
                lines.append(f"[{severity}] {message}")

        def built(model, result):  # on the kernel's thread
            self.built_model, self.result = model, result
            self._show(result)
            self.progress.value = 1.0
            self.say(built_text(model, result), "ok")

        def record(model, result):  # background thread, after the build is shown
            if self.store is None:
                return
            try:
                self.store.record_build(result)  # precision and calibrator travel in the model
            except Exception as exc:  # noqa: BLE001 - the build is done and shown; the store's failure is reported
                self.store_error = exc
                self.say(f"{built_text(model, result)}, but it was not recorded: {exc}", "error")

        def finish():
            self.log_view.value = "\n".join(lines[-400:]) or (self.result.log[-20000:] if self.result else "")

        model, calibration = self.model, self.calibration_data
        self.store_error = None
        self.run_build(
            lambda: apply_precision(model, plan, calibration),
            config,
            built,
            on_log=on_log,
            on_finish=finish,
            after_built=record,
            wait=wait,
        )

    def _show(self, result) -> None:
        self.summary.value = result._repr_html_()
        columns = ["name", "type", "kind", "onnx_nodes", "output_dtypes", "tactic", "stream"]
        frame = result.layers[columns].copy()
        frame["onnx_nodes"] = [", ".join(map(html.escape, n)) for n in frame["onnx_nodes"]]
        frame["output_dtypes"] = [", ".join(d) for d in frame["output_dtypes"]]
        self.layers_table.value = "<b>Engine layers after fusion</b>" + html_table(frame, 200)
