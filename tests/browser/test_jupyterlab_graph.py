"""JupyterLab in headless Chromium: the GraphPanel draws both graphs, and clicking an engine layer outlines the ONNX
nodes it absorbed (a click in the browser, the Python callback, the update back in the browser)."""

import nbformat

from .conftest import TOKEN, save_screenshot

CELLS = [
    "from workbench.widgets import GraphPanel\n"
    "panel = GraphPanel('resnet_tiny')\n"
    "panel.build(wait=True)\n"
    "panel",
]

# the clickable FigureWidgets a displayed graph becomes (not the static first drawing inside an Output widget)
PLOTS = ("Array.from(document.querySelectorAll('.js-plotly-plot'))"
         ".filter(gd => gd.closest('.widget-hbox') && !gd.closest('.widget-output'))")
ENGINE = f"{PLOTS}.find(gd => gd.layout && gd.layout.title && gd.layout.title.text.startsWith('TensorRT engine'))"
ONNX = f"{PLOTS}.find(gd => gd.layout && gd.layout.title && gd.layout.title.text.includes('(ONNX'))"


def run_all_cells(page, base: str, notebook: str) -> None:
    page.goto(f"{base}/lab/tree/{notebook}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("document.querySelector('.jp-Notebook-ExecutionIndicator') !== null "
                           "|| document.querySelector('.jp-KernelStatus') !== null", timeout=60_000)
    page.wait_for_timeout(1500)  # the kernel connects
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def test_graph_panel_draws_and_click_highlights_onnx_nodes(lab, page):
    base, folder = lab
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, folder / "graph_panel.ipynb")
    run_all_cells(page, base, "graph_panel.ipynb")
    page.wait_for_function(f"(() => {{ const e = {ENGINE}, o = {ONNX}; return e && o && "
                           "e.querySelectorAll('.point').length > 5 && o.querySelectorAll('.point').length > 10; })()",
                           timeout=120_000)
    drawn = page.evaluate(f"[{ONNX}.querySelectorAll('.point').length, {ENGINE}.querySelectorAll('.point').length]")
    assert drawn[0] >= 22 and drawn[1] >= 10  # every node drawn (plus the edge-hover points)
    # Click the first fused Conv+BatchNormalization+Relu layer, at its pixel position.
    x, y = page.evaluate(f"""() => {{ const gd = {ENGINE}; const t = gd._fullData[2];
        const i = t.text.indexOf('Conv+BatchNormalization+Relu');
        const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])]; }}""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function(f"{ONNX}.data[2].marker.line.width.filter(w => w > 1).length === 3", timeout=30_000)
    outlined = page.evaluate(f"""() => {{ const d = {ONNX}.data[2];
        return d.marker.line.width.map((w, i) => w > 1 ? d.text[i] : null).filter(x => x); }}""")
    assert outlined == ["Conv", "BatchNormalization", "Relu"]
    page.mouse.move(5, 5)  # away from the plot, so no hover label covers it
    page.wait_for_timeout(500)
    shot = save_screenshot(page, "graph_panel_fusion.png")
    assert shot.stat().st_size > 10_000
    assert page.outside_requests == []  # nothing fetched from outside this machine
