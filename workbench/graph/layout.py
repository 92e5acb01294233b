"""Top-to-bottom layered layout computed in Python (networkx), so the browser only draws pre-placed nodes.

Measured (research notes, 2,002-node DAG): topological layering plus one barycenter sweep takes 0.005 s, where
dagre in the browser takes 2.2 s (and crashes at 5,000 nodes) and graphviz dot 1.5 s.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .data import GraphData


def layered_layout(graph: GraphData, *, sweeps: int = 2) -> GraphData:
    """Adds ``x`` (position in its layer) and ``y`` (minus the layer: inputs at the top) to ``graph.nodes``.

    Layers are networkx's topological generations; within a layer nodes are ordered by the mean position of their
    predecessors (barycenter), alternating down and up sweeps to reduce edge crossings.
    """
    g = nx.DiGraph()
    g.add_nodes_from(graph.nodes["id"])
    g.add_edges_from(zip(graph.edges["source"], graph.edges["target"]))
    if not nx.is_directed_acyclic_graph(g):  # a malformed graph still gets drawn, in its node order
        layers = [[n] for n in graph.nodes["id"]]
    else:
        layers = [list(layer) for layer in nx.topological_generations(g)]
    position: dict[int, float] = {}
    for layer in layers:
        for i, n in enumerate(layer):
            position[n] = float(i)
    for sweep in range(sweeps * 2):
        down = sweep % 2 == 0
        order = layers[1:] if down else layers[-2::-1]
        for layer in order:
            def barycenter(n):
                neighbours = list(g.predecessors(n) if down else g.successors(n))
                return np.mean([position[m] for m in neighbours]) if neighbours else position[n]
            layer.sort(key=barycenter)
            for i, n in enumerate(layer):
                position[n] = float(i)
    x, y = {}, {}
    for depth, layer in enumerate(layers):
        offset = (len(layer) - 1) / 2.0  # centre each layer
        for i, n in enumerate(layer):
            x[n], y[n] = (i - offset) * 1.6, -float(depth)
    graph.nodes["x"] = graph.nodes["id"].map(x)
    graph.nodes["y"] = graph.nodes["id"].map(y)
    return graph
