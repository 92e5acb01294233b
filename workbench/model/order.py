"""Node order and onnx.checker messages: models that ONNX Runtime and TensorRT accept must load.

Some converters (onnxconverter-common's float16 conversion among them) write nodes out of topological order. ONNX
Runtime and TensorRT's parser sort the graph themselves; onnx.checker refuses it. The workbench sorts on load.
"""

from __future__ import annotations

from collections import deque

import onnx


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Names an If/Loop/Scan body reads from the enclosing graph (they order the node like its own inputs)."""
    names: set[str] = set()
    for attribute in node.attribute:
        graphs = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
        for body in graphs:
            defined = {v.name for v in body.input} | {t.name for t in body.initializer}
            for inner in body.node:
                defined.update(inner.output)
            for inner in body.node:
                names.update(n for n in inner.input if n and n not in defined)
                names.update(n for n in _subgraph_inputs(inner) if n not in defined)
            names.update(v.name for v in body.output if v.name not in defined)
    return names


_GRAPH_TYPES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def _in_order(nodes: list, producer: dict[str, int], available: set[str]) -> bool:
    """Whether no node reads a tensor a later node produces (the test below, one pass: 50,000 nodes in a blink)."""
    for index, node in enumerate(nodes):
        for name in node.input:
            if producer.get(name, -1) > index and name not in available:
                return False
        if len(node.attribute) and any(a.type in _GRAPH_TYPES for a in node.attribute):  # most nodes: none
            if any(producer.get(n, -1) > index and n not in available for n in _subgraph_inputs(node)):
                return False
    return True


def sort_nodes_topologically(graph: onnx.GraphProto) -> bool:
    """Reorder ``graph``'s nodes topologically, in place, when they are not; True when it changed anything.

    Hand-written (Kahn's algorithm over the proto, stable for nodes already in order) because onnx-graphsurgeon's
    toposort round-trips the whole model, copying every weight: seconds on a 1 GB model, where this takes
    milliseconds. A graph with a cycle or a missing producer is left as it is, for onnx.checker to describe.
    """
    nodes = list(graph.node)
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    producer = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            producer[name] = index
    if _in_order(nodes, producer, available):  # the usual case, checked without building every node's needs
        return False
    needs = []
    for index, node in enumerate(nodes):
        reads = set(node.input) | _subgraph_inputs(node)
        needs.append({producer[n] for n in reads if n not in available and n in producer and producer[n] != index})
    in_order = all(all(p < index for p in deps) for index, deps in enumerate(needs))
    if in_order:
        return False
    users: list[list[int]] = [[] for _ in nodes]
    waiting = [len(deps) for deps in needs]
    for index, deps in enumerate(needs):
        for p in deps:
            users[p].append(index)
    ready = deque(i for i, count in enumerate(waiting) if count == 0)
    order = []
    while ready:
        index = ready.popleft()
        order.append(index)
        for user in sorted(users[index]):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(order) != len(nodes):
        return False  # a cycle: not a matter of order
    del graph.node[:]
    graph.node.extend(nodes[i] for i in order)
    return True


# What a checker message means for the user, by a phrase it contains (first match wins).
_CHECKER_MEANINGS = (
    (
        "topologically sorted",
        (
            "a node reads a tensor that no node, input or initializer before it produces: the "
            "graph refers to a missing tensor (a cycle, or an edit that removed its producer)"
        ),
    ),
    (
        "No Op registered",
        (
            "an op that standard ONNX does not define at this opset: a custom op, or a node written "
            "for another opset; re-export with standard ops"
        ),
    ),
    (
        "No opset import for domain",
        (
            "a node uses an op domain the model does not declare in its opset imports: "
            "the exporter left it out; re-export the model"
        ),
    ),
    (
        "is not output of any previous nodes",
        ("a node reads a tensor nothing produces: the model is incomplete; re-export it"),
    ),
    (
        "Duplicate definition",
        (
            "two nodes or initializers write the same tensor name: the model was edited by hand "
            "or merged badly; re-export it"
        ),
    ),
    ("elem_type", "a tensor is declared without an element type: the exporter wrote incomplete type information"),
    ("ir_version", "the model's IR version does not fit its opsets: re-save it with a current onnx"),
)


def explain_checker_error(message: str) -> str:
    """The whole checker message (several lines joined) and what it means; '' for the meaning when unknown."""
    text = " ".join(line.strip() for line in message.strip().splitlines() if line.strip()) or "no message"
    for phrase, meaning in _CHECKER_MEANINGS:
        if phrase.lower() in text.lower():
            return f"{text} — meaning: {meaning}"
    return (
        f"{text} — meaning: the file breaks the ONNX standard; ONNX Runtime or TensorRT may still refuse it "
        "later, so re-export the model or fix the node named above"
    )
