"""The workshop path in a real browser: JupyterLab runs 00_quickstart top to bottom and the App in it builds and
benchmarks; then the same App served by Voila (offline template). Screenshots go to test-artifacts/."""

import re
import shutil
import sys

import pytest

from workbench.cli.app_command import voila_command

from .conftest import ROOT, _free_port, save_screenshot, serve

sys.path.insert(0, str(ROOT / "benchmarks"))
from .test_jupyterlab_graph import run_all_cells, wait_in_notebook


def _use_app(page, root, shots: str) -> None:
    """Pick a sample, Build (engine-layer table appears), Benchmark (a chart appears). ``root``: the App's box."""
    try:
        _steps(page, root, shots)
    except Exception:
        save_screenshot(page, f"{shots}_failed.png")  # what the page showed when a step timed out
        raise


def _steps(page, root, shots: str) -> None:
    app = root.locator(".widget-tab").last
    app.locator(".lm-TabBar-tab", has_text="1 Model").click()
    app.locator("select").first.select_option("resnet_tiny")
    app.get_by_role("button", name="Load sample").click()
    page.wait_for_function("document.body.innerText.includes('loaded resnet_tiny')", timeout=60_000)
    app.locator(".lm-TabBar-tab", has_text="4 Build").click()
    app.locator("button:visible", has_text=re.compile(r"^\s*Build\s*$")).click()
    page.wait_for_function("document.body.innerText.includes('Engine layers after fusion')", timeout=120_000)
    save_screenshot(page, f"{shots}_build.png")
    app.locator(".lm-TabBar-tab", has_text="5 Benchmark").click()
    batch = app.locator(".widget-text:visible", has_text="batch").locator("input")
    batch.fill("1")  # one batch size keeps the run short
    batch.press("Enter")
    app.locator("button:visible", has_text=re.compile(r"^\s*Run\s*$")).click()
    page.wait_for_function("document.body.innerText.includes('measured ')", timeout=120_000)
    page.wait_for_function("Array.from(document.querySelectorAll('.js-plotly-plot')).some("
                           "gd => gd.layout && gd.layout.title && String(gd.layout.title.text).startsWith('Latency'))",
                           timeout=60_000)
    save_screenshot(page, f"{shots}_benchmark.png")


def test_quickstart_runs_and_the_app_builds_and_benchmarks(lab, page):
    base, folder = lab
    shutil.copy(ROOT / "notebooks" / "00_quickstart.ipynb", folder / "00_quickstart.ipynb")
    run_all_cells(page, base, "00_quickstart.ipynb")
    # the last cell's App renders (its tab bar), after every earlier cell ran without an error
    wait_in_notebook(page, "Array.from(document.querySelectorAll('.widget-tab .lm-TabBar-tab'))"
                     ".some(t => t.textContent.includes('6 Compare'))", "the App's tabs", timeout=300_000)
    page.wait_for_function("!document.querySelector('.jp-Notebook .jp-mod-error, .jp-OutputArea-output[data-mime-type="
                           "\"application/vnd.jupyter.stderr\"] .ansi-red-fg')", timeout=10_000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count()
    assert errors == 0
    assert page.locator(".js-plotly-plot").count() >= 3  # fusion view (2) and the speed-up chart
    _use_app(page, page.locator(".jp-Notebook"), "jupyterlab_app")
    assert page.outside_requests == []


@pytest.fixture(scope="module")
def voila_app(tmp_path_factory):
    """One Voila server for this module's tests (each test opens its own page, hence its own kernel)."""
    tmp_path = tmp_path_factory.mktemp("voila")
    port = _free_port()
    notebook = tmp_path / "app.ipynb"
    shutil.copy(ROOT / "notebooks" / "app.ipynb", notebook)
    cmd, env = voila_command(notebook, port, browser=False)
    env = dict(env, WORKBENCH_RESULTS=str(tmp_path / "results.sqlite"))
    query = f"?token={env['JUPYTER_TOKEN']}"  # the app is served behind a token, as `workbench app` prints it
    # Probed on a static file: a GET of the app itself starts a kernel and runs the notebook, so on a busy machine
    # each 2-second probe that timed out left one more kernel starting (dozens, and the server never answered).
    with serve(cmd, f"http://127.0.0.1:{port}", "/voila/static/extension.js" + query, tmp_path / "voila.log",
               env=env, cwd=tmp_path, what="Voila", timeout=120) as base:
        yield base + "/" + query


def test_the_app_through_voila_offline(voila_app, page):
    page.goto(voila_app)
    page.wait_for_selector(".widget-tab .lm-TabBar-tab:has-text('6 Compare')", timeout=180_000)
    assert "from workbench import App" not in page.content()  # the code is hidden; only the app shows
    _use_app(page, page.locator("body"), "voila_app")
    assert page.outside_requests == []  # the offline template fetches nothing from a CDN


def test_a_large_model_in_the_voila_app_is_drawn_on_the_canvas(voila_app, page, tmp_path):
    """A 3,000-node model opened by path in the Voila app: its Graph tab draws with the bundled canvas renderer,
    grouped by name scope, its labels legible and apart (the measures of tests/browser/test_graph_canvas.py)."""
    import onnx

    from bench_graph_view import CANVAS_LABELS_JS, synthetic_model

    path = tmp_path / "chain3000.onnx"
    onnx.save(synthetic_model(750), path)
    page.goto(voila_app)
    page.wait_for_selector(".widget-tab .lm-TabBar-tab:has-text('2 Graph')", timeout=180_000)
    app = page.locator(".widget-tab").last
    app.locator("input[placeholder='/path/to/model.onnx']").fill(str(path))
    app.get_by_role("button", name="Open").click()
    page.wait_for_function("document.body.innerText.includes('loaded synthetic2k (3000 nodes)')", timeout=60_000)
    app.locator(".lm-TabBar-tab", has_text="2 Graph").click()
    page.wait_for_function("window.workbenchGraphs && workbenchGraphs.length && "
                           "workbenchGraphs[workbenchGraphs.length - 1].views[0].frames.length > 0", timeout=60_000)
    page.wait_for_timeout(200)
    labels = page.evaluate(f"({CANVAS_LABELS_JS})(workbenchGraphs[workbenchGraphs.length - 1].views[0])")
    save_screenshot(page, "voila_app_canvas_graph.png")
    assert labels["nodes"] == 3002 and labels["items"] == 752, labels  # 750 groups of 4, the input and output
    assert labels["shown"] >= 8 and labels["min_font_px"] >= 10, labels
    assert labels["overlaps"] == 0 and labels["overflowing"] == 0, labels
    assert page.outside_requests == []
