"""Widgets change only on the kernel's thread: background work (build, calibration, sweep) hands its changes to the
kernel's IOLoop; every long action has a Stop button."""

import threading

import ipywidgets as widgets
import pytest

from workbench.widgets import common
from workbench.widgets import BenchmarkPanel, BuildPanel, EstimatePanel, GraphPanel, LintPanel, PrecisionPanel

from workbench.errors import ResultsStoreUnavailableError
from workbench.model import load_model

from models import conv_bn_relu


class FakeKernelLoop:
    """Stands for ipykernel's IOLoop: ``add_callback`` may be called from any thread; callbacks run on the kernel's
    thread when it gets to them (here: when the test's thread waits on the panel)."""

    def __init__(self):
        self.callbacks = []

    def add_callback(self, fn, *args):
        self.callbacks.append((fn, args))


@pytest.fixture
def kernel(monkeypatch):
    loop = FakeKernelLoop()
    monkeypatch.setattr(common, "kernel_io_loop", lambda: loop)
    changed_on = []
    notify = widgets.Widget.notify_change

    def record(self, change):
        changed_on.append((threading.current_thread().name, type(self).__name__, change["name"]))
        return notify(self, change)

    monkeypatch.setattr(widgets.Widget, "notify_change", record)
    return loop, changed_on


def _start_and_check(panel, start, kernel, finished_check):
    loop, changed_on = kernel
    before = panel.message.value
    start()
    assert not panel.stop_button.disabled, "Stop is offered while the work runs"
    panel._task.join(120)
    off_thread = [c for c in changed_on if c[0] != threading.current_thread().name]
    assert off_thread == [], f"widgets changed from a background thread: {off_thread[:5]}"
    assert loop.callbacks, "the background work's changes were handed to the kernel's IOLoop"
    assert panel.message.value == before or "…" in panel.message.value  # nothing applied yet
    panel.wait()  # the kernel's thread runs what was queued
    assert [c for c in changed_on if c[0] != threading.current_thread().name] == []
    assert panel.last_error is None, panel.message.value
    assert panel.stop_button.disabled and not panel.run_button.disabled
    finished_check()


def test_build_panel_changes_widgets_on_the_kernel_thread_only(kernel, tmp_path):
    panel = BuildPanel(conv_bn_relu())
    _start_and_check(panel, panel.build, kernel,
                     lambda: "Engine layers after fusion" in panel.layers_table.value and panel.progress.value == 1.0)


def test_graph_panel_build_changes_widgets_on_the_kernel_thread_only(kernel):
    panel = GraphPanel(conv_bn_relu())
    _start_and_check(panel, panel.build, kernel, lambda: panel.result is not None and panel.view is not None)


def test_precision_panel_calibration_changes_widgets_on_the_kernel_thread_only(kernel):
    from workbench.model import generate_feeds

    tiny = load_model(conv_bn_relu())  # the threads are under test, not the calibration: a tiny model calibrates fast
    panel = PrecisionPanel(tiny, [generate_feeds(tiny, seed=seed) for seed in range(2)])
    panel.batches.value = 1
    _start_and_check(panel, panel.run, kernel, lambda: panel.model_out is not None and panel.histogram.outputs)


def test_benchmark_panel_sweep_changes_widgets_on_the_kernel_thread_only(kernel):
    panel = BenchmarkPanel({"fp32": conv_bn_relu()})
    panel.batch.value, panel.duration.value = "1", 0.1
    _start_and_check(panel, panel.run, kernel, lambda: len(panel.results) == 1 and panel.chart.outputs)


def test_estimate_panel_changes_widgets_on_the_kernel_thread_only(kernel):
    panel = EstimatePanel(load_model(conv_bn_relu()), precisions=("fp32", "fp16"))
    _start_and_check(panel, panel.run, kernel,
                     lambda: list(panel.estimates) == ["fp32", "fp16"] and panel.totals_chart.outputs
                     and "fp16" in panel.summary.value and panel.diff_view.children)


def test_lint_panel_changes_widgets_on_the_kernel_thread_only(kernel):
    panel = LintPanel(load_model(conv_bn_relu()))
    _start_and_check(panel, panel.run, kernel,
                     lambda: panel.findings is not None and "engine layers" in panel.summary.value)


# Every panel with a long action, and the test above that proves its widgets change on the kernel's thread only.
THREAD_TESTED = {BuildPanel, GraphPanel, PrecisionPanel, BenchmarkPanel, EstimatePanel, LintPanel}


def test_every_panel_that_runs_background_work_is_thread_tested_and_has_stop():
    import importlib
    import inspect
    import pkgutil

    import workbench.widgets as package

    modules = [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    panels = {cls for module in modules for cls in vars(module).values()
              if isinstance(cls, type) and issubclass(cls, common.Panel) and cls is not common.Panel}
    working = {cls for cls in panels
               if any(call in inspect.getsource(cls) for call in ("run_task(", "run_stoppable(", "run_build("))}
    assert working == THREAD_TESTED
    assert all("stop_button" in inspect.getsource(cls) for cls in working)


class UnreachableStore:
    """A results store whose server went away after it was opened (what a real one raises then)."""

    location = "postgresql://workbench:***@db.invalid/results"

    def record_build(self, result, **_):
        raise ResultsStoreUnavailableError(f"results store {self.location} cannot be reached: connection refused")


def test_an_unreachable_store_never_hides_a_finished_build(kernel):
    panel = BuildPanel(conv_bn_relu(), store=UnreachableStore())
    _, changed_on = kernel
    panel.build()
    panel.wait()
    assert [c for c in changed_on if c[0] != threading.current_thread().name] == []
    assert panel.result is not None and "Engine layers after fusion" in panel.layers_table.value
    assert panel.summary.value and panel.progress.value == 1.0
    assert "cannot be reached" in panel.message.value and "built" in panel.message.value
    assert isinstance(panel.store_error, ResultsStoreUnavailableError)
    assert panel.stop_button.disabled and not panel.build_button.disabled


def test_without_a_kernel_changes_apply_directly():
    panel = BuildPanel()
    done = threading.Event()
    threading.Thread(target=lambda: (panel.say("from a thread"), done.set())).start()
    done.wait(5)
    assert "from a thread" in panel.message.value


def test_graph_view_is_static_until_displayed_then_clickable():
    import plotly.graph_objects as go

    from workbench.graph import from_onnx, layered_layout
    from workbench.widgets import GraphView

    view = GraphView(layered_layout(from_onnx(conv_bn_relu())))
    assert not isinstance(view.figure, go.FigureWidget) and view.plot.outputs  # drawn, no plotly.js in the state
    view.find("relu1")  # search still selects and outlines, redrawing the static figure
    assert view.selected is not None and "relu1" in view.details.value
    view.plot._view_count = 1  # what the front end sends when it displays the view
    assert isinstance(view.figure, go.FigureWidget) and view.body.children[0] is view.figure
    assert GraphView(layered_layout(from_onnx(conv_bn_relu())), interactive=False).plot._view_count is None


def test_a_failed_build_is_a_message_and_its_exception_is_kept():
    from workbench.errors import NetworkParseError

    from models import custom_op

    panel = BuildPanel(custom_op())
    panel.build(wait=True)
    assert isinstance(panel.last_exception, NetworkParseError) and "parser failed" in panel.message.value
    assert not panel.build_button.disabled and panel.stop_button.disabled
