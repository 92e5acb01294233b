"""Graph view speed (issue: graph widget): layout plus widget payload for a 2,000-node graph in < 1.5 s.

Measured in Python: ONNX graph -> GraphData -> layered layout -> plotly figure -> FigureWidget (the payload the
browser receives). The first FigureWidget in a process also pays plotly/anywidget's one-time start-up; both are
printed. The browser side is checked in tests/browser (nodes drawn, click highlights).
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


def ready_seconds(model) -> tuple[float, int]:
    import plotly.graph_objects as go

    from workbench.charts import graph_figure
    from workbench.graph import from_onnx, layered_layout

    t = time.perf_counter()
    graph = layered_layout(from_onnx(model))
    widget = go.FigureWidget(graph_figure(graph))
    seconds = time.perf_counter() - t
    assert len(widget.data[2].x) == len(graph.nodes)
    return seconds, len(graph.nodes)


if __name__ == "__main__":
    from workbench.model import load_model

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
