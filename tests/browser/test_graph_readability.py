"""Readability at real size (issue 11, item 9), measured in Chromium on the static HTML export: at the default view
of a 309-node YOLO-style detector and of a 2,002-node chain, node labels are at least 10 px and none overlap or
overflow its box; search moves the view to the node and the minimap's rectangle follows. Screenshots go to
test-artifacts/."""

import json
import sys
import time
from pathlib import Path

from workbench.charts.graph_html import graph_html
from workbench.graph import collapse, from_onnx, layered_layout
from workbench.graph.layout import scope_depth

from .conftest import ROOT, save_screenshot

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_graph_view import LABELS_JS, synthetic_model, yolo_like_model  # noqa: E402

DRAWN = ("(() => { const gd = document.getElementById('graph0'); return gd && gd._fullLayout &&"
         " gd.querySelectorAll('.textpoint').length > 0; })()")


def _measure(page, widths):
    return page.evaluate(f"({LABELS_JS})(document.getElementById('graph0'), {json.dumps(widths)})")


def test_labels_of_a_300_node_detector_are_legible_and_apart(page, tmp_path):
    graph = layered_layout(from_onnx(yolo_like_model()))
    assert graph.counts["nodes"] >= 300
    path = graph_html([graph], tmp_path / "yolo.html")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(Path(path).as_uri())
    page.wait_for_function(DRAWN, timeout=60_000)
    page.wait_for_timeout(300)
    widths = [float(w) for w in graph.nodes["width"]]
    labels = _measure(page, widths)
    save_screenshot(page, "graph_readability_300_default.png")
    assert labels["shown"] >= 8, labels  # the top of the graph at a readable scale, not all 311 squeezed in
    assert labels["shown"] < labels["total"]
    assert labels["min_font_px"] >= 10 and labels["min_text_height_px"] >= 10, labels
    assert labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
    assert any(s.startswith("images") for s in labels["labels"])  # the graph's input is on top
    assert "Conv3×3 /2" in labels["labels"]  # op and kernel, stride on the node (two lines)
    # scrolling (a wheel, two fingers on a trackpad) pans down at the same scale; Ctrl+scroll (a pinch) zooms
    y_range = "document.getElementById('graph0').layout.yaxis.range"
    top = page.evaluate(y_range)
    box = page.locator("#graph0 .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 400)
    page.wait_for_function(f"{y_range}[1] < {top[1] - 300}", timeout=10_000)
    scrolled = page.evaluate(y_range)
    assert abs((scrolled[1] - scrolled[0]) - (top[1] - top[0])) < 1
    page.keyboard.down("Control")
    page.mouse.wheel(0, 300)
    page.keyboard.up("Control")
    page.wait_for_function(f"{y_range}[1] - {y_range}[0] > {(top[1] - top[0]) * 1.05}", timeout=10_000)  # zoomed out
    # search jumps to a node deep in the head; the view moves there and the minimap's rectangle follows
    before = page.evaluate("document.getElementById('graph0').layout.shapes[0].y0")
    page.fill("#query", "/model.22/scale2/Reshape")
    page.click("#find")
    page.wait_for_function("document.getElementById('details').innerText.includes('/model.22/scale2/Reshape')",
                           timeout=20_000)
    page.wait_for_timeout(300)
    after = page.evaluate("document.getElementById('graph0').layout.shapes[0].y0")
    assert after < before - 1000
    labels = _measure(page, widths)
    assert labels["shown"] >= 8 and labels["overlaps"] == 0 and labels["min_font_px"] >= 10
    found = page.evaluate("""() => { const gd = document.getElementById('graph0');
        const t = gd._fullData.find(d => d.meta === 'nodes'); const v = t.customdata;
        const i = t.hovertext.findIndex(h => h.includes('/model.22/scale2/Reshape</b>'));
        const ya = gd._fullLayout.yaxis; return t.y[i] > ya.range[0] && t.y[i] < ya.range[1]; }""")
    assert found  # the node found is in view
    save_screenshot(page, "graph_readability_300_search.png")
    assert page.outside_requests == [] and errors == []


def test_labels_of_a_2000_node_graph_are_legible_and_apart(page, tmp_path):
    graph = layered_layout(from_onnx(synthetic_model(500)))
    path = graph_html([graph], tmp_path / "big.html", renderer="plotly")  # the plotly path, as the canvas opens:
    grouped = layered_layout(collapse(graph, scope_depth(graph)))      # grouped by name scope
    start = time.perf_counter()
    page.goto(Path(path).as_uri())
    page.wait_for_function(DRAWN, timeout=60_000)
    drawn_s = time.perf_counter() - start
    labels = _measure(page, [float(w) for w in grouped.nodes["width"]])
    # 500 groups, the input and output; a group's two lines (its name over its count) read as one text here
    assert labels["total"] == 502 and "block04 nodes" in labels["labels"], labels
    save_screenshot(page, "graph_readability_2000_default.png")
    assert drawn_s < 20  # software rendering in CI; the speed target lives in benchmarks/bench_graph_view.py
    assert labels["shown"] >= 8 and labels["min_font_px"] >= 10, labels
    assert labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
