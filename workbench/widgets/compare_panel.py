"""ComparePanel: every recorded run of the current model from the results store — table, speed-up and the
accuracy- (or agreement-) vs-latency Pareto chart. It survives kernel restarts because it reads the store."""

from __future__ import annotations

import ipywidgets as widgets

from .. import charts
from ..bench import ResultsStore, latest_runs
from .common import Panel, html_table, show_figure


class ComparePanel(Panel):
    def __init__(self, store: ResultsStore | None = None, model=None):
        self.store = store if store is not None else ResultsStore()  # an empty store is falsy (len 0)
        self.model = model
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.scope = widgets.ToggleButtons(options=["this model", "all models"], value="this model")
        self.table = widgets.HTML()
        self.speedup = widgets.Output()
        self.pareto = widgets.Output()
        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.scope.observe(self.guarded(lambda _: self.refresh()), names="value")
        super().__init__([widgets.HBox([self.refresh_button, self.scope]), self.table, self.speedup, self.pareto])

    def refresh(self) -> None:
        """Read the store again and redraw (a restarted kernel shows the same charts)."""
        model = getattr(self.model, "name", None) if self.scope.value == "this model" else None
        runs = self.store.runs("benchmark", model=model)
        if runs.empty:
            self.table.value = ""
            self.speedup.outputs = ()
            self.pareto.outputs = ()
            self.say(f"no benchmark recorded yet for {model or 'any model'} in {self.store.path}", "info")
            return
        columns = ["id", "created", "label", "precision", "calibrator", "batch", "concurrency",
                   "latency_ms_median", "latency_ms_p99", "throughput", "accuracy", "agreement"]
        self.table.value = "<b>Recorded runs</b>" + html_table(runs[columns].iloc[::-1], 40)
        chosen = latest_runs(runs)
        latest = chosen.runs
        show_figure(self.speedup, charts.speedup_bars(latest, baseline=chosen.baseline))
        if latest[["accuracy", "agreement"]].notna().any(axis=None):  # the chart says which it shows
            show_figure(self.pareto, charts.pareto(latest))
        else:
            self.pareto.outputs = ()
        self.say(f"{len(runs)} runs in {self.store.path}", "ok")
