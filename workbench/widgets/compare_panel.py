"""ComparePanel: every recorded run of the current model from the results store — table, speed-up and the
accuracy- (or agreement-) vs-latency Pareto chart. It survives kernel restarts because it reads the store.

The "room" scope is the instructor's view of a shared store: each machine's and GPU's best INT8 speed-up
(``workbench.bench.room.room_results``). "Auto-refresh" re-reads the store every few seconds while runs arrive: a
tornado PeriodicCallback on the kernel's own IOLoop, so widgets are only ever changed from the kernel's thread."""

from __future__ import annotations

import ipywidgets as widgets
from typing import TYPE_CHECKING

from .. import charts
from ..bench import ResultsStore, latest_runs
from ..bench.room import RunsPoller, room_results
from .common import Panel, html_table, show_figure

if TYPE_CHECKING:
    from ..model.sources import ModelSource

ROOM = "room (by machine)"


class ComparePanel(Panel):
    def __init__(self, store: ResultsStore | None = None, model: ModelSource | None = None):
        self.store = store if store is not None else ResultsStore()  # an empty store is falsy (len 0)
        self.model = model
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.scope = widgets.ToggleButtons(options=["this model", "all models", ROOM], value="this model")
        self.auto_refresh = widgets.Checkbox(
            value=False, description="Auto-refresh every", indent=False, layout=widgets.Layout(width="auto")
        )
        self.interval = widgets.BoundedIntText(
            value=10,
            min=1,
            max=3600,
            description="s",
            layout=widgets.Layout(width="110px"),
            style={"description_width": "initial"},
        )
        self.poller = RunsPoller(self.store)
        self._timer = None
        self.table = widgets.HTML()
        self.speedup = widgets.Output()
        self.pareto = widgets.Output()
        self.refresh_button.on_click(self.guarded(lambda _: self.refresh()))
        self.scope.observe(self.guarded(lambda _: self.refresh()), names="value")
        self.auto_refresh.observe(self.guarded(lambda change: self.set_auto_refresh(change["new"])), names="value")
        self.interval.observe(self.guarded(lambda _: self.set_auto_refresh(self.auto_refresh.value)), names="value")
        super().__init__(
            [
                widgets.HBox([self.refresh_button, self.scope, self.auto_refresh, self.interval]),
                self.table,
                self.speedup,
                self.pareto,
            ]
        )

    def set_auto_refresh(self, on: bool) -> None:
        """Poll the store every ``interval`` seconds on the kernel's IOLoop; redraw only when runs arrived."""
        from tornado.ioloop import PeriodicCallback

        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if on:
            self._timer = PeriodicCallback(self.guarded(self.refresh_if_new), self.interval.value * 1000)
            self._timer.start()

    def refresh_if_new(self) -> bool:
        """Redraw when the store received runs since the last look; returns whether it did."""
        if not self.poller.poll():
            return False
        self.refresh()
        return True

    def refresh(self) -> None:
        """Read the store again and redraw (a restarted kernel shows the same charts)."""
        if self.scope.value == ROOM:
            self._refresh_room()
            return
        model = getattr(self.model, "name", None) if self.scope.value == "this model" else None
        runs = self.store.runs("benchmark", model=model)
        if runs.empty:
            self.table.value = ""
            self.speedup.outputs = ()
            self.pareto.outputs = ()
            self.say(f"no benchmark recorded yet for {model or 'any model'} in {self.store.location}", "info")
            return
        columns = [
            "id",
            "created",
            "label",
            "precision",
            "calibrator",
            "batch",
            "concurrency",
            "latency_ms_median",
            "latency_ms_p99",
            "throughput",
            "accuracy",
            "agreement",
        ]
        self.table.value = "<b>Recorded runs</b>" + html_table(runs[columns].iloc[::-1], 40)
        chosen = latest_runs(runs)
        latest = chosen.runs
        show_figure(self.speedup, charts.speedup_bars(latest, baseline=chosen.baseline))
        if latest[["accuracy", "agreement"]].notna().any(axis=None):  # the chart says which it shows
            show_figure(self.pareto, charts.pareto(latest))
        else:
            self.pareto.outputs = ()
        self.say(f"{len(runs)} runs in {self.store.location}", "ok")

    def _refresh_room(self) -> None:
        summary = room_results(self.store)
        self.pareto.outputs = ()
        if summary.empty:
            self.table.value = ""
            self.speedup.outputs = ()
            self.say(f"no benchmark recorded yet in {self.store.location}", "info")
            return
        self.table.value = "<b>The room: best INT8 speed-up per machine</b>" + html_table(summary, 60)
        if summary["speedup"].notna().any():
            show_figure(self.speedup, charts.room_speedups(summary))
        else:
            self.speedup.outputs = ()
        self.say(f"{len(summary)} machine(s) · {int(summary['runs'].sum())} runs in {self.store.location}", "ok")
