"""JupyterLab in headless Chromium: the GraphPanel draws both graphs, and clicking an engine layer outlines the ONNX
nodes it absorbed (a click in the browser, the Python callback, the update back in the browser); the GraphView of a
309-node detector opens readable (labels >= 10 px, none overlapping) and the minimap follows a search."""

import json
import re
import sys

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from workbench.graph import from_onnx, layered_layout

from .conftest import ROOT, TOKEN, save_screenshot
from .test_graph_readability import LABELS_JS, yolo_like_model

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_graph_view import CANVAS_LABELS_JS, KERNEL_IDLE, KERNEL_STATUS  # noqa: E402

CELLS = [
    "from workbench.widgets import GraphPanel\n"
    "panel = GraphPanel('resnet_tiny')\n"
    "panel.build(wait=True)\n"
    "panel",
]
BIG_CELLS = [
    f"import sys\nsys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
    "from bench_graph_view import yolo_like_model\n"
    "from workbench.graph import from_onnx\n"
    "from workbench.widgets import GraphView\n"
    "view = GraphView(from_onnx(yolo_like_model()))\n"
    "view",
    "view.find('/model.22/scale2/Reshape')",
]

# the clickable FigureWidgets a displayed graph becomes (not the static first drawing inside an Output widget)
PLOTS = ("Array.from(document.querySelectorAll('.js-plotly-plot'))"
         ".filter(gd => gd.closest('.widget-hbox') && !gd.closest('.widget-output'))")
ENGINE = f"{PLOTS}.find(gd => gd.layout && gd.layout.title && gd.layout.title.text.startsWith('TensorRT engine'))"
ONNX = f"{PLOTS}.find(gd => gd.layout && gd.layout.title && gd.layout.title.text.includes('(ONNX'))"
OUTLINES = "(gd => gd.data.find(t => t.meta === 'highlight').x.filter(v => v === null || Number.isNaN(v)).length)"


# The first code cell is queued or has run: its prompt reads [*] or [n].
FIRST_CELL_STARTED = ("(() => { const p = document.querySelector('.jp-Notebook .jp-CodeCell .jp-InputPrompt');"
                      " return p !== null && /\\[(\\*|\\d+)\\]/.test(p.textContent); })()")


def run_all_cells(page, base: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab and run all its cells, once its kernel is idle and connected.

    JupyterLab drops a Run All given before the kernel is connected (KERNEL_IDLE), and on a loaded CI machine a
    first kernel can take many seconds (a fixed pause was too short there): so wait for the kernel's "idle", then
    check that the first cell was queued."""
    # a workspace per notebook: the server's default workspace would reopen notebooks of earlier tests beside it
    page.goto(f"{base}/lab/workspaces/{notebook.split('.')[0]}/tree/{notebook}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_in_notebook(page, KERNEL_IDLE, "the notebook's kernel to be idle", timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    wait_in_notebook(page, FIRST_CELL_STARTED, "Run All Cells to queue the first cell", timeout=20_000)


def notebook_shows(page, limit: int = 3000) -> str:
    """What the open notebook shows, for a failure message: the kernel's status, each cell's prompt and the end of
    its output (an error the kernel printed, a panel's message)."""
    return page.evaluate(r"""(limit) => {
        const k = """ + KERNEL_STATUS + r""";
        const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell')).map((c, i) => {
            const prompt = (c.querySelector('.jp-InputPrompt') || {}).textContent || '';
            const out = (c.querySelector('.jp-OutputArea') || {}).innerText || '';
            return `cell ${i + 1} ${prompt.trim()}: ${out.trim().slice(-600)}`; });
        const dialog = document.querySelector('.jp-Dialog');
        const said = dialog ? `a dialog is open: ${dialog.innerText.replace(/\s+/g, ' ').trim()}\n` : '';
        return (`kernel: ${k ? k.textContent.trim() : 'no status shown'}\n` + said + cells.join('\n'))
            .slice(-limit);
    }""", limit)


def wait_in_notebook(page, condition: str, what: str, timeout: float) -> None:
    """``page.wait_for_function(condition)``; on a timeout, fail saying what was awaited and what the notebook
    shows (a bare Playwright timeout says neither), with a screenshot in test-artifacts/."""
    try:
        page.wait_for_function(condition, timeout=timeout)
    except PlaywrightTimeout:
        save_screenshot(page, "timed_out_" + re.sub(r"\W+", "_", what) + ".png")
        pytest.fail(f"waited {timeout / 1000:.0f} s for {what}; the notebook shows:\n{notebook_shows(page)}",
                    pytrace=False)


def _notebook(folder, name, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, folder / name)


def test_graph_panel_draws_and_click_highlights_onnx_nodes(lab, page):
    base, folder = lab
    _notebook(folder, "graph_panel.ipynb", CELLS)
    run_all_cells(page, base, "graph_panel.ipynb")
    try:
        wait_in_notebook(page, f"(() => {{ const e = {ENGINE}, o = {ONNX}; return e && o && "
                         "e.querySelectorAll('.textpoint').length > 5 && "
                         "o.querySelectorAll('.textpoint').length > 10; })()",
                         "the engine and ONNX graphs to be drawn", timeout=240_000)
    finally:
        save_screenshot(page, "graph_panel_drawn.png")
    # Click the first fused Conv+BatchNormalization+Relu layer, at its pixel position.
    x, y = page.evaluate(f"""() => {{ const gd = {ENGINE}; const t = gd._fullData.find(d => d.meta === 'nodes');
        const i = t.text.findIndex(s => s.startsWith('Conv+BatchNorm+Relu'));
        const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])]; }}""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function(f"{OUTLINES}({ONNX}) === 3", timeout=30_000)  # Conv, BatchNormalization, Relu
    page.mouse.move(5, 5)  # away from the plot, so no hover label covers it
    page.wait_for_timeout(500)
    shot = save_screenshot(page, "graph_panel_fusion.png")
    assert shot.stat().st_size > 10_000
    assert page.outside_requests == []  # nothing fetched from outside this machine


def test_graph_view_of_300_nodes_is_readable_in_jupyterlab(lab, page):
    base, folder = lab
    _notebook(folder, "big_graph.ipynb", BIG_CELLS)
    graph = layered_layout(from_onnx(yolo_like_model()))
    widths = json.dumps([float(w) for w in graph.nodes["width"]])
    run_all_cells(page, base, "big_graph.ipynb")
    try:
        wait_in_notebook(page, f"(() => {{ const o = {ONNX}; return o && o.querySelectorAll('.textpoint').length > 5 "
                         "&& o.layout.yaxis.range[0] < -3000; })()",  # found: the view moved
                         "the graph to be drawn and moved to the found node", timeout=240_000)
        page.wait_for_timeout(1000)
    finally:
        save_screenshot(page, "graph_view_300_jupyterlab.png")
    view = page.evaluate(f"(() => {{ const o = {ONNX}; return [o.layout.yaxis.range, o.layout.shapes[0].y0]; }})()")
    assert abs(view[1] - view[0][0]) < 1  # the minimap's rectangle is where the view is
    labels = page.evaluate(f"({LABELS_JS})({ONNX}, {widths})")
    assert labels["shown"] >= 8 and labels["min_font_px"] >= 10, labels
    assert labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
    assert abs(labels["px_per_unit"] - 1) < 0.05  # the readable default scale
    assert page.outside_requests == []


CANVAS_CELLS = [
    f"import sys\nsys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
    "import ipywidgets as w\n"
    "from bench_graph_view import synthetic_model\n"
    "from workbench.graph import from_onnx\n"
    "from workbench.model import load_model\n"
    "from workbench.widgets.graph_canvas_view import GraphCanvas\n"
    "said = w.Label('nothing selected')\n"
    "canvas = GraphCanvas(from_onnx(load_model(synthetic_model(2500))),\n"
    "                     on_select=lambda c, pane, name: setattr(said, 'value', 'selected ' + name))\n"
    "w.VBox([said, canvas])",
]


def test_canvas_widget_of_10000_nodes_in_jupyterlab(lab, page):
    """The anywidget: the same renderer as the export, opened grouped, legible; a click reaches Python."""
    base, folder = lab
    _notebook(folder, "canvas_graph.ipynb", CANVAS_CELLS)
    run_all_cells(page, base, "canvas_graph.ipynb")
    view = "window.workbenchGraphs[0].views[0]"
    try:
        wait_in_notebook(page, f"window.workbenchGraphs && workbenchGraphs.length && {view}.frames.length > 0 && "
                         f"{view}.cssH > 100", "the canvas graph's first frame", timeout=240_000)
        page.wait_for_timeout(500)
    finally:
        save_screenshot(page, "graph_canvas_10000_jupyterlab.png")
    labels = page.evaluate(f"({CANVAS_LABELS_JS})({view})")
    assert labels["nodes"] == 10_002 and labels["items"] == 2_502
    assert labels["shown"] >= 8 and labels["min_font_px"] >= 10 and labels["overlaps"] == 0, labels
    x, y = page.evaluate(f"""(() => {{ const v = {view}, s = v.scene, i = s.itemOf.get(-1);
        const r = v.canvas.getBoundingClientRect(), p = v.toScreen(s.x[i], s.y[i]);
        return [r.left + p[0], r.top + p[1]]; }})()""")
    page.mouse.click(x, y)
    page.wait_for_selector("text=selected block0", timeout=30_000)  # the kernel's callback, shown back
    assert page.outside_requests == []
