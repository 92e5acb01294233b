"""Every node of a model, including those inside ``If``/``Loop``/``Scan`` bodies and ONNX-function bodies, each
attributed to the top-level node that holds it; and what each tensor's value depends on (data, shapes, constants).

TensorRT's layer metadata names a node in a body as ``inner | body (attribute) | parent (ParentOp)``; ``NodeIndex``
resolves such names (and plain ones) to the node's real op type and its parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import onnx

# Ops whose output depends on their input's shape only, never on its values.
SHAPE_OPS = frozenset({"Shape", "Size"})


def op_label(node: onnx.NodeProto) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


@dataclass(frozen=True)
class NodeRef:
    """A node somewhere in the model: ``parent`` is the top-level node holding it (None at top level) and
    ``path`` the chain of holding nodes, outermost first."""

    node: onnx.NodeProto
    name: str
    op: str
    path: tuple[str, ...] = ()
    parent_op: str | None = None  # op of the innermost holder (If, Loop, Scan or the function's name)
    via: str = ""  # "then_branch", "body", "function custom.SiLUBlock", ...

    @property
    def parent(self) -> str | None:
        return self.path[0] if self.path else None

    @property
    def key(self) -> tuple[str, ...]:
        return (*self.path, self.name)


def _node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or (node.output[0] if node.output and node.output[0] else f"{node.op_type}_{index}")


def walk_nodes(proto: onnx.ModelProto) -> Iterator[NodeRef]:
    """Top-level nodes in graph order, each followed by the nodes of its bodies (recursively)."""
    functions = {(f.domain, f.name): f for f in proto.functions}

    def walk(nodes, path: tuple[str, ...], parent_op: str | None, via: str):
        for index, node in enumerate(nodes):
            name = _node_name(node, index)
            function = functions.get((node.domain, node.op_type))
            yield NodeRef(node, name, op_label(node), path, parent_op, via)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    yield from walk(attribute.g.node, (*path, name), node.op_type, attribute.name)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    for graph in attribute.graphs:
                        yield from walk(graph.node, (*path, name), node.op_type, attribute.name)
            if function is not None:
                yield from walk(function.node, (*path, name), op_label(node), f"function {op_label(node)}")

    yield from walk(proto.graph.node, (), None, "")


def is_function_call(proto: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    return any(f.domain == node.domain and f.name == node.op_type for f in proto.functions)


def real_op_histogram(proto: onnx.ModelProto) -> list[str]:
    """Op of every node that computes: body nodes included, a function call counted as the ops of its body."""
    functions = {(f.domain, f.name) for f in proto.functions}
    return [ref.op for ref in walk_nodes(proto) if (ref.node.domain, ref.node.op_type) not in functions]


class NodeIndex:
    """Resolve names as TensorRT writes them (``node``, or ``inner | ... | parent (Op)``) to ``NodeRef``s."""

    def __init__(self, proto: onnx.ModelProto):
        self.refs = list(walk_nodes(proto))
        self.by_name: dict[str, NodeRef] = {}
        self.nested: dict[tuple[str, str], NodeRef] = {}
        for ref in self.refs:
            if ref.path:
                self.nested.setdefault((ref.path[0], ref.name), ref)
                for output in ref.node.output:  # TensorRT's name for an unnamed body node
                    if output:
                        self.nested.setdefault((ref.path[0], output), ref)
            else:
                if ref.node.output and ref.node.output[0]:
                    self.by_name.setdefault(ref.node.output[0], ref)
                self.by_name[ref.name] = ref

    def resolve(self, name: str) -> NodeRef | None:
        if " | " in name:
            parts = [p.strip() for p in name.split(" | ")]
            outer = parts[-1]
            if outer.endswith(")") and " (" in outer:
                outer = outer[: outer.rindex(" (")]
            return self.nested.get((outer, parts[0]))
        return self.by_name.get(name)


def tensor_kinds(proto: onnx.ModelProto) -> dict[str, str]:
    """What each top-level tensor's value depends on: "constant" (initializers and what is computed from them
    alone), "shape" (input shapes and constants only: shape arithmetic a builder folds once shapes are fixed) or
    "data". A forward pass in graph order (ONNX graphs are topologically sorted)."""
    kinds = {t.name: "constant" for t in proto.graph.initializer}
    for value in proto.graph.input:
        kinds.setdefault(value.name, "data")
    for node in proto.graph.node:
        inputs = [kinds.get(t, "data") for t in node.input if t]
        has_body = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        if node.op_type in SHAPE_OPS and node.domain in ("", "ai.onnx"):
            kind = "shape"
        elif has_body or node.op_type.startswith("Random") or (not inputs and node.op_type != "Constant"):
            kind = "data"
        elif all(k == "constant" for k in inputs):
            kind = "constant"
        elif all(k in ("constant", "shape") for k in inputs):
            kind = "shape"
        else:
            kind = "data"
        for output in node.output:
            if output:
                kinds[output] = kind
    return kinds
