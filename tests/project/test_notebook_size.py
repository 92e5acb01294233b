"""A lesson executed and saved with its widget state stays small (< 3 MB) and still shows its graphs when reopened;
in a real kernel, a panel's background work reaches its widgets through the kernel's thread."""

import json
import os
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 3 * 2**20

CELLS = [
    # what the quickstart shows: the fusion view of a built engine, then the whole App
    "import workbench\n"
    "from workbench.engines import BuildConfig, build_engine\n"
    "from workbench.graph import from_engine, from_onnx, layered_layout\n"
    "from workbench.widgets import BuildPanel, FusionView\n"
    "model = workbench.load_model('digits_cnn')\n"
    "result = build_engine(model, BuildConfig(shapes={'image': (8, 1, 8, 8)}))\n"
    "FusionView(layered_layout(from_onnx(model)), layered_layout(from_engine(result.layers, model=model)),"
    " fusion=result.fusion)",
    "from workbench import App\napp = App('resnet_tiny')\napp",
    "panel = BuildPanel('digits_cnn')\npanel.build(wait=True)\n"
    "assert panel.last_error is None, panel.message.value\n"
    "assert 'Engine layers after fusion' in panel.layers_table.value and panel.progress.value == 1.0\n"
    "panel",
]


def test_executed_notebook_with_widget_state_stays_small(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ExecutePreprocessor(timeout=300, kernel_name="python3", store_widget_state=True).preprocess(
        notebook, {"metadata": {"path": str(tmp_path)}})
    saved = tmp_path / "executed.ipynb"
    nbformat.write(notebook, saved)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == [], errors
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert saved.stat().st_size < LIMIT, f"{saved.stat().st_size / 2**20:.1f} MB saved"
    # reopened without a kernel, the graphs are there: plotly figures held by Output widgets
    plots = [m for m in state.values() if m["model_name"] == "OutputModel" and any(
        "application/vnd.plotly.v1+json" in o.get("data", {}) for o in m["state"].get("outputs", []))]
    assert len(plots) >= 3, "the fusion view's two graphs and the App's ONNX graph"
    assert sys.getsizeof(json.dumps(state)) < LIMIT
