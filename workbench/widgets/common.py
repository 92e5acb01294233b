"""What every panel shares: a message line for errors (never a traceback), background tasks with progress and a
Stop button, and the one way widgets are changed from those tasks.

Long work (builds, calibration, benchmarks) runs on a background thread, so the kernel stays free to receive a Stop
click; a panel's ``wait()`` joins it (used by notebooks run top to bottom and by tests).

Widgets are changed only on the kernel's thread: a background task hands every change to ``on_ui``, which queues it
and asks the kernel's IOLoop to run it (``IOLoop.add_callback`` is the one tornado method documented as safe to call
from any thread). ipykernel 7 made widget changes from other threads unreliable (jupyter-widgets/ipywidgets#4001:
the documented "update a widget in the background" example fails there), and ipywidgets itself is not thread-safe
(ipython/ipython#7411 proposed exactly this: go through the tornado loop, not a mutex). ipykernel's kernel keeps
that loop as ``get_ipython().kernel.io_loop`` (ipykernel/kernelbase.py). Outside a kernel (scripts, tests) there is
no front end to race with, and changes apply directly. ``wait()`` on the kernel's thread also runs queued changes,
so a cell that waits shows them as they come and ends with every one applied.
"""

from __future__ import annotations

import collections
import html
import logging
import threading
from typing import Any, Callable, Sequence, TYPE_CHECKING

import ipywidgets as widgets

from ..errors import WorkbenchError
from ..redact import RedactingFilter, redact

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from tornado.ioloop import IOLoop
    from ..engines import BuildConfig

log = logging.getLogger("workbench.widgets")
log.addFilter(RedactingFilter())

_STYLES = {"error": "color:#b00020", "info": "color:#333", "ok": "color:#1b5e20", "warning": "color:#8a6d00"}


def html_table(frame: pd.DataFrame, max_rows: int = 30) -> str:
    """A DataFrame as a compact HTML table (first ``max_rows`` rows, with a note when cut)."""
    shown = frame.head(max_rows).to_html(index=False, border=0, float_format=lambda v: f"{v:,.4g}")
    more = f"<div><i>… {len(frame) - max_rows} more rows</i></div>" if len(frame) > max_rows else ""
    return f"<div style='max-height:360px;overflow:auto;font-size:12px'>{shown}{more}</div>"


def kernel_io_loop() -> IOLoop | None:
    """The running IPython kernel's IOLoop (the kernel's thread runs it), or None outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    return getattr(kernel, "io_loop", None)


class Panel(widgets.VBox):
    """Base panel: ``self.message`` shows errors and status; ``run_task`` runs work off the kernel thread and
    ``on_ui`` brings its widget changes back to the kernel thread."""

    def __init__(self, children: Sequence[widgets.Widget] = (), **kwargs: Any):
        self.message = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        super().__init__(children=[*children, self.message], **kwargs)
        self._task: threading.Thread | None = None
        self._cancel = threading.Event()
        self._ui_thread = threading.current_thread()
        self._ui_queue: collections.deque = collections.deque()
        self.last_error: str | None = None  # the message shown for the last failure
        self.last_exception: BaseException | None = None  # and the exception itself (e.g. what a panel retries)

    # --- the kernel's thread ----------------------------------------------------------------------------------
    def on_ui(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` on the kernel's thread: now when called there, else queued for the kernel's IOLoop."""
        loop = kernel_io_loop()
        if threading.current_thread() is self._ui_thread or loop is None:
            fn(*args)
            return
        self._ui_queue.append((fn, args))
        loop.add_callback(self._run_queued)

    def _run_queued(self) -> None:
        while True:
            try:
                fn, args = self._ui_queue.popleft()
            except IndexError:
                return
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - shown in the panel, never raised into the IOLoop
                self.show_error(exc)

    def show_progress(self, stage: str, fraction: float | None) -> None:
        """The panels' one ``on_progress(stage, fraction)``: moves ``self.progress`` and ``self.stage`` (from any
        thread)."""

        def show():
            if fraction is not None:  # None: the stage changed, the fraction did not
                self.progress.value = min(max(fraction, 0.0), 1.0)
            self.stage.value = stage[:120]

        self.on_ui(show)

    # --- messages ---------------------------------------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        text = redact(text)  # every line a panel shows
        value = f"<span style='{_STYLES[kind]}'>{html.escape(text)}</span>" if text else ""
        self.on_ui(setattr, self.message, "value", value)

    def show_error(self, exc: BaseException) -> None:
        """User errors show their message; anything else shows one line and goes to the log, never a traceback."""
        if isinstance(exc, WorkbenchError):
            text = str(exc)
        else:
            log.exception("unexpected error in %s", type(self).__name__, exc_info=exc)
            text = f"unexpected error ({type(exc).__name__}: {exc}); the details are in the log"
        self.last_error, self.last_exception = text, exc
        self.say(text, "error")

    def guarded(self, fn: Callable) -> Callable:
        """Wrap a button handler so any exception becomes a message in the panel."""

        def handler(*args):
            try:
                self.last_error = self.last_exception = None
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - a widget callback must never raise into the front end
                self.show_error(exc)

        return handler

    # --- background work --------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None and self._task.is_alive()

    def run_task(
        self, work: Callable[[], None], *, on_finish: Callable[[], None] | None = None, wait: bool = False
    ) -> None:
        """Run ``work`` on a background thread; ``on_finish`` then runs on the kernel's thread. ``work`` changes
        widgets only through ``on_ui`` / ``say`` / ``show_progress``."""
        if self.busy:
            self.say("still working on the previous request; wait for it or press Stop", "warning")
            return

        def target():
            try:
                self.last_error = self.last_exception = None
                work()
            except BaseException as exc:  # noqa: BLE001
                self.show_error(exc)
            finally:
                if on_finish is not None:
                    try:
                        self.on_ui(on_finish)
                    except Exception as exc:  # noqa: BLE001 - shown, and the work's own error is kept
                        self.show_error(exc)

        self._task = threading.Thread(target=target, daemon=True, name=f"workbench-{type(self).__name__}")
        self._task.start()
        if wait:
            self.wait()

    def run_stoppable(
        self,
        work: Callable[[], None],
        *,
        on_finish: Callable[[], None] | None = None,
        run_button: widgets.Button | None = None,
        wait: bool = False,
    ) -> None:
        """``run_task`` for panels with ``run_button`` and ``stop_button``: a fresh ``_cancel`` event for ``work``
        to watch, Stop enabled while it runs. ``run_button``: the button that started it, when a panel has several
        long actions (e.g. build and reduce) sharing its Stop button."""
        if self.busy:
            self.say("still working on the previous request; wait for it or press Stop", "warning")
            return
        self._cancel = threading.Event()
        started_by = run_button or self.run_button
        started_by.disabled, self.stop_button.disabled = True, False

        def finish():
            started_by.disabled, self.stop_button.disabled = False, True
            if self.last_error is not None and hasattr(self, "progress"):  # nothing left frozen mid-way
                self.progress.value, self.stage.value = 0.0, "failed"
            if on_finish is not None:
                on_finish()

        self.run_task(work, on_finish=finish, wait=wait)

    def run_build(
        self,
        make_model: Callable[[], object],
        config: BuildConfig,
        on_built: Callable[[object, object], None],
        *,
        on_log: Callable[[str, str], None] | None = None,
        on_finish: Callable[[], None] | None = None,
        after_built: Callable[[object, object], None] | None = None,
        wait: bool = False,
    ) -> None:
        """Build an engine in the background with progress and Stop (the one build-with-progress of the panels):
        ``make_model()`` runs first in the background (e.g. applying a precision plan), ``on_built(model, result)``
        runs on the kernel's thread; ``after_built(model, result)`` then runs in the background (e.g. recording the
        build in a results store: a slow or failing database never delays or hides the finished build)."""
        from ..engines import build_engine

        def work():
            model = make_model()
            result = build_engine(model, config, on_progress=self.show_progress, on_log=on_log, cancel=self._cancel)
            self.on_ui(on_built, model, result)
            if after_built is not None:
                after_built(model, result)

        self.run_stoppable(work, on_finish=on_finish, wait=wait)

    def stop(self) -> None:
        """Stop the work in progress after the step in flight; what was already computed is kept."""
        self._cancel.set()
        self.say("stopping …", "warning")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the panel's background work is done (notebooks run top to bottom call this). On the
        kernel's thread, queued widget changes are applied while waiting and once more at the end."""
        if self._task is not None:
            on_ui_thread = threading.current_thread() is self._ui_thread
            step = 0.05 if on_ui_thread else timeout
            waited = 0.0
            while self._task.is_alive() and (timeout is None or waited < timeout):
                self._task.join(step)
                waited += step or 0.0
                if on_ui_thread:
                    self._run_queued()
        if threading.current_thread() is self._ui_thread:
            self._run_queued()


def show_figure(output: widgets.Output, figure: go.Figure, config: dict | None = None) -> None:
    """Put a plotly figure into an Output widget, replacing what it showed.

    Sets ``outputs`` directly with plotly's mime type: safe from a background thread, and it never falls back to
    the figure's own ``_ipython_display_`` (which would print into whichever cell is running).
    """
    import json

    # plotly.utils' encoder, not plotly.io: importing plotly.io imports nbformat and jsonschema (seconds, on a laptop)
    # before the first figure shows.
    from plotly.utils import PlotlyJSONEncoder

    plain = json.loads(json.dumps(figure.to_plotly_json(), cls=PlotlyJSONEncoder))
    bundle = {
        "application/vnd.plotly.v1+json": {**plain, "config": {"responsive": True, **(config or {})}},
        "text/plain": f"<plotly figure: {figure.layout.title.text or ''}>",
    }
    output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


def progress_bar(description: str = "") -> widgets.FloatProgress:
    return widgets.FloatProgress(
        value=0.0, min=0.0, max=1.0, description=description, layout=widgets.Layout(width="60%")
    )
