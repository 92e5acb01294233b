"""The graph at LLM scale in Chromium (issue 21): the 50,000-node export drawn by the bundled canvas renderer opens
grouped by name scope with legible, non-overlapping labels; pan and zoom repaint; a click hits the node under the
pointer; search opens the way to a node inside a collapsed group; the minimap moves the view. Bad inputs (5,000
inputs to one node, 10,000-character names, a cycle in the data) are drawn, never a hung tab. Frame times are in
benchmarks/bench_graph_view.py --browser, not asserted here."""

import sys
from pathlib import Path

import pytest

from workbench.charts.graph_html import graph_html
from workbench.graph import from_engine, from_onnx
from workbench.model import load_model

from .conftest import ROOT, save_screenshot

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_graph_view import CANVAS_LABELS_JS, long_names_model, synthetic_model, wide_concat_model  # noqa: E402

DRAWN = "window.workbenchGraphs && workbenchGraphs.length && workbenchGraphs[0].views[0].frames.length > 0"


@pytest.fixture(scope="module")
def chain_50k(tmp_path_factory):
    graph = from_onnx(load_model(synthetic_model(12_500)))
    assert graph.counts["nodes"] == 50_000
    return graph_html([graph], tmp_path_factory.mktemp("g") / "50k.html")


def _open(page, path):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(Path(path).as_uri())
    page.wait_for_function(DRAWN, timeout=60_000)
    page.wait_for_timeout(200)
    return errors


def test_fifty_thousand_nodes_open_grouped_and_legible(page, chain_50k):
    errors = _open(page, chain_50k)
    labels = page.evaluate(f"({CANVAS_LABELS_JS})(workbenchGraphs[0].views[0])")
    save_screenshot(page, "graph_canvas_50k_default.png")
    assert labels["items"] == 12_502 and labels["nodes"] == 50_002  # 12,500 groups of 4, the input and output
    assert labels["shown"] >= 8 and labels["min_font_px"] >= 10, labels
    assert labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
    assert "block0" in labels["labels"] and "4 nodes" in labels["labels"]
    # scrolling pans at the same scale; Ctrl+scroll zooms out, and past legibility no label is drawn
    view = "workbenchGraphs[0].views[0]"
    box = page.locator(".wb-main").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    ty = page.evaluate(f"{view}.ty")
    page.mouse.wheel(0, 600)
    page.wait_for_function(f"{view}.ty < {ty - 500} && {view}.scale === 1", timeout=10_000)
    page.keyboard.down("Control")
    for _ in range(6):
        page.mouse.wheel(0, 300)
    page.keyboard.up("Control")
    page.wait_for_function(f"{view}.scale < 0.5", timeout=10_000)
    page.wait_for_timeout(100)
    zoomed = page.evaluate(f"({CANVAS_LABELS_JS})({view})")
    assert zoomed["shown"] == 0 or zoomed["min_font_px"] >= 10  # labels only where legible
    # the minimap: a click near its bottom moves the view to the end of the graph
    mini = page.locator(".wb-minimap").first.bounding_box()
    before = page.evaluate(f"{view}.viewport.y0")
    page.mouse.click(mini["x"] + mini["width"] / 2, mini["y"] + mini["height"] - 4)
    page.wait_for_function(f"{view}.viewport.y0 > {before} + 100000", timeout=10_000)
    # search finds a node inside a collapsed group: the group opens (laid out alone), the node is selected
    page.fill(".wb-query", "block9000/relu")
    page.click(".wb-find")
    page.wait_for_function("document.querySelector('.wb-details').innerText.includes('block9000/relu')",
                           timeout=20_000)
    opened = page.evaluate(f"({CANVAS_LABELS_JS})({view})")
    assert opened["items"] == 4 and opened["labels"][:4] == ["Conv", "Relu", "Conv", "Add"]
    assert opened["overlaps"] == 0 and opened["min_font_px"] >= 10
    # hit-testing: a click on the Add box selects it
    x, y = page.evaluate(f"""(() => {{ const v = {view}, s = v.scene, i = Array.from(s.ref).findIndex(
        r => v.v.names[r] === 'block9000/add'); const r = v.canvas.getBoundingClientRect();
        const p = v.toScreen(s.x[i], s.y[i]); return [r.left + p[0], r.top + p[1]]; }})()""")
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelector('.wb-details').innerText.includes('block9000/add')",
                           timeout=10_000)
    assert "block9000/c2" in page.inner_text(".wb-details")  # its inputs, with shapes
    page.click("text=◀ all groups")
    page.wait_for_function(f"{view}.scene.k === 12502", timeout=10_000)
    save_screenshot(page, "graph_canvas_50k_search.png")
    assert errors == [] and page.outside_requests == []


@pytest.mark.parametrize("make", [lambda: wide_concat_model(5000), lambda: long_names_model(10, 10_000)],
                         ids=["5000_inputs", "10000_character_names"])
def test_bad_inputs_are_drawn(page, tmp_path, make):
    graph = from_onnx(load_model(make()))
    errors = _open(page, graph_html([graph], tmp_path / "bad.html", renderer="canvas"))
    view = "workbenchGraphs[0].views[0]"
    labels = page.evaluate(f"({CANVAS_LABELS_JS})({view})")
    assert labels["shown"] >= 2 and labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
    first_group = page.evaluate(f"{view}.v.groups.length ? 0 : -1")
    if first_group >= 0:  # the 5,000 Relus and their Concat: opening the group lays out 5,001 nodes
        page.evaluate(f"{view}.openGroup(0)")
        page.wait_for_function(f"{view}.scene.k === 5001", timeout=20_000)
    page.fill(".wb-query", "concat" if first_group >= 0 else "relu")
    page.click(".wb-find")
    page.wait_for_function("document.querySelector('.wb-details').innerText.length > 20", timeout=20_000)
    assert len(page.inner_text(".wb-details")) < 6000  # long names are cut, 5,000 inputs listed as a few
    assert errors == []


def test_fusion_links_reach_nodes_inside_collapsed_groups(page, tmp_path):
    from workbench.charts.graph_html import canvas_html
    from workbench.engines import build_engine

    built = build_engine("resnet_tiny")
    onnx_graph, engine = from_onnx(built.model), from_engine(built.layers, model=built.model)
    errors = _open(page, canvas_html([onnx_graph, engine], tmp_path / "fusion.html", fusion=built.fusion,
                                     hierarchy=True))
    app = "workbenchGraphs[0]"
    assert page.evaluate(f"{app}.views.length") == 2 and page.evaluate(f"{app}.views[0].v.groups.length") > 0
    # an engine layer that absorbed ONNX nodes 0, 1, 2 (Conv, BatchNormalization, Relu): selecting it outlines them
    # and the collapsed group that holds them in the ONNX pane
    page.evaluate(f"{app}.select(1, 1)")
    lit = page.evaluate(f"Array.from({app}.views[0].highlighted)")
    assert {0, 1, 2} <= set(lit)
    group = page.evaluate(f"{app}.views[0].v.groupOf[0]")
    assert group < 0 or -group - 1 in lit
    assert "absorbed ONNX nodes" in page.inner_text(".wb-details")
    # and back: an ONNX node selected lights its engine layer
    page.evaluate(f"{app}.select(0, 1)")
    assert 1 in page.evaluate(f"Array.from({app}.views[1].highlighted)")
    assert errors == [] and page.outside_requests == []
