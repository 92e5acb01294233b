"""The dynamic-tensor-memory lesson: TensorRT's activation memory (with reuse) vs the naive sum of every tensor."""

from __future__ import annotations

import re

import pandas as pd

from ..model.tensors import itemsize

_TOTALS = {
    "activation_bytes": r"Total Activation Memory: (\d+)",
    "weights_bytes": r"Total Weights Memory: (\d+)",
    "max_scratch_bytes": r"Max Scratch Memory: (\d+)",
    "host_persistent_bytes": r"Total Host Persistent Memory: (\d+)",
    "device_persistent_bytes": r"Total Device Persistent Memory: (\d+)",
}
_LAYER = re.compile(r"Layer: (.*) Host Persistent: (\d+) bytes Device Persistent: (\d+) bytes "
                    r"Scratch Memory: (\d+) bytes")


def memory_from_log(messages: list[str]) -> tuple[dict, pd.DataFrame]:
    """Totals and the per-layer persistent/scratch table from the builder's log messages."""
    totals: dict[str, int | None] = {k: None for k in _TOTALS}
    layers = []
    for msg in messages:
        if "Memory" not in msg:  # cheap filter: a build logs thousands of messages
            continue
        for key, pattern in _TOTALS.items():
            m = re.search(pattern, msg)
            if m:
                totals[key] = int(m.group(1))
        m = _LAYER.match(msg)
        if m:
            layers.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    per_layer = pd.DataFrame(layers, columns=["layer", "host_persistent_bytes", "device_persistent_bytes",
                                              "scratch_bytes"])
    return totals, per_layer


def naive_activation_bytes(model, shapes) -> int:
    """Sum of the sizes of every node output at ``shapes``, as if no tensor's memory were ever reused."""
    concrete = model.concrete_tensor_shapes(shapes)
    import onnx

    elem = {}
    g = model.proto.graph
    for v in list(g.input) + list(g.value_info) + list(g.output):
        if v.type.HasField("tensor_type"):
            elem[v.name] = v.type.tensor_type.elem_type
    total = 0.0
    for node in g.node:
        if node.op_type == "Constant":
            continue  # constants are weights, not activations
        for out in node.output:
            if out in concrete:
                size = 1
                for d in concrete[out]:
                    size *= d
                total += size * itemsize(elem.get(out, onnx.TensorProto.FLOAT))
    return int(total)
