"""Side-by-side view of two engines with synchronized selection: pick a layer on either side and the region it
belongs to is selected on both, with its details and the chart highlight."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..charts import engine_diff_chart
from .common import show_figure

if TYPE_CHECKING:
    from ..engines import EngineDiff


class EngineDiffView(widgets.VBox):
    def __init__(self, diff: EngineDiff | None = None):
        self.diff = None
        self._syncing = False
        self.totals = widgets.HTML()
        self.a_list = widgets.SelectMultiple(options=[], rows=14, layout=widgets.Layout(width="49%"))
        self.b_list = widgets.SelectMultiple(options=[], rows=14, layout=widgets.Layout(width="49%"))
        self.detail = widgets.HTML()
        self.chart = widgets.Output()
        self.a_list.observe(lambda change: self._picked("a", change), names="value")
        self.b_list.observe(lambda change: self._picked("b", change), names="value")
        super().__init__([self.totals, widgets.HBox([self.a_list, self.b_list]), self.detail, self.chart])
        if diff is not None:
            self.show(diff)

    def show(self, diff: EngineDiff) -> None:
        self.diff = diff
        self.totals.value = (
            f"<b>A</b> = {html.escape(diff.a.label)}, <b>B</b> = {html.escape(diff.b.label)}"
            + diff.totals.to_html(index=False, border=0, float_format=lambda v: f"{v:,.4g}")
        )
        self._syncing = True
        try:
            self.a_list.value, self.b_list.value = (), ()
            self.a_list.options = [(f"{i}: {n[:70]}", i) for i, n in enumerate(diff.a.layers["name"])]
            self.b_list.options = [(f"{i}: {n[:70]}", i) for i, n in enumerate(diff.b.layers["name"])]
        finally:
            self._syncing = False
        show_figure(self.chart, engine_diff_chart(diff))

    def select_region(self, region: int) -> None:
        """Select every layer of ``region`` on both sides and show what changed there."""
        if self.diff is None:
            return
        ids = self.diff.layer_regions
        self._syncing = True
        try:
            self.a_list.value = tuple(i for i, r in enumerate(ids["a"]) if r == region)
            self.b_list.value = tuple(i for i, r in enumerate(ids["b"]) if r == region)
        finally:
            self._syncing = False
        row = self.diff.regions.iloc[region]
        fields = [
            "change",
            "onnx_nodes",
            "a_precisions",
            "b_precisions",
            "a_fused_ops",
            "b_fused_ops",
            "a_reformats",
            "b_reformats",
            "a_ms",
            "b_ms",
        ]
        self.detail.value = (
            f"<b>region {region}</b><table>"
            + "".join(f"<tr><td>{f}</td><td>{html.escape(str(row[f]))[:300]}</td></tr>" for f in fields)
            + "</table>"
        )
        show_figure(self.chart, engine_diff_chart(self.diff, selected_region=region))

    def _picked(self, side: str, change) -> None:
        if self._syncing or not change["new"] or self.diff is None:
            return
        region = self.diff.layer_regions[side][change["new"][0]]
        if region >= 0:
            self.select_region(region)
