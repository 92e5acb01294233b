"""Weights held in Constant nodes instead of initializers (Paddle2ONNX, older tf2onnx and Caffe2 exports): the same
weights, so calibration must not take them for activations and Q/DQ placement must quantize them per channel."""

from __future__ import annotations

import onnx

# Weighted ops and the input slots that carry weights (weight and bias); MatMul/Gemm: B (and Gemm's C).
WEIGHT_SLOTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,)}


def _constant_tensor(node: onnx.NodeProto) -> onnx.TensorProto | None:
    """The tensor of a Constant node's ``value`` attribute (the form exporters write weights in), else None."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    value = next((a for a in node.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR), None)
    if value is None:
        return None
    tensor = onnx.TensorProto()
    tensor.CopyFrom(value.t)
    tensor.name = node.output[0]
    return tensor


def constant_weights(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Constant-node tensors that a weighted op reads as its weight or bias: name -> tensor (named as the output)."""
    constants = {}
    for node in graph.node:
        tensor = _constant_tensor(node)
        if tensor is not None:
            constants[tensor.name] = tensor
    read_as_weight = {
        node.input[i] for node in graph.node for i in WEIGHT_SLOTS.get(node.op_type, ()) if i < len(node.input)
    }
    return {name: tensor for name, tensor in constants.items() if name in read_as_weight}


def lift_constant_weights(graph: onnx.GraphProto) -> list[str]:
    """Move the Constant nodes of ``constant_weights`` into initializers of the same name, in place (same values,
    same consumers); returns the lifted names. Q/DQ placement then treats them like any other weight."""
    lifted = constant_weights(graph)
    if not lifted:
        return []
    kept = [n for n in graph.node if not (n.op_type == "Constant" and n.output and n.output[0] in lifted)]
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(lifted.values())
    return list(lifted)
