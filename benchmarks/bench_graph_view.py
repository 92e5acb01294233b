"""Graph view speed and readability: the view of a 2,000-node graph ready in < 1.5 s, labels readable.

Measured in Python: ONNX graph -> GraphData -> layered layout -> plotly figure -> GraphView (the FigureWidget payload
the browser receives). The first FigureWidget in a process also pays plotly/anywidget's one-time start-up; both are
printed. With ``--browser``: the readability figure — the static HTML export in Chromium, the labels at the default
view of a 309-node detector and of the 2,002-node chain (font size, overlaps, overflow), as tests/browser asserts.

    PYTHONPATH=. python benchmarks/bench_graph_view.py [--browser] [--scale-only] [--sizes 300,2000,10000,50000]

At scale (issue 21), per size of the residual chain: the export (ONNX -> GraphData -> HTML, split into the two)
time and size, and with ``--browser`` in headless Chromium (software rendering) the time to the first drawn frame
and the frame times of a scripted pan and zoom that stays on the graph (150 frames; median, 95th and 99th
percentiles, worst)
— goals: export <= 5 s and <= 10 MB at 50,000 nodes (the fastest of three runs: the machine is shared; also timed
as the whole ``workbench graph`` process, imports included, as a user runs it), first draw
<= 1 s at 2,000 and <= 2 s at 50,000, frames <= 33 ms. Then the JupyterLab widget against the export, both pages
in one browser while JupyterLab runs, their pan/zoom rounds interleaved (goal: within 1.5x in first draw and in
the median and 95th percentile frames; the tail, the 99th percentile and the worst frame, the 5th and 1st slowest
of 450 (page pauses, at the timer's 0.1 ms steps), is printed with the <= 33 ms goal).
First draws are the renderer's own record of its first frame (``firstPaintAt``).
"""

import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def synthetic_model(blocks: int = 500):
    """A residual chain: per block Conv -> Relu -> Conv -> Add(skip): 4 nodes per block, 2,000 nodes for 500."""
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1), "w")
    nodes, x = [], "x"
    for b in range(blocks):
        p = f"block{b}"
        nodes += [helper.make_node("Conv", [x, "w"], [f"{p}/c1"], name=f"{p}/conv1"),
                  helper.make_node("Relu", [f"{p}/c1"], [f"{p}/r"], name=f"{p}/relu"),
                  helper.make_node("Conv", [f"{p}/r", "w"], [f"{p}/c2"], name=f"{p}/conv2"),
                  helper.make_node("Add", [f"{p}/c2", x], [f"{p}/out"], name=f"{p}/add")]
        x = f"{p}/out"
    graph = helper.make_graph(nodes, "synthetic2k", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def cyclic_model(blocks: int = 50):
    """Bad input: the residual chain with its last output fed back into its first Conv (a cycle: invalid ONNX, but
    such files exist). The view must still draw it or say why not."""
    model = synthetic_model(blocks)
    model.graph.node[0].input[0] = model.graph.node[-1].output[0]
    return model


def wide_concat_model(inputs: int = 5000):
    """Bad input: one Concat of ``inputs`` tensors, each from its own Relu of the graph input."""
    nodes = [helper.make_node("Relu", ["x"], [f"r{i}"], name=f"/wide/Relu_{i}") for i in range(inputs)]
    nodes.append(helper.make_node("Concat", [f"r{i}" for i in range(inputs)], ["y"], name="/wide/Concat", axis=0))
    graph = helper.make_graph(nodes, "wide_concat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [inputs, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def long_names_model(blocks: int = 10, chars: int = 10_000):
    """Bad input: the residual chain with node and tensor names of ``chars`` characters."""
    model = synthetic_model(blocks)
    long = "n" * chars
    renamed = {}
    for node in model.graph.node:
        node.name = f"{long}{node.name}"
        for k, t in enumerate(node.output):
            renamed[t] = node.output[k] = f"{long}{t}"
        for k, t in enumerate(node.input):
            node.input[k] = renamed.get(t, t)
    model.graph.output[0].name = renamed.get(model.graph.output[0].name, model.graph.output[0].name)
    return model


def yolo_like_model(width: int = 16):
    """A YOLO-style detector as Ultralytics exports it, about 300 nodes: Conv+Sigmoid+Mul (SiLU) blocks named
    ``/model.N/...``, C2f blocks (Split, bottlenecks with residual Adds, Concat), an SPPF (MaxPool 5x5 x3), an
    upsampling neck (Resize, Concat), and a three-scale head with shape arithmetic (Shape/Gather/Concat feeding
    Reshape) and a final Concat. The graph view's 300-node readability test draws it."""
    inits, nodes = [], []
    count = [0]

    def weight(name, shape):
        inits.append(numpy_helper.from_array(np.full(shape, 0.01, dtype=np.float32), name))
        return name

    def const(name, values):
        inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def conv(x, cin, cout, scope, k=1, s=1):
        w = weight(f"{scope}.conv.weight", [cout, cin, k, k])
        nodes.append(helper.make_node("Conv", [x, w], [f"{scope}/conv/Conv_output_0"], name=f"{scope}/conv/Conv",
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        nodes.append(helper.make_node("Sigmoid", [f"{scope}/conv/Conv_output_0"], [f"{scope}/act/Sigmoid_output_0"],
                                      name=f"{scope}/act/Sigmoid"))
        nodes.append(helper.make_node("Mul", [f"{scope}/conv/Conv_output_0", f"{scope}/act/Sigmoid_output_0"],
                                      [f"{scope}/act/Mul_output_0"], name=f"{scope}/act/Mul"))
        return f"{scope}/act/Mul_output_0"

    def c2f(x, c, scope, blocks):
        y = conv(x, c, c, f"{scope}/cv1")
        half = c // 2
        split = const(f"{scope}/split", [half, half])
        nodes.append(helper.make_node("Split", [y, split], [f"{scope}/Split_output_0", f"{scope}/Split_output_1"],
                                      name=f"{scope}/Split", axis=1))
        parts, last = [f"{scope}/Split_output_0", f"{scope}/Split_output_1"], f"{scope}/Split_output_1"
        for b in range(blocks):
            m = conv(conv(last, half, half, f"{scope}/m.{b}/cv1", 3), half, half, f"{scope}/m.{b}/cv2", 3)
            nodes.append(helper.make_node("Add", [last, m], [f"{scope}/m.{b}/Add_output_0"], name=f"{scope}/m.{b}/Add"))
            last = f"{scope}/m.{b}/Add_output_0"
            parts.append(last)
        nodes.append(helper.make_node("Concat", parts, [f"{scope}/Concat_output_0"], name=f"{scope}/Concat", axis=1))
        return conv(f"{scope}/Concat_output_0", half * len(parts), c, f"{scope}/cv2")

    c = width
    x = conv("images", 3, c, "/model.0", 3, 2)
    x = conv(x, c, 2 * c, "/model.1", 3, 2)
    x = c2f(x, 2 * c, "/model.2", 2)
    x = conv(x, 2 * c, 4 * c, "/model.3", 3, 2)
    p3 = c2f(x, 4 * c, "/model.4", 4)
    x = conv(p3, 4 * c, 8 * c, "/model.5", 3, 2)
    p4 = c2f(x, 8 * c, "/model.6", 4)
    x = conv(p4, 8 * c, 8 * c, "/model.7", 3, 2)
    x = c2f(x, 8 * c, "/model.8", 2)
    # SPPF
    y = conv(x, 8 * c, 4 * c, "/model.9/cv1")
    pools = [y]
    for i in range(3):
        nodes.append(helper.make_node("MaxPool", [pools[-1]], [f"/model.9/m_{i}/MaxPool_output_0"],
                                      name=f"/model.9/m_{i}/MaxPool", kernel_shape=[5, 5], pads=[2] * 4,
                                      strides=[1, 1]))
        pools.append(f"/model.9/m_{i}/MaxPool_output_0")
    nodes.append(helper.make_node("Concat", pools, ["/model.9/Concat_output_0"], name="/model.9/Concat", axis=1))
    p5 = conv("/model.9/Concat_output_0", 16 * c, 8 * c, "/model.9/cv2")
    scales = "/model.10/scales"
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), scales))

    def up_cat(x, skip, scope, cx, cs, cout):
        nodes.append(helper.make_node("Resize", [x, "", scales], [f"{scope}/Resize_output_0"], name=f"{scope}/Resize",
                                      mode="nearest"))
        nodes.append(helper.make_node("Concat", [f"{scope}/Resize_output_0", skip], [f"{scope}/Concat_output_0"],
                                      name=f"{scope}/Concat", axis=1))
        return conv(f"{scope}/Concat_output_0", cx + cs, cout, scope + "/cv")

    def down_cat(x, skip, scope, cx, cs):
        y = conv(x, cx, cx, f"{scope}/down", 3, 2)
        nodes.append(helper.make_node("Concat", [y, skip], [f"{scope}/Concat_output_0"], name=f"{scope}/Concat",
                                      axis=1))
        return conv(f"{scope}/Concat_output_0", cx + cs, cs, scope + "/cv")

    n4 = c2f(up_cat(p5, p4, "/model.11", 8 * c, 8 * c, 8 * c), 8 * c, "/model.12", 2)
    n3 = c2f(up_cat(n4, p3, "/model.14", 8 * c, 4 * c, 4 * c), 4 * c, "/model.15", 2)
    m4 = c2f(down_cat(n3, n4, "/model.17", 4 * c, 8 * c), 8 * c, "/model.18", 2)
    m5 = c2f(down_cat(m4, p5, "/model.20", 8 * c, 8 * c), 8 * c, "/model.21", 2)
    # Detect head: per scale, box and class branches, then a Reshape to [1, 68, -1] with its shape computed.
    flat = []
    for i, (feat, ch) in enumerate([(n3, 4 * c), (m4, 8 * c), (m5, 8 * c)]):
        s = f"/model.22/scale{i}"
        box = conv(conv(feat, ch, c, f"{s}/cv2.0", 3), c, c, f"{s}/cv2.1", 3)
        cls = conv(conv(feat, ch, c, f"{s}/cv3.0", 3), c, c, f"{s}/cv3.1", 3)
        nodes.append(helper.make_node("Concat", [box, cls], [f"{s}/Concat_output_0"], name=f"{s}/Concat", axis=1))
        nodes.append(helper.make_node("Shape", [f"{s}/Concat_output_0"], [f"{s}/Shape_output_0"], name=f"{s}/Shape"))
        nodes.append(helper.make_node("Gather", [f"{s}/Shape_output_0", const(f"{s}/zero", 0)],
                                      [f"{s}/Gather_output_0"], name=f"{s}/Gather", axis=0))
        nodes.append(helper.make_node("Unsqueeze", [f"{s}/Gather_output_0", const(f"{s}/axes", [0])],
                                      [f"{s}/Unsqueeze_output_0"], name=f"{s}/Unsqueeze"))
        nodes.append(helper.make_node("Concat", [f"{s}/Unsqueeze_output_0", const(f"{s}/rest", [2 * c, -1])],
                                      [f"{s}/Concat_1_output_0"], name=f"{s}/Concat_1", axis=0))
        nodes.append(helper.make_node("Reshape", [f"{s}/Concat_output_0", f"{s}/Concat_1_output_0"],
                                      [f"{s}/Reshape_output_0"], name=f"{s}/Reshape"))
        flat.append(f"{s}/Reshape_output_0")
    nodes.append(helper.make_node("Concat", flat, ["/model.22/Concat_output_0"], name="/model.22/Concat", axis=2))
    nodes.append(helper.make_node("Sigmoid", ["/model.22/Concat_output_0"], ["output0"], name="/model.22/Sigmoid"))
    graph = helper.make_graph(nodes, "yolo_like",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 320, 320])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 2 * c, 2100])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="imgsz", value="[320, 320]")
    return model


# Measures, in a browser, the node labels of a drawn graph figure (the div ``gd``) at its current view: how many
# are in view, their smallest font size, how many pairs overlap, and (given the boxes' widths in layout units, in the
# nodes' order) how many are wider than their box.
LABELS_JS = """(gd, widths) => {
  const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const area = {left: r.left + xa._offset, right: r.left + xa._offset + xa._length,
                top: r.top + ya._offset, bottom: r.top + ya._offset + ya._length};
  const group = Array.from(gd.querySelectorAll('.scatterlayer .trace'))
                     .find(g => g.__data__ && g.__data__[0].trace.meta === 'labels');
  const trace = group.__data__[0].trace;
  const pxPerUnit = xa._length / (xa.range[1] - xa.range[0]);
  const texts = Array.from(group.querySelectorAll('.textpoint')).map(p => p.querySelector('text'));
  const shown = [];
  texts.forEach(t => {
    const b = t.getBoundingClientRect();
    if (!b.width || b.right < area.left || b.left > area.right || b.bottom < area.top || b.top > area.bottom) return;
    const i = trace.customdata[t.parentNode.__data__.i];  // the node's row
    shown.push({b, font: parseFloat(getComputedStyle(t).fontSize), name: t.textContent,
                box: widths ? widths[i] * pxPerUnit : Infinity});
  });
  let overlaps = 0;
  for (let a = 0; a < shown.length; a++) for (let c = a + 1; c < shown.length; c++) {
    const p = shown[a].b, q = shown[c].b;
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom) overlaps++;
  }
  return {shown: shown.length, total: gd._fullData.find(d => d.meta === 'nodes').x.length, min_font_px: Math.min(...shown.map(s => s.font)),
          min_text_height_px: Math.min(...shown.map(s => s.b.height)), overlaps: overlaps,
          overflowing: shown.filter(s => s.b.width > s.box).length, px_per_unit: pxPerUnit,
          labels: shown.map(s => s.name)};
}"""


# The same measures on a canvas view of workbench/charts/graph_canvas.js (``workbenchGraphs[k].views[j]``): the
# labels it drew in its last frame, in CSS pixels, with their boxes' widths.
CANVAS_LABELS_JS = """(view) => {
  const shown = view.labels.filter(l => l.right > 0 && l.left < view.cssW && l.bottom > 0 && l.top < view.cssH);
  let overlaps = 0;
  for (let a = 0; a < shown.length; a++) for (let c = a + 1; c < shown.length; c++) {
    const p = shown[a], q = shown[c];
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom) overlaps++;
  }
  return {shown: shown.length, items: view.scene.k, nodes: view.v.n, scale: view.scale,
          min_font_px: shown.length ? Math.min(...shown.map(s => s.font)) : null, overlaps: overlaps,
          overflowing: shown.filter(s => s.right - s.left > s.box).length, labels: shown.map(s => s.text)};
}"""


def ready_seconds(model) -> tuple[float, int]:
    import plotly.graph_objects as go

    from workbench.graph import from_onnx
    from workbench.widgets.graph_view import GraphView

    t = time.perf_counter()
    view = GraphView(from_onnx(model))
    seconds = time.perf_counter() - t
    assert len(view.nodes_trace.x) == len(view.graph.nodes)
    return seconds, len(view.graph.nodes)


def browser_readability(model, chromium: str = "/usr/bin/chromium") -> dict:
    """The static HTML export of ``model`` opened in Chromium (Debian's, never a download): seconds until drawn,
    and the labels at the default view (LABELS_JS)."""
    import json
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from workbench.charts.graph_canvas import HIERARCHY_MIN_NODES
    from workbench.charts.graph_html import graph_html
    from workbench.graph import collapse, from_onnx, layered_layout
    from workbench.graph.layout import scope_depth

    graph = layered_layout(from_onnx(model))
    if len(graph.nodes) > HIERARCHY_MIN_NODES:  # the page opens grouped by name scope: measure what it shows
        graph = layered_layout(collapse(graph, scope_depth(graph)))
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        path = graph_html([from_onnx(model)], Path(folder) / "graph.html", renderer="plotly")
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1700, "height": 1100})
        t = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_function("document.getElementById('graph0') && "
                               "document.getElementById('graph0').querySelectorAll('.textpoint').length > 0",
                               timeout=120_000)
        drawn = time.perf_counter() - t
        labels = page.evaluate(f"({LABELS_JS})(document.getElementById('graph0'), "
                               f"{json.dumps([float(w) for w in graph.nodes['width']])})")
        browser.close()
    return {"drawn_s": drawn, **{k: v for k, v in labels.items() if k != "labels"}}


# The scripted pan and zoom: down the graph, sideways and back, out to the whole graph and in again — the view
# stays on the graph throughout (a path that leaves it times frames that draw nothing: a fraction of a millisecond,
# below the browser timer's 0.1 ms steps and the machine's scheduling noise). Returns every frame's paint time.
PAN_ZOOM_JS = """async () => {
  const v = workbenchGraphs[0].views[0], next = () => new Promise(r => requestAnimationFrame(r));
  v.frames.length = 0;
  for (let i = 0; i < 30; i++) { v.panBy(0, -40); await next(); }
  for (let i = 0; i < 15; i++) { v.panBy(25, 0); await next(); }
  for (let i = 0; i < 15; i++) { v.panBy(-25, 0); await next(); }
  for (let i = 0; i < 30; i++) { v.zoomBy(0.9, v.cssW / 2, v.cssH / 2); await next(); }
  for (let i = 0; i < 30; i++) { v.zoomBy(1 / 0.9, v.cssW / 2, v.cssH / 2); await next(); }
  for (let i = 0; i < 30; i++) { v.panBy(0, 40); await next(); }
  const frames = v.frames.slice();
  v.home();
  return frames;
}"""


def frame_stats(frames: list[float]) -> dict:
    """Median, 95th and 99th percentiles and worst of paint times (ms)."""
    f = sorted(frames)
    return {"frames": len(f), "median": f[len(f) >> 1], "p95": f[int(len(f) * 0.95)], "p99": f[int(len(f) * 0.99)],
            "worst": f[-1]}


def export_at_scale(nodes: int, folder, renderer: str | None = None) -> dict:
    """The ``workbench graph`` export of a ``nodes``-node residual chain: seconds to read the graph, seconds to lay
    out and write the HTML, and its size."""
    from pathlib import Path

    from workbench.charts.graph_html import graph_html
    from workbench.graph import from_onnx
    from workbench.model import load_model

    proto = synthetic_model(max(1, nodes // 4))
    cpu, t = time.process_time(), time.perf_counter()
    model = load_model(proto)  # as `workbench graph` does: checked, shape-inferred
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    graph = from_onnx(model)
    read = time.perf_counter() - t
    t = time.perf_counter()
    path = graph_html([graph], Path(folder) / f"chain{nodes}{renderer or ''}.html", renderer=renderer)
    written = time.perf_counter() - t
    return {"path": path, "nodes": graph.counts["nodes"], "load_s": loaded, "read_s": read, "write_s": written,
            "total_s": loaded + read + written, "cpu_s": time.process_time() - cpu,
            "mib": path.stat().st_size / 2**20, "canvas": "mountWorkbenchGraph" in path.read_text()[-2000:]}


def cli_export_seconds(nodes: int, folder) -> tuple[float, float]:
    """``workbench graph chain.onnx -o chain.html`` as a user runs it, in a fresh process (imports, loading, shape
    inference, graph data, grouping, layout, writing): wall seconds and the page's MiB."""
    from pathlib import Path

    import onnx

    model, page = Path(folder) / f"cli{nodes}.onnx", Path(folder) / f"cli{nodes}.html"
    if not model.exists():
        onnx.save(synthetic_model(max(1, nodes // 4)), model)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "graph", str(model), "-o", str(page)], check=True,
                   capture_output=True)
    return time.perf_counter() - t, page.stat().st_size / 2**20


def browser_at_scale(path, chromium: str = "/usr/bin/chromium") -> dict:
    """Seconds from navigation to the first drawn frame, and pan/zoom frame times (PAN_ZOOM_JS), in Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        first, page = export_page(path, browser)
        frames = frame_stats(page.evaluate(PAN_ZOOM_JS))
        browser.close()
    return {"first_draw_s": first, **frames}


def export_page(path, browser) -> tuple[float, object]:
    """The export opened in a page of ``browser``: seconds to its first drawn frame, and the page."""
    page = browser.new_page(viewport={"width": 1700, "height": 1100})
    t = time.time()
    page.goto(path.as_uri())
    return first_frame_at(page) - t, page


# JupyterLab's status-bar kernel item ("Python 3 (ipykernel) | Idle"), which shows its kernelDisplayStatus: idle only
# once the kernel is started and connected (the notebook toolbar's indicator reads "idle" before). JupyterLab drops
# a Run All given before that (no cell runs, no error shows), so a page waits for KERNEL_IDLE first.
KERNEL_STATUS = ("Array.from(document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem'))"
                 ".find(e => e.textContent.includes(' | '))")
KERNEL_IDLE = f"(k => k !== undefined && / [|] Idle$/.test(k.textContent.trim()))({KERNEL_STATUS})"


def first_frame_at(page) -> float:
    """The wall-clock time (s) at which the page's first graph drew its first frame, as the renderer recorded it
    (``firstPaintAt``): not the time a poll from here noticed it, which lags by the round trips (0.1-0.2 s)."""
    page.wait_for_function("window.workbenchGraphs && workbenchGraphs.length && "
                           "workbenchGraphs[0].views[0].firstPaintAt !== undefined", timeout=120_000)
    return page.evaluate("workbenchGraphs[0].views[0].firstPaintAt") / 1000


def _jupyterlab(folder):
    """JupyterLab on 127.0.0.1 serving ``folder`` (no news or update checks), as tests/browser/conftest.py starts
    it; returns (process, base url, token)."""
    import os
    import socket
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Path(folder) / ".settings"
    (settings / "overrides").mkdir(parents=True)
    (settings / "overrides" / "overrides.json").write_text(
        '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}')
    token = "bench"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
               "--LabApp.extension_manager=readonly", f"--LabServerApp.app_settings_dir={settings / 'overrides'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings / "user")))
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
            return server, base, token
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("JupyterLab did not start within 120 s")


def widget_at_scale(nodes: int, browser, base: str, token: str, folder) -> dict:
    """The GraphCanvas widget of the ``nodes``-node chain in JupyterLab: seconds from the kernel creating the widget
    to the first drawn frame, less the kernel's time to compute the payload (the export's equivalent is in its
    export time): the payload's trip to the browser and its drawing. And the pan/zoom frame times (PAN_ZOOM_JS)."""
    from pathlib import Path

    import nbformat

    name = f"canvas{nodes}.ipynb"
    cells = [f"import sys, time\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
             "from bench_graph_view import synthetic_model\nfrom workbench.graph import from_onnx\n"
             "from workbench.model import load_model\nfrom workbench.charts.graph_html import canvas_payload\n"
             "from workbench.widgets.graph_canvas_view import GraphCanvas\n"
             f"graph = from_onnx(load_model(synthetic_model({max(1, nodes // 4)})))\n"
             "t = time.perf_counter(); canvas_payload([graph]); payload_s = time.perf_counter() - t",
             "created = time.time(); canvas = GraphCanvas(graph)\nprint(f'created {created} payload {payload_s}')\n"
             "canvas"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, Path(folder) / name)
    page = browser.new_page(viewport={"width": 1700, "height": 1100})
    page.goto(f"{base}/lab/workspaces/{name.split('.')[0]}/tree/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    said = page.locator(".jp-OutputArea-output", has_text="created ").first
    said.wait_for(timeout=120_000)
    drawn_at = first_frame_at(page)
    said = said.inner_text().split()
    created, payload_s = float(said[1]), float(said[3])
    return {"first_draw_s": drawn_at - created - payload_s, "payload_s": payload_s, "page": page}


def scale_report(sizes, browser: bool, repeat: int = 3) -> None:
    import os
    import tempfile

    print(f"at scale (residual chain; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; export = "
          "load_model + from_onnx + HTML, CPU seconds in brackets):")
    exported = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            runs = [export_at_scale(n, folder) for _ in range(repeat)]  # the machine is shared: the fastest run
            e = min(runs, key=lambda r: r["total_s"])
            tried = ", ".join(f"{r['total_s']:.2f}" for r in runs)
            cli = [cli_export_seconds(n, folder) for _ in range(repeat)]
            line = (f"  {e['nodes']:>6} nodes: export {e['total_s']:6.2f} s [{e['cpu_s']:.2f} CPU s] "
                    f"(fastest of {tried} s; load "
                    f"{e['load_s']:.2f} s + graph {e['read_s']:.2f} s + layout/HTML {e['write_s']:.2f} s), "
                    f"{e['mib']:.2f} MiB, {'canvas' if e['canvas'] else 'plotly'}; `workbench graph` process "
                    f"{min(s for s, _ in cli):.2f} s (of {', '.join(f'{s:.2f}' for s, _ in cli)}), "
                    f"{cli[0][1]:.2f} MiB")
            if browser and not e["canvas"]:  # the default is plotly at this size: the canvas view's figures too
                print(line, flush=True)
                e = export_at_scale(n, folder, renderer="canvas")
                line = (f"  {'':>6}  as canvas: export {e['total_s']:6.2f} s [{e['cpu_s']:.2f} CPU s], "
                        f"{e['mib']:.2f} MiB")
            if browser:
                b = exported[n] = {**browser_at_scale(e["path"]), "path": e["path"]}
                line += (f"; first draw {b['first_draw_s']:.2f} s; pan/zoom frames median {b['median']:.1f} ms, "
                         f"p95 {b['p95']:.1f} ms, worst {b['worst']:.1f} ms ({b['frames']} frames)")
            print(line, flush=True)
        if browser:
            widget_report(sizes, exported)


def widget_report(sizes, exported: dict) -> None:
    """The GraphCanvas widget in JupyterLab at each size, and its ratio to the export's figures (goal <= 1.5)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    print("the GraphCanvas widget in JupyterLab against the export, both in one browser while JupyterLab runs "
          "(first draw: from the kernel creating the widget to its first frame, less the kernel's payload time; "
          "frames: the pan/zoom script run three times on each, interleaved):")
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        server, base, token = _jupyterlab(folder)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for n in sizes:
                w = widget_at_scale(n, browser, base, token, folder)
                export_first, export = export_page(exported[n]["path"], browser)
                widget_frames, export_frames = [], []
                for _ in range(3):  # interleaved: the load from other work falls on both alike
                    w["page"].bring_to_front()
                    widget_frames += w["page"].evaluate(PAN_ZOOM_JS)
                    export.bring_to_front()
                    export_frames += export.evaluate(PAN_ZOOM_JS)
                w["page"].close()
                export.close()
                wf, ef = frame_stats(widget_frames), frame_stats(export_frames)
                ratios = {"first draw": w["first_draw_s"] / export_first,
                          **{k: wf[k] / max(ef[k], 0.1) for k in ("median", "p95")}}
                print(f"  {n:>6} nodes: widget first draw {w['first_draw_s']:.2f} s (payload {w['payload_s']:.2f} s), "
                      f"export {export_first:.2f} s; frames median / p95 / p99 / worst: widget {wf['median']:.1f} / "
                      f"{wf['p95']:.1f} / {wf['p99']:.1f} / {wf['worst']:.1f} ms, export {ef['median']:.1f} / "
                      f"{ef['p95']:.1f} / {ef['p99']:.1f} / {ef['worst']:.1f} ms ({wf['frames']} frames each); "
                      "widget / export: " + ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items()) +
                      f" (goal <= 1.5x: {'met' if max(ratios.values()) <= 1.5 else 'NOT met'}); the tail, p99 "
                      f"{wf['p99'] / max(ef['p99'], 0.1):.2f}x and worst {wf['worst'] / max(ef['worst'], 0.1):.2f}x "
                      f"(the 5th and 1st slowest of {wf['frames']} frames: page pauses, 0.1 ms timer steps; their "
                      f"goal is <= 33 ms: {'met' if wf['worst'] <= 33 else 'NOT met'})", flush=True)
        finally:
            browser.close()
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    from workbench.model import load_model

    sizes = [300, 2000, 10_000, 50_000]
    if "--sizes" in sys.argv:
        sizes = [int(v) for v in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    if "--scale-only" in sys.argv:
        scale_report(sizes, "--browser" in sys.argv)
        sys.exit(0)

    model = load_model(synthetic_model())
    cold = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import time, sys
        sys.path.insert(0, "benchmarks")
        t = time.perf_counter()
        from bench_graph_view import ready_seconds, synthetic_model
        from workbench.model import load_model
        model = load_model(synthetic_model())
        ready_seconds(model)
        print(time.perf_counter() - t)
    """)], capture_output=True, text=True, check=True)
    ready_seconds(model)  # warm the imports
    runs = [ready_seconds(model) for _ in range(5)]
    nodes = runs[0][1]
    print(f"graph view of {nodes} nodes (synthetic residual chain), layout + figure + FigureWidget payload:")
    print(f"  warm (median of 5):        {statistics.median(r[0] for r in runs):.3f} s   (goal < 1.5 s)")
    print(f"  cold process, imports incl.: {float(cold.stdout.strip()):.3f} s")
    if "--browser" in sys.argv:
        for name, m in (("309-node YOLO-style detector", yolo_like_model()), ("2,002-node chain", synthetic_model())):
            r = browser_readability(m)
            print(f"readability at the default view, static HTML export in Chromium, {name}:")
            print(f"  drawn in {r['drawn_s']:.2f} s (software rendering); {r['shown']} of {r['total']} labels in view; "
                  f"smallest label {r['min_font_px']:.0f} px (text {r['min_text_height_px']:.0f} px high); "
                  f"{r['overlaps']} overlapping pairs; {r['overflowing']} wider than their box")
    scale_report(sizes, "--browser" in sys.argv)
