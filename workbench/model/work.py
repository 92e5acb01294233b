"""Work counts (MACs, FLOPs) of a whole model at concrete input shapes: every tensor's shape propagated, control-flow
bodies walked, and what still has no shape said ("lower bound: N nodes not counted (ops ...)").

Shapes come from onnx's shape inference (with data propagation) first; where it stops — Reshape targets computed from
``Shape`` chains as torch.onnx writes them, com.microsoft ops, subgraph outputs — ONNX Runtime's symbolic shape
inference fills the gaps. Symbolic inference rather than one ONNX Runtime run with every intermediate as an output:
it needs neither the weights nor the activations (a run at 50,000 nodes holds every activation alive at once, GBs
for an LLM at 512+512, and needs the whole model's weights loaded), and it is linear in the node count. It is run
only when onnx's inference left a counted node without shapes, so the common case costs nothing more. Measured on
BERT-base from torch.onnx (1,430 nodes, a loaded 2-core machine): onnx alone 0.7 s, with the symbolic pass 5.7 s
(about 4 ms a node: a 50,000-node model needs minutes; benchmarks/bench_work_counts.py prints it).
"""

from __future__ import annotations

import importlib.util
import logging
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import onnx
import pandas as pd

from . import flops as _flops

if TYPE_CHECKING:
    from .loading import Model
    from .model_shapes import ShapesArg

Shapes = dict[str, tuple[int, ...]]
CONTROL_FLOW_OPS = ("If", "Loop", "Scan")
COLUMNS = ["node", "op_type", "macs", "flops", "shapes_known", "graph"]
_SYMBOLIC_MODULE = "workbench_ort_symbolic_shape_infer"  # also its logger's name


def _concrete(type_proto: onnx.TypeProto) -> tuple[int, ...] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = type_proto.tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _graphs(graph: onnx.GraphProto, path: str = ""):
    """(path, graph) of ``graph`` and every subgraph inside it. A path names the owning node by its first output
    (unique in a model) and the attribute, so inferred copies (which may reorder nodes) map back."""
    yield path, graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g, f"{path}/{node.output[0] if node.output else node.name}:{a.name}")


def _shapes_of(graph: onnx.GraphProto) -> Shapes:
    shapes = {}
    for v in list(graph.input) + list(graph.value_info) + list(graph.output):
        shape = _concrete(v.type)
        if shape is not None:
            shapes[v.name] = shape
    for t in graph.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
    return shapes


def _merge(model: onnx.ModelProto, into: dict[str, Shapes]) -> None:
    for path, graph in _graphs(model.graph):
        for name, shape in _shapes_of(graph).items():
            into.setdefault(path, {}).setdefault(name, shape)


def _missing(graph: onnx.GraphProto, found: Mapping[str, Shapes]) -> bool:
    """Does a node that counts work (or a control-flow node) lack a shape it needs? (Outer-scope names are looked
    up in every graph's shapes: enough for deciding whether to run the second inference.)"""
    everything = {name for shapes in found.values() for name in shapes}
    for _, g in _graphs(graph):
        known = everything
        for node in g.node:
            if node.op_type in _flops.COUNTED_OPS or node.op_type in CONTROL_FLOW_OPS:
                if any(n and n not in known for n in list(node.input) + list(node.output)):
                    return True
    return False


@lru_cache(maxsize=1)
def _symbolic_module():
    """onnxruntime/tools/symbolic_shape_infer.py loaded by itself: the ``onnxruntime.tools`` package imports torch
    when torch is installed (seconds to tens of seconds), which shape inference never needs."""
    import onnxruntime

    path = Path(onnxruntime.__file__).parent / "tools" / "symbolic_shape_infer.py"
    spec = importlib.util.spec_from_file_location(_SYMBOLIC_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _symbolic(light: onnx.ModelProto) -> onnx.ModelProto | None:
    """ONNX Runtime's symbolic shape inference, without its habit of saving a file in the current folder when it
    cannot finish: the shapes it did find are what counts. None when it fails outright."""
    quiet = logging.getLogger(_SYMBOLIC_MODULE)
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        SymbolicShapeInference = _symbolic_module().SymbolicShapeInference
        inference = SymbolicShapeInference(2**31 - 1, auto_merge=True, guess_output_rank=False, verbose=0)
        inference._preprocess(light)
        while inference.run_:
            inference._infer_impl()
        inference._update_output_from_vi()
        return inference.out_mp_
    except Exception:  # noqa: BLE001 - a bonus on top of onnx's inference; what it cannot do stays "not counted"
        return None
    finally:
        quiet.setLevel(level)


def propagate_shapes(light: onnx.ModelProto) -> tuple[dict[str, Shapes], str]:
    """Concrete shapes of every tensor of ``light`` (a weight-free copy with its inputs fixed) per graph path (see
    ``_graphs``; "" is the main graph), and which inference gave them ("onnx" or "onnx + onnxruntime symbolic")."""
    found: dict[str, Shapes] = {}
    try:
        inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # noqa: BLE001 - symbolic inference below may still manage
        inferred = light
    _merge(inferred, found)
    source = "onnx"
    if _missing(light.graph, found):
        symbolic = _symbolic(light)
        if symbolic is not None:
            _merge(symbolic, found)
            source = "onnx + onnxruntime symbolic"
    return found, source


def _constant_value(name: str, graph: onnx.GraphProto) -> np.ndarray | None:
    for t in graph.initializer:
        if t.name == name:
            return onnx.numpy_helper.to_array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] == name:
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    return onnx.numpy_helper.to_array(a.t)
    return None


def _sub_path(path: str, node: onnx.NodeProto, attribute: str) -> str:
    return f"{path}/{node.output[0] if node.output else node.name}:{attribute}"


class _Counter:
    def __init__(self, shapes: dict[str, Shapes], constants: onnx.GraphProto):
        self.shapes = shapes
        self.constants = constants  # the original graph: holds the weights and Constant values
        self.branches: list[str] = []
        self.lower_bound_reasons: list[str] = []

    def graph_rows(
        self, graph: onnx.GraphProto, outer: Shapes, scope: str, scale: int = 1, path: str = ""
    ) -> list[tuple]:
        known = {**outer, **self.shapes.get(path, {})}
        rows: list[tuple] = []
        for index, node in enumerate(graph.node):
            name = f"{scope}{node.name or f'{node.op_type}_{index}'}"
            if node.op_type in CONTROL_FLOW_OPS:
                rows.append((name, node.op_type, 0, 0, True, scope.rstrip("/")))
                rows += getattr(self, f"_{node.op_type.lower()}_rows")(node, name, known, scale, path)
            else:
                macs, flops, ok = _flops.estimate_node(node, known)
                rows.append((name, node.op_type, macs * scale, flops * scale, ok, scope.rstrip("/")))
        return rows

    def _body(self, node, attribute, name, known, scale, path):
        body = next(a.g for a in node.attribute if a.name == attribute)
        return self.graph_rows(body, known, f"{name}/{attribute}/", scale, _sub_path(path, node, attribute))

    def _if_rows(self, node, name, known, scale, path):
        counted = {b: self._body(node, b, name, known, scale, path) for b in ("then_branch", "else_branch")}
        cond = _constant_value(node.input[0], self.constants)
        if cond is not None and cond.size == 1:
            chosen = "then_branch" if bool(cond.reshape(())) else "else_branch"
            why = "its condition is constant"
        else:  # decided at run time: the heavier branch, the other's figure said
            chosen = max(counted, key=lambda b: sum(r[2] for r in counted[b]))
            other = "else_branch" if chosen == "then_branch" else "then_branch"
            why = f"the larger; {other}: {sum(r[2] for r in counted[other]) / 1e9:.4g} GMACs"
        self.branches.append(f"If '{name}': {chosen} counted ({why})")
        return counted[chosen]

    def _loop_rows(self, node, name, known, scale, path):
        trips = _constant_value(node.input[0], self.constants) if node.input and node.input[0] else None
        if trips is not None and trips.size == 1:
            count = int(trips.reshape(()))
            self.branches.append(f"Loop '{name}': body counted {count} times (constant trip count)")
        else:
            count = 1
            self.lower_bound_reasons.append(f"Loop '{name}': trip count not constant, body counted once")
        return self._body(node, "body", name, known, scale * count, path)

    def _scan_rows(self, node, name, known, scale, path):
        first = known.get(node.input[-1]) if node.input else None  # a scan input: its first axis is the length
        steps = first[0] if first else None
        if steps is None:
            self.lower_bound_reasons.append(f"Scan '{name}': length unknown, body counted once")
        return self._body(node, "body", name, known, scale * (steps or 1), path)


def estimate_work(
    proto: onnx.ModelProto, light: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]]
) -> pd.DataFrame:
    """Per-node MACs and FLOPs of ``proto`` with shapes propagated on ``light`` (its weight-free copy with the inputs
    fixed at ``input_shapes``, node for node the same graphs).

    Columns: node, op_type, macs, flops, shapes_known, graph (the If/Loop body a node lies in, "" for the main
    graph). Nodes of the If branch not counted are left out (``attrs['branches']`` says which was counted); a Loop
    body's work is multiplied by its constant trip count. ``attrs``: input_shapes, shape_inference, branches,
    lower_bound_reasons, not_counted ({op: count} of nodes whose shapes are still unknown), lower_bound (the note
    ``lower_bound_note`` gives, None when every node was counted).
    """
    shapes, source = propagate_shapes(light)
    # The shapes are keyed by the light copy's graphs: walk the light copy, read constants from the original.
    counter = _Counter(shapes, proto.graph)
    rows = counter.graph_rows(light.graph, {}, "")
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["input_shapes"] = {k: list(v) for k, v in input_shapes.items()}
    df.attrs["shape_inference"] = source
    df.attrs["branches"] = counter.branches
    df.attrs["lower_bound_reasons"] = counter.lower_bound_reasons
    df.attrs["not_counted"] = dict(Counter(df.loc[~df["shapes_known"], "op_type"]).most_common())
    df.attrs["lower_bound"] = lower_bound_note(df)
    return df


def fixed_input_copy(proto: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]]) -> onnx.ModelProto:
    """The weight-free copy of ``proto`` (``weight_free_copy``) with its inputs fixed at ``input_shapes`` and every
    inferred or declared shape past the inputs cleared, so inference starts from the concrete inputs alone."""
    from .loading import weight_free_copy

    light = weight_free_copy(proto)
    del light.graph.value_info[:]
    for value in light.graph.input:
        if value.name in input_shapes and value.type.HasField("tensor_type"):
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for size in input_shapes[value.name]:
                shape.dim.add().dim_value = int(size)
    for out in light.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    return light


def model_work(model: Model, shapes: ShapesArg = None) -> pd.DataFrame:
    """``estimate_work`` of a workbench ``Model`` at ``shapes`` (its defaults where not given)."""
    resolved = model.shapes.resolve(shapes)
    return estimate_work(model.proto, fixed_input_copy(model.proto, resolved), resolved)


def lower_bound_note(work: pd.DataFrame) -> str | None:
    """ "lower bound: 3 nodes not counted (ops LSTM x2, Gemm)" when some work could not be counted, else None."""
    not_counted = work.attrs.get("not_counted") or {}
    parts = []
    if not_counted:
        ops = ", ".join(op if n == 1 else f"{op} x{n}" for op, n in not_counted.items())
        total = sum(not_counted.values())
        parts.append(
            f"{total} node{'s' if total != 1 else ''} not counted (ops {ops}): their shapes are unknown "
            "at these input shapes"
        )
    parts += work.attrs.get("lower_bound_reasons") or []
    return "lower bound: " + "; ".join(parts) if parts else None


def work_rows(work: pd.DataFrame) -> list[tuple[str, str]]:
    """The summary rows of a work count: GMACs, GFLOPs (marked "at least" when a lower bound), what was counted."""
    note = lower_bound_note(work)
    prefix = "at least " if note else ""
    rows = [
        ("GMACs", f"{prefix}{round(work['macs'].sum() / 1e9, 4)}"),
        ("GFLOPs", f"{prefix}{round(work['flops'].sum() / 1e9, 4)}"),
    ]
    rows += [("control flow", b) for b in work.attrs.get("branches") or []]
    if note:
        rows.append(("work counted", note))
    return rows


__all__ = ["fixed_input_copy", "estimate_work", "model_work", "lower_bound_note", "work_rows", "propagate_shapes"]
