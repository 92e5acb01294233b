"""Time from "open a 300-node model" to "graph and engine view shown", no shapes given (issue 11, goal <= 5 s on a
CPU for the whole process: Python start, imports, loading, default shapes, the engine build on the CPU builder
with an empty engine cache, and both views drawn as the Graph panel draws them).

The model is the ``yolo_detector`` sample (326 nodes, dynamic height/width, Ultralytics ``imgsz`` metadata) saved
as a plain .onnx file first, so the run opens a user's file like any other. A second process times the same steps
without widgets, and the import of plotly's FigureWidget alone, to show where the time goes.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# What a user waits for after pressing Build in the Graph panel of a fresh kernel.
PANEL = r"""
import json, sys, time
start = time.perf_counter()
marks = {}
from workbench.widgets import GraphPanel
marks["import workbench.widgets"] = time.perf_counter() - start
panel = GraphPanel(sys.argv[1])                         # load, default shapes, ONNX graph view
marks["ONNX graph view shown"] = time.perf_counter() - start
panel.build(wait=True)                                  # engine build (no shapes given), fusion view
assert panel.result is not None and panel.last_error is None, panel.last_error
marks["graph and engine view shown"] = time.perf_counter() - start
marks["estimated at"] = panel.model.shapes.describe()
marks["engine layers"] = len(panel.result.layers)
print(json.dumps(marks))
"""

# The same steps in the library alone, then the widget toolkit's import on its own.
BREAKDOWN = r"""
import json, sys, time
marks = {}
t = time.perf_counter()
from workbench.engines import build_engine
from workbench.graph import from_engine, from_onnx, layered_layout
from workbench.model import load_model
marks["import library"] = time.perf_counter() - t
t = time.perf_counter()
model = load_model(sys.argv[1])
layered_layout(from_onnx(model))
marks["load + ONNX graph data"] = time.perf_counter() - t
t = time.perf_counter()
built = build_engine(model)
marks["engine build (CPU builder)"] = time.perf_counter() - t
t = time.perf_counter()
layered_layout(from_engine(built.layers, model=model))
built.fusion
marks["engine graph data + fusion reasons"] = time.perf_counter() - t
t = time.perf_counter()
import plotly.graph_objects as go
go.FigureWidget
marks["import plotly FigureWidget (once a front end shows a graph)"] = time.perf_counter() - t
print(json.dumps(marks))
"""


def run_child(code: str, model_path: Path) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as cache:  # an empty engine cache: the build is real
        env = {**os.environ, "WORKBENCH_CACHE_DIR": cache}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True, text=True,
                             env=env, check=True).stdout
        wall = time.perf_counter() - started
    return wall, json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    from workbench.model import load_model

    with tempfile.TemporaryDirectory() as folder:
        path = load_model("yolo_detector").save(Path(folder) / "detector.onnx")
        runs = [run_child(PANEL, path) for _ in range(3)]
        _, breakdown = run_child(BREAKDOWN, path)
    walls = [w for w, _ in runs]
    marks = runs[-1][1]
    print(f"model: {path.name} ({load_model('yolo_detector').node_count} nodes), estimated at {marks['estimated at']}")
    for key in ("import workbench.widgets", "ONNX graph view shown", "graph and engine view shown"):
        print(f"  {key + ':':40s} {marks[key]:6.2f} s after start")
    print(f"whole process, median of {len(walls)}:{'':18s} {statistics.median(walls):6.2f} s   (goal <= 5 s)")
    print("where the time goes (one process, no widgets):")
    for key, seconds in breakdown.items():
        print(f"  {key + ':':40s} {seconds:6.2f} s")
