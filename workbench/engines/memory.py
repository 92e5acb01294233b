"""The dynamic-tensor-memory lesson: TensorRT's activation memory vs the naive sum of every tensor, compared honestly.

TensorRT's "Total Activation Memory" is what the engine reserves on the device, and it has a floor: with
TensorRT-RTX the network is compiled into generated kernels whose scratch space comes with it, and a build given
less than about 8 MiB of workspace fails ("no tactics to implement the operation within workspace limit";
tests/engines/test_engines.py checks this). For a tiny model that floor outweighs all its tensors, so the total exceeds the
naive sum; ``ActivationMemory`` says so instead of calling it a saving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from ..model.tensors import dims_text, itemsize

if TYPE_CHECKING:
    from ..model import Model
    from ..model.tensors import Shapes

_TOTALS = {
    "activation_bytes": r"Total Activation Memory: (\d+)",
    "weights_bytes": r"Total Weights Memory: (\d+)",
    "max_scratch_bytes": r"Max Scratch Memory: (\d+)",
    "host_persistent_bytes": r"Total Host Persistent Memory: (\d+)",
    "device_persistent_bytes": r"Total Device Persistent Memory: (\d+)",
}
_LAYER = re.compile(
    r"Layer: (.*) Host Persistent: (\d+) bytes Device Persistent: (\d+) bytes "
    r"Scratch Memory: (\d+) bytes"
)


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
    per_layer = pd.DataFrame(
        layers, columns=["layer", "host_persistent_bytes", "device_persistent_bytes", "scratch_bytes"]
    )
    return totals, per_layer


def naive_activation_bytes(model: Model, shapes: Shapes) -> int:
    """Sum of the sizes of every node output at ``shapes``, as if no tensor's memory were ever reused."""
    concrete = model.shapes.concrete(shapes)
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


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


@dataclass(frozen=True)
class ActivationMemory:
    """TensorRT's activation total beside the naive sum of the ONNX tensors, both at the profile's max shapes."""

    engine_bytes: int  # "Total Activation Memory": what the engine reserves on the device
    naive_bytes: int  # every ONNX activation tensor with a buffer of its own
    at_shapes: dict = field(default_factory=dict)

    @classmethod
    def from_totals(cls, totals: dict) -> "ActivationMemory | None":
        """From a build's memory totals (``BuildResult.memory``); None when the build's log had no activation total."""
        engine, naive = totals.get("activation_bytes"), totals.get("naive_activation_bytes")
        if engine is None or naive is None or pd.isna(engine) or pd.isna(naive) or engine <= 0 or naive <= 0:
            return None
        return cls(int(engine), int(naive), dict(totals.get("naive_at_shapes") or {}))

    @property
    def saves(self) -> bool:
        return self.engine_bytes < self.naive_bytes

    @property
    def ratio(self) -> float:
        """naive / engine: how many times less the engine reserves (below 1 when it reserves more)."""
        return self.naive_bytes / self.engine_bytes

    @property
    def label(self) -> str:
        """A few words for a chart: "16.7× less" ("5% less" near parity), or that there is no saving."""
        if not self.saves:
            return "no saving: fixed minimum"
        return f"{self.ratio:.1f}× less" if self.ratio >= 1.1 else f"{1 - 1 / self.ratio:.0%} less"

    def describe(self) -> str:
        shapes = ", ".join(f"{name} {dims_text(dims)}" for name, dims in self.at_shapes.items())
        head = (
            f"activation memory{f' at {shapes}' if shapes else ''}: the engine reserves "
            f"{_mib(self.engine_bytes)} on the device vs {_mib(self.naive_bytes)} naive (every ONNX tensor in a "
            "buffer of its own)"
        )
        if self.saves:
            return f"{head}: {self.label}, through fusion and buffer reuse"
        return (
            f"{head}: no saving at this size. The engine's device-memory total includes a fixed minimum "
            "(scratch space its kernels need whatever the tensor sizes: a TensorRT-RTX build given less than "
            "about 8 MiB of workspace fails), which outweighs tensors this small; reuse pays off at larger "
            "shapes (try a larger batch; lesson 05)"
        )


def describe_activation_memory(totals: dict) -> str:
    """One honest sentence on a build's activation memory vs the naive sum ("" when the log reported none)."""
    memory = ActivationMemory.from_totals(totals)
    return memory.describe() if memory is not None else ""
