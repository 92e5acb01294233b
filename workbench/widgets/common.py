"""What every panel shares: a message line for errors (never a traceback) and background tasks with progress.

Long work (builds, benchmarks) runs on a background thread, so the kernel stays free to receive a Stop click; a
panel's ``wait()`` joins it (used by notebooks run top to bottom and by tests).
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Callable

import ipywidgets as widgets

from ..errors import WorkbenchError

log = logging.getLogger("workbench.widgets")

_STYLES = {"error": "color:#b00020", "info": "color:#333", "ok": "color:#1b5e20", "warning": "color:#8a6d00"}


def html_table(frame, max_rows: int = 30) -> str:
    """A DataFrame as a compact HTML table (first ``max_rows`` rows, with a note when cut)."""
    shown = frame.head(max_rows).to_html(index=False, border=0, float_format=lambda v: f"{v:,.4g}")
    more = f"<div><i>… {len(frame) - max_rows} more rows</i></div>" if len(frame) > max_rows else ""
    return f"<div style='max-height:360px;overflow:auto;font-size:12px'>{shown}{more}</div>"


class Panel(widgets.VBox):
    """Base panel: ``self.message`` shows errors and status; ``run_task`` runs work off the kernel thread."""

    def __init__(self, children=(), **kwargs):
        self.message = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        super().__init__(children=[*children, self.message], **kwargs)
        self._task: threading.Thread | None = None
        self._cancel = threading.Event()
        self.last_error: str | None = None

    # --- messages ---------------------------------------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        self.message.value = f"<span style='{_STYLES[kind]}'>{html.escape(text)}</span>" if text else ""

    def show_error(self, exc: BaseException) -> None:
        """User errors show their message; anything else shows one line and goes to the log, never a traceback."""
        if isinstance(exc, WorkbenchError):
            text = str(exc)
        else:
            log.exception("unexpected error in %s", type(self).__name__, exc_info=exc)
            text = f"unexpected error ({type(exc).__name__}: {exc}); the details are in the log"
        self.last_error = text
        self.say(text, "error")

    def guarded(self, fn: Callable) -> Callable:
        """Wrap a button handler so any exception becomes a message in the panel."""
        def handler(*args):
            try:
                self.last_error = None
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - a widget callback must never raise into the front end
                self.show_error(exc)
        return handler

    # --- background work --------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None and self._task.is_alive()

    def run_task(self, work: Callable[[], None], *, on_finish: Callable[[], None] | None = None,
                 wait: bool = False) -> None:
        if self.busy:
            self.say("still working on the previous request; wait for it or press Stop", "warning")
            return

        def target():
            try:
                self.last_error = None
                work()
            except BaseException as exc:  # noqa: BLE001
                self.show_error(exc)
            finally:
                if on_finish is not None:
                    try:
                        on_finish()
                    except Exception as exc:  # noqa: BLE001
                        self.show_error(exc)

        self._task = threading.Thread(target=target, daemon=True, name=f"workbench-{type(self).__name__}")
        self._task.start()
        if wait:
            self.wait()

    def run_stoppable(self, work: Callable[[], None], *, wait: bool = False) -> None:
        """``run_task`` for panels with ``run_button`` and ``stop_button``: a fresh ``_cancel`` event for ``work``
        to watch, Stop enabled while it runs."""
        self._cancel = threading.Event()
        self.run_button.disabled, self.stop_button.disabled = True, False

        def finish():
            self.run_button.disabled, self.stop_button.disabled = False, True

        self.run_task(work, on_finish=finish, wait=wait)

    def stop(self) -> None:
        """Stop the work in progress after the step in flight; what was already computed is kept."""
        self._cancel.set()
        self.say("stopping …", "warning")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the panel's background work is done (notebooks run top to bottom call this)."""
        if self._task is not None:
            self._task.join(timeout)


def show_figure(output: widgets.Output, figure) -> None:
    """Put a plotly figure into an Output widget, replacing what it showed.

    Sets ``outputs`` directly with plotly's mime type: safe from a background thread, and it never falls back to
    the figure's own ``_ipython_display_`` (which would print into whichever cell is running).
    """
    import json

    import plotly.io as pio

    bundle = {"application/vnd.plotly.v1+json": {**json.loads(pio.to_json(figure)), "config": {"responsive": True}},
              "text/plain": f"<plotly figure: {figure.layout.title.text or ''}>"}
    output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


def progress_bar(description: str = "") -> widgets.FloatProgress:
    return widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description=description,
                                 layout=widgets.Layout(width="60%"))
