"""Q/DQ inside ``If``/``Loop``/``Scan`` bodies, and calibration of the tensors that live there.

ONNX Runtime outputs only main-graph tensors, so a tensor computed inside a body cannot be requested from a
session directly. Of the two ways around it — calibrate each branch inlined as a model of its own, or lift the
tensor out through the node that holds the body — lifting is used: inlining needs the branch's condition (and a
Loop's iteration count and carried state) to be known ahead of the run, while lifting sees exactly the branches
and iterations the calibration data takes. A body tensor is appended to the body's outputs and the If/Loop/Scan
node gets a matching extra output: the other If branch outputs an empty tensor in the same slot (it adds nothing to a
histogram), and a Loop or Scan stacks the tensor of every iteration as a scan output (an output appended after a
body's carried state is a scan output in both), so a range covers every iteration. Only the calibration session's
copy of the model is changed. A branch the data never takes gets no range, and its nodes stay in float.

Only top-level bodies are entered: a body inside a body (an If inside a Scan's body, ...) is neither calibrated nor
quantized, and each weighted op there is reported as left in float, with why (``NESTED_NOTE``).

Quantizing a body reuses the main graph's placement: the body is cut out as a model of its own (the outer-scope
tensors it reads become inputs, the outer weights it reads initializers), quantized like any model, and put back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .calibrate import CalibrationTable

import onnx
from onnx import TensorProto, helper

from .preflight import WEIGHTED_OPS

CONTROL_FLOW_OPS = ("If", "Loop", "Scan")
LIFTED_SUFFIX = ".workbench_calibration"
NESTED_NOTE = (
    "inside a body nested in another body: left in float (calibration and Q/DQ reach top-level If/Loop/Scan "
    "bodies only)"
)


def _bodies(node: onnx.NodeProto) -> list[onnx.AttributeProto]:
    return (
        [
            a
            for a in node.attribute
            if a.type == onnx.AttributeProto.GRAPH and a.name in ("then_branch", "else_branch", "body")
        ]
        if node.op_type in CONTROL_FLOW_OPS
        else []
    )


def _defined_in(graph: onnx.GraphProto) -> set[str]:
    return (
        {i.name for i in graph.input}
        | {t.name for t in graph.initializer}
        | {o for n in graph.node for o in n.output if o}
    )


def outer_references(graph: onnx.GraphProto) -> list[str]:
    """Tensors a body reads from the scopes around it, in first-use order."""
    defined = _defined_in(graph)
    return list(dict.fromkeys(t for n in graph.node for t in n.input if t and t not in defined))


def body_standalone_model(
    body: onnx.GraphProto, outer: onnx.ModelProto, types: dict[str, onnx.TypeProto]
) -> onnx.ModelProto:
    """``body`` as a model of its own: outer weights it reads become initializers, other outer tensors inputs."""
    weights = {t.name: t for t in outer.graph.initializer}
    graph = onnx.GraphProto()
    graph.CopyFrom(body)
    graph.name = f"{body.name or 'body'}_standalone"
    for name in outer_references(body):
        if name in weights:
            graph.initializer.append(weights[name])
        else:
            value = graph.input.add()
            value.name = name
            if name in types:  # the inferred type and shape (the checker wants a shape on every graph input)
                value.type.CopyFrom(types[name])
            else:
                value.type.tensor_type.elem_type = TensorProto.FLOAT
                value.type.tensor_type.shape.SetInParent()
    for value in [*graph.input, *graph.output]:  # bodies may leave shapes out; a model's inputs/outputs may not
        if value.type.HasField("tensor_type") and not value.type.tensor_type.HasField("shape"):
            if value.name in types and types[value.name].tensor_type.HasField("shape"):
                value.type.CopyFrom(types[value.name])
            else:
                value.type.tensor_type.shape.SetInParent()
    model = helper.make_model(graph, opset_imports=list(outer.opset_import))
    model.ir_version = outer.ir_version
    return model


def body_activations(proto: onnx.ModelProto, *, rules: bool = True) -> list[str]:
    """Activations that placement would quantize inside top-level If/Loop/Scan bodies: computed there, or read from
    the main graph."""
    from .qdq import tensorrt_placement

    # The main graph's weights that a body reads are weights there too, never activations: stand-ins that carry
    # their shape (the placement rules read weight dims), not their data.
    weights = {t.name: t for t in proto.graph.initializer}
    names = []
    for node in proto.graph.node:
        for attribute in _bodies(node):
            body = attribute.g
            shell = onnx.GraphProto()  # the body with shape-only weights: placement reads no weight data
            shell.node.extend(body.node)
            shell.output.extend(body.output)
            read = [t for t in body.initializer] + [weights[n] for n in outer_references(body) if n in weights]
            for weight in read:
                shell.initializer.add(name=weight.name, data_type=weight.data_type, dims=weight.dims)
            for decision in tensorrt_placement(shell, None, rules=rules):
                inner = body.node[decision.index]
                names += [inner.input[i] for i in decision.activations]
    return list(dict.fromkeys(names))


def lift_body_tensors(proto: onnx.ModelProto, tensors: list[str]) -> dict[str, str]:
    """Make each of ``tensors`` (inside top-level If/Loop/Scan bodies) an output of the main graph, in place; returns
    main-graph output name -> body tensor. See the module docstring for why and how."""
    wanted = set(tensors)
    lifted: dict[str, str] = {}
    for node in proto.graph.node:
        bodies = _bodies(node)
        found = {
            a.name: [
                t
                for t in dict.fromkeys([*(i.name for i in a.g.input), *(o for n in a.g.node for o in n.output)])
                if t in wanted
            ]
            for a in bodies
        }  # a Loop's carried state is a body input
        everything = [t for a in bodies for t in found[a.name]]
        if not everything:
            continue
        for attribute in bodies:
            body = attribute.g
            for tensor in everything:
                if tensor in {i.name for i in body.input}:
                    # A body input (carried state, a Scan's slice) goes out through a copy: ONNX Runtime's Scan
                    # returned uninitialized memory for a body input that was also a body output.
                    copy = f"{tensor}{LIFTED_SUFFIX}.copy"
                    body.node.append(helper.make_node("Identity", [tensor], [copy], name=copy))
                    body.output.append(helper.make_tensor_value_info(copy, TensorProto.FLOAT, None))
                elif tensor in found[attribute.name]:
                    body.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
                else:  # the other If branch: an empty tensor in the same output slot
                    empty = f"{tensor}{LIFTED_SUFFIX}.empty_{attribute.name}"
                    body.node.append(
                        helper.make_node(
                            "Constant",
                            [],
                            [empty],
                            name=empty,
                            value=helper.make_tensor(empty, TensorProto.FLOAT, [0], []),
                        )
                    )
                    body.output.append(helper.make_tensor_value_info(empty, TensorProto.FLOAT, None))
        if node.op_type == "Scan":
            _extend_scan_output_attributes(node, len(everything))
        for tensor in everything:
            outer_name = f"{tensor}{LIFTED_SUFFIX}"
            node.output.append(outer_name)
            proto.graph.output.append(helper.make_tensor_value_info(outer_name, TensorProto.FLOAT, None))
            lifted[outer_name] = tensor
    return lifted


def _extend_scan_output_attributes(node: onnx.NodeProto, extra: int) -> None:
    """A Scan that lists an axis/direction per scan output needs one for each appended output: axis 0, forward
    (the lifted tensor of every iteration stacked in order)."""
    for attribute in node.attribute:
        if attribute.name in ("scan_output_axes", "scan_output_directions") and len(attribute.ints):
            attribute.ints.extend([0] * extra)


def _scan_body_input_types(node: onnx.NodeProto, types: dict[str, onnx.TypeProto]) -> dict[str, onnx.TypeProto]:
    """The types of a Scan body's inputs, from the Scan's own inputs: carried state as it is, a scan input without
    its scan axis (a body may declare its inputs without shapes; a standalone model's inputs need one)."""
    if node.op_type != "Scan" or not node.attribute:
        return {}
    attributes = {a.name: a for a in node.attribute}
    body = attributes["body"].g
    scan_count = attributes["num_scan_inputs"].i if "num_scan_inputs" in attributes else 0
    state_count = len(body.input) - scan_count
    axes = list(attributes["scan_input_axes"].ints) if "scan_input_axes" in attributes else [0] * scan_count
    result = {}
    for position, (value, outer) in enumerate(zip(body.input, node.input)):
        if not outer or outer not in types or not types[outer].tensor_type.HasField("shape"):
            continue
        body_type = onnx.TypeProto()
        body_type.CopyFrom(types[outer])
        if position >= state_count:
            dims = body_type.tensor_type.shape.dim
            axis = axes[position - state_count] if position - state_count < len(axes) else 0
            axis = axis % len(dims) if len(dims) else 0
            if len(dims) <= axis:
                continue
            del dims[axis]
        result[value.name] = body_type
    return result


def _nested_rows(body: onnx.GraphProto, where: str) -> list[tuple]:
    """Report rows for the weighted ops in bodies inside ``body``, which stay float (``NESTED_NOTE``)."""
    rows = []
    for node in body.node:
        for attribute in node.attribute:
            graphs = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
            for graph in graphs:
                inner_where = f"{attribute.name} | {node.name or node.op_type} | {where}"
                rows += [
                    (f"{n.name or n.op_type} | {inner_where}", n.op_type, False, NESTED_NOTE)
                    for n in graph.node
                    if n.op_type in WEIGHTED_OPS and n.domain in ("", "ai.onnx")
                ]
                rows += _nested_rows(graph, inner_where)
    return rows


def quantize_bodies(proto: onnx.ModelProto, table: CalibrationTable, *, rules: bool = True) -> list[tuple]:
    """Q/DQ into every top-level If/Loop/Scan body of ``proto`` (in place) with the ranges of ``table``; returns
    report rows (node, op, quantized, note) for the bodies' weighted ops, named ``body node | body | If node``.
    Weighted ops in bodies nested inside these stay float, each reported with ``NESTED_NOTE``."""
    from ..errors import ConfigError
    from ..model import load_model
    from ..model.loading import weight_free_copy
    from .qdq import quantize

    if not any(_bodies(n) for n in proto.graph.node):
        return []
    inferred = onnx.shape_inference.infer_shapes(weight_free_copy(proto)).graph
    types = {v.name: v.type for v in [*inferred.value_info, *inferred.input, *inferred.output]}
    rows = []
    for node in proto.graph.node:
        body_types = {**types, **_scan_body_input_types(node, types)}
        for attribute in _bodies(node):
            body = attribute.g
            where = f"{attribute.name} | {node.name}"
            nested = _nested_rows(body, where)
            if not any(n.op_type in WEIGHTED_OPS for n in body.node):
                rows += nested
                continue
            standalone = load_model(
                body_standalone_model(body, proto, body_types), name=f"{node.name}_{attribute.name}"
            )
            try:  # enter_bodies=False: a nested body has no ranges (only top-level bodies are lifted)
                result = quantize(standalone, table, target="tensorrt", rules=rules, enter_bodies=False)
            except ConfigError as exc:  # nothing in this body could be quantized: it stays as it is
                rows.append((where, node.op_type, False, str(exc).split(": ", 1)[-1]))
                rows += nested
                continue
            quantized = onnx.GraphProto()
            quantized.CopyFrom(result.model.proto.graph)
            _restore_body(quantized, body, f"{node.name}.{attribute.name}")
            attribute.g.CopyFrom(quantized)
            rows += [(f"{r.node} | {where}", r.op, bool(r.quantized), r.note) for r in result.report.itertuples()]
            rows += nested
    return rows


def _restore_body(quantized: onnx.GraphProto, original: onnx.GraphProto, prefix: str) -> None:
    """Back to a body: the original inputs and name; the workbench's shared initializers renamed per body (a body
    may not redefine a name of the scope around it)."""
    inputs = [i for i in quantized.input if i.name in {o.name for o in original.input}]
    del quantized.input[:]
    quantized.input.extend(inputs)
    quantized.name = original.name
    own = {t.name for t in original.initializer} | {o for n in original.node for o in n.output}
    own_nodes = {n.name for n in original.node}
    renamed = {}
    for tensor in quantized.initializer:
        if tensor.name not in own:  # scales, zero points, quantized copies of outer weights
            renamed[tensor.name] = f"{prefix}.{tensor.name}"
            tensor.name = renamed[tensor.name]
    for n in quantized.node:  # Q/DQ nodes: their outputs and names unique in the whole model (TensorRT's layers)
        if n.name not in own_nodes:
            n.name = f"{prefix}.{n.name}"
        for i, name in enumerate(n.output):
            if name not in own:
                renamed[name] = f"{prefix}.{name}"
                n.output[i] = renamed[name]
    for n in quantized.node:
        for i, name in enumerate(n.input):
            if name in renamed:
                n.input[i] = renamed[name]
