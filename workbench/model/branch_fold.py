"""Fold a top-level ``If`` on a boolean graph input into the branch a build picks.

optimum's merged decoders ("decoder_model_merged.onnx") choose between the first step and later steps with an ``If``
on the graph input ``use_cache_branch``. When the two branches give differently shaped outputs, TensorRT-RTX 1.7's
Myelin cannot build the ``If`` ("the producer does not dominate the use"); with the condition known (decode: the
cache is used), the ``If`` is only its chosen branch, so the model is rewritten to that branch's nodes. onnx and
onnx-graphsurgeon have no inliner for If branches (constant folding needs a constant condition, and a graph input is
none), hence this small one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import onnx
from onnx import helper

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    from .loading import Model


@dataclass(frozen=True)
class BranchSwitch:
    """A top-level ``If`` whose condition is a boolean graph input."""

    node: str
    condition: str


def branch_switches(model: onnx.ModelProto) -> list[BranchSwitch]:
    """Every top-level ``If`` whose condition is a boolean graph input (optimum's ``use_cache_branch``)."""
    inputs = {v.name: v for v in model.graph.input}
    out = []
    for node in model.graph.node:
        if node.op_type == "If" and node.domain in ("", "ai.onnx") and node.input and node.input[0] in inputs:
            if inputs[node.input[0]].type.tensor_type.elem_type == onnx.TensorProto.BOOL:
                out.append(BranchSwitch(node.name or node.output[0], node.input[0]))
    return out


def fold_branch_switch(model: onnx.ModelProto, condition: str, value: bool) -> onnx.ModelProto:
    """A copy of ``model`` with every top-level ``If`` on the graph input ``condition`` replaced by the nodes of its
    ``then`` (``value`` True) or ``else`` branch, and ``condition`` (and any input nothing reads any more) removed.
    Branch tensors that clash with names of the outer graph are renamed."""
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    if not any(s.condition == condition for s in branch_switches(model)):
        raise ModelError(f"no top-level If on the boolean graph input '{condition}' to fold")
    taken = {t for n in graph.node for t in (*n.input, *n.output)} | {i.name for i in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if not (node.op_type == "If" and node.input and node.input[0] == condition):
            nodes.append(node)
            continue
        branch = next(a.g for a in node.attribute if a.name == ("then_branch" if value else "else_branch"))
        produced = {t for n in branch.node for t in n.output} | {i.name for i in branch.initializer}
        outer = taken - set(node.output)  # a branch output named as the If's own output stays that tensor
        rename = {t: f"{node.name or 'if'}/{'then' if value else 'else'}/{t}" for t in produced if t in outer}

        def renamed(name: str, rename: dict[str, str] = rename) -> str:
            return rename.get(name, name)

        for init in branch.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = renamed(init.name)
            graph.initializer.append(copy)
        for inner in branch.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(inner)
            copy.input[:] = [renamed(t) if t else t for t in inner.input]
            copy.output[:] = [renamed(t) if t else t for t in inner.output]
            nodes.append(copy)
        for b_out, if_out in zip(branch.output, node.output):
            if renamed(b_out.name) != if_out:  # an outer tensor or a renamed one: copied to the If's output name
                nodes.append(helper.make_node("Identity", [renamed(b_out.name)], [if_out], name=f"{if_out}/branch"))
    del graph.node[:]
    graph.node.extend(nodes)
    read = {t for n in graph.node for t in n.input} | {o.name for o in graph.output}
    _read_in_bodies(graph, read)
    kept = [i for i in graph.input if i.name in read and i.name != condition]
    del graph.input[:]
    graph.input.extend(kept)
    return folded


def _read_in_bodies(graph: onnx.GraphProto, read: set[str]) -> None:
    """Add the names that nested bodies read from outer scopes."""
    for node in graph.node:
        for attr in node.attribute:
            for body in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                read.update(t for n in body.node for t in n.input)
                _read_in_bodies(body, read)


def fold_switches(model: onnx.ModelProto, values: Mapping[str, bool]) -> onnx.ModelProto:
    """``model`` with the Ifs on every condition in ``values`` folded into the branch its value picks."""
    for condition, value in values.items():
        model = fold_branch_switch(model, condition, value)
    return model


def branches_agree(
    model: onnx.ModelProto, conditions: Sequence[str], input_shapes: Mapping[str, Sequence[int]]
) -> bool:
    """Whether both branches of the Ifs on ``conditions`` give outputs of one shape at ``input_shapes`` (the shapes
    of a build), by ONNX shape inference of each branch folded in: the case TensorRT-RTX's Myelin builds. Outputs
    whose shapes cannot be inferred count as different (no proof that they agree)."""
    from .model_shapes import shape_only_copy

    outputs = [
        o for n in model.graph.node if n.op_type == "If" and n.input and n.input[0] in conditions for o in n.output
    ]
    found = []
    for value in (True, False):
        folded = fold_switches(model, dict.fromkeys(conditions, value))
        kept = {i.name for i in folded.graph.input}
        light = shape_only_copy(folded, {k: v for k, v in input_shapes.items() if k in kept})
        try:
            inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
        except Exception:  # noqa: BLE001  no inferred shapes: no proof that the branches agree
            return False
        shapes = {}
        for v in list(inferred.graph.value_info) + list(inferred.graph.output):
            dims = v.type.tensor_type.shape.dim if v.type.tensor_type.HasField("shape") else None
            if dims is not None and all(d.HasField("dim_value") for d in dims):
                shapes[v.name] = tuple(d.dim_value for d in dims)
        found.append([shapes.get(o) for o in outputs])
    return None not in found[0] and found[0] == found[1]


def fold_model(model: "Model", values: Mapping[str, bool]) -> "Model":
    """The workbench Model with its branch switches folded as ``values`` say (``{"use_cache_branch": True}``),
    labelled so, at the shapes the original resolves to (its presets and dim relations, which the folded model may
    no longer carry: the first step's branch reads no ``past_*`` input). A name that is no branch switch of the model
    is a ConfigError naming it."""
    from .loading import Model
    from .model_shapes import ModelShapes

    switches = branch_switches(model.proto)
    for condition in values:
        if not any(s.condition == condition for s in switches):
            found = ", ".join(f"'{s.condition}' (If '{s.node}')" for s in switches) or "none"
            raise ConfigError(
                f"'{condition}' was given a value, but {model.label} has no top-level If on a boolean input of that "
                f"name (boolean If conditions among its inputs: {found})"
            )
    resolved = model.shapes.resolve()
    setting = ", ".join(f"{c}={str(v).lower()}" for c, v in values.items())
    folded = Model(
        fold_switches(model.proto, values), label=f"{model.label} [{setting}]", base_dir=model.base_dir, name=model.name
    )
    kept = {s.name for s in folded.inputs}
    folded.shapes = ModelShapes(folded, {name: dims for name, dims in resolved.items() if name in kept})
    return folded
