"""BenchmarkPanel: pick models and sweep axes, run with progress, live charts and table, Stop keeps results."""

from __future__ import annotations


import ipywidgets as widgets
import pandas as pd
from typing import Mapping, TYPE_CHECKING

from .. import charts
from ..bench import BenchmarkConfig, sweep
from ..engines.onnxruntime_graph import LEVELS
from ..errors import ConfigError
from ..model.tensors import parse_int_list
from .common import Panel, html_table, progress_bar, show_figure

if TYPE_CHECKING:
    from ..bench import ResultsStore

CHARTS = {
    "latency vs throughput": charts.latency_throughput,
    "latency distribution": charts.latency_distribution,
    "throughput vs concurrency": charts.throughput_vs_concurrency,
    "speed-up": charts.speedup_bars,
}


class BenchmarkPanel(Panel):
    """Benchmark ``targets`` (a dict name -> model / BuildResult / torch module / Runner, or one model).

    ``store``: a ResultsStore; every configuration is recorded as it completes. ``results`` holds the last sweep's
    frame (partial when stopped; the attrs say so).
    """

    def __init__(self, targets: Mapping[str, object] | None = None, *, store: ResultsStore | None = None):
        self.targets: dict = {}
        self.store = store
        self.variant_tags: dict = {}  # variant -> extra columns (e.g. accuracy from the precision step)
        self.results = pd.DataFrame()
        self.choose = widgets.SelectMultiple(description="models", rows=4)
        self.batch = widgets.Text(value="1,4", description="batch")
        self.concurrency = widgets.Text(value="1", description="concurrency")
        self.levels = widgets.SelectMultiple(options=LEVELS, value=("all",), description="ORT level", rows=4)
        self.duration = widgets.FloatSlider(value=1.0, min=0.1, max=10.0, step=0.1, description="seconds")
        self.chart_kind = widgets.Dropdown(options=list(CHARTS), value="latency vs throughput", description="chart")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = progress_bar("benchmark")
        self.stage = widgets.Label()
        self.chart = widgets.Output()
        self.table = widgets.HTML()
        self.run_button.on_click(self.guarded(lambda _: self.run()))
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.chart_kind.observe(self.guarded(lambda _: self._draw(self.results)), names="value")
        controls = widgets.VBox(
            [
                widgets.HBox([self.choose, self.levels]),
                widgets.HBox([self.batch, self.concurrency, self.duration]),
                widgets.HBox([self.run_button, self.stop_button, self.chart_kind]),
            ]
        )
        super().__init__([controls, widgets.HBox([self.progress, self.stage]), self.chart, self.table])
        if targets is not None:
            self.set_targets(targets if isinstance(targets, dict) else {getattr(targets, "name", "model"): targets})

    def set_targets(self, targets: dict) -> None:
        self.targets = dict(targets)
        self.choose.options = list(self.targets)
        self.choose.value = tuple(self.targets)

    def run(self, wait: bool = False) -> None:
        """Sweep the chosen targets over the axes (background; ``wait=True`` blocks until done)."""
        chosen = {name: self.targets[name] for name in self.choose.value}
        if not chosen:
            raise ConfigError("choose at least one model to benchmark")
        batches = parse_int_list(self.batch.value, "batch")
        concurrency = parse_int_list(self.concurrency.value, "concurrency")
        if not self.levels.value:
            raise ConfigError("choose at least one ONNX Runtime optimization level")
        config = BenchmarkConfig(warmup_s=min(0.2, self.duration.value / 5), duration_s=self.duration.value)
        self.progress.value = 0.0
        self.say(
            f"measuring {len(chosen)} model(s) × {len(batches)} batch size(s) × {len(concurrency)} "
            "concurrency level(s) …"
        )

        def on_result(frame):  # background thread
            self.results = frame  # partial results are kept as they arrive
            self.on_ui(self._draw, frame)

        def work():
            frame = sweep(
                chosen,
                batch=batches,
                concurrency=concurrency,
                optimization_level=list(self.levels.value),
                config=config,
                store=self.store,
                variant_tags=self.variant_tags,
                on_progress=self.show_progress,
                on_result=on_result,
                cancel=self._cancel,
            )
            self.results = frame
            self.on_ui(self._draw, frame)
            if frame.attrs.get("partial"):
                self.say(f"stopped: kept {len(frame)} of {frame.attrs['planned']} configurations", "warning")
            else:
                self.say(
                    f"measured {len(frame)} configurations"
                    + (f"; recorded in {self.store.path}" if self.store is not None else ""),
                    "ok",
                )
                self.show_progress("done", 1.0)

        self.run_stoppable(work, wait=wait)  # Stop keeps what was measured (marked partial)

    def _draw(self, frame: pd.DataFrame) -> None:
        if frame is None or frame.empty:
            return
        figure = CHARTS[self.chart_kind.value](frame)
        show_figure(self.chart, figure)
        columns = [
            c
            for c in (
                "label",
                "batch",
                "concurrency",
                "latency_ms_median",
                "latency_ms_p99",
                "throughput",
                "cv",
                "iterations",
                "partial",
            )
            if c in frame.columns
        ]
        self.table.value = html_table(frame[columns])
