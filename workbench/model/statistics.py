"""The statistics side of a model (``model.stats``): op counts, parameters, I/O and op tables, estimated work."""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import pandas as pd

from .model_shapes import ShapesArg
from .subgraphs import real_op_histogram
from .work import lower_bound_note, model_work, work_rows
from .tensors import format_shape, itemsize

if TYPE_CHECKING:
    from .loading import Model


class ModelStatistics:
    """What a model holds and how much work it does: ``model.stats``."""

    def __init__(self, model: "Model") -> None:
        self._model = model
        self._work: dict[tuple, pd.DataFrame] = {}  # per input shapes: inspect's summary and to_dict share one count

    @cached_property
    def op_histogram(self) -> dict[str, int]:
        """Op type → count, most frequent first (non-default domains prefixed, e.g. 'com.microsoft.FusedConv')."""
        # Nodes in If/Loop/Scan bodies count as their real ops, and ONNX-function calls as the ops of their bodies.
        counts = Counter(real_op_histogram(self._model.proto))
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    @cached_property
    def weight_tensors(self) -> list[onnx.TensorProto]:
        """Initializers and the tensors of Constant nodes (where older exporters keep their weights)."""
        tensors = list(self._model.proto.graph.initializer)
        for node in self._model.proto.graph.node:
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                        tensors.append(a.t)
        return tensors

    @cached_property
    def learned_attribute_values(self) -> int:
        """Float values held in attributes of ONNX-ML nodes: a tree ensemble's thresholds and leaf weights, a linear
        model's coefficients (skl2onnx keeps a model's parameters there, not in initializers)."""
        total = 0
        for node in self._model.proto.graph.node:
            if node.domain == "ai.onnx.ml":
                for a in node.attribute:
                    if a.type == onnx.AttributeProto.FLOATS:
                        total += len(a.floats)
                    elif a.type == onnx.AttributeProto.TENSOR:
                        total += int(np.prod(a.t.dims))
        return total

    @cached_property
    def parameter_count(self) -> int:
        """Weights (initializers, Constant-node tensors) and learned ONNX-ML attribute values."""
        return int(sum(int(np.prod(t.dims)) for t in self.weight_tensors)) + self.learned_attribute_values

    @cached_property
    def parameter_bytes(self) -> int:
        weights = sum(int(np.prod(t.dims)) * itemsize(t.data_type) for t in self.weight_tensors)
        return int(weights + 4 * self.learned_attribute_values)  # ONNX-ML attribute floats are float32

    def estimate_flops(self, shapes: ShapesArg = None) -> pd.DataFrame:
        """Per-node MACs and FLOPs at the given input shapes (default: ``model.shapes.default``), with shapes
        propagated past onnx's inference and If/Loop bodies walked (``work.model_work``).

        Columns: node, op_type, macs, flops, shapes_known, graph. ``df.attrs``: input_shapes, branches, not_counted,
        lower_bound (see ``work.estimate_work``). Counted once per input shapes (the symbolic shape pass costs
        seconds on a transformer); each call gets its own copy.
        """
        resolved = self._model.shapes.resolve(shapes)
        key = tuple(sorted((name, tuple(dims)) for name, dims in resolved.items()))
        if key not in self._work:
            self._work[key] = model_work(self._model, resolved)
        return self._work[key].copy()

    def macs(self, shapes: ShapesArg = None) -> int:
        return int(self.estimate_flops(shapes)["macs"].sum())

    def io_table(self) -> pd.DataFrame:
        model = self._model
        rows = [("input", s.name, s.dtype, format_shape(s.shape)) for s in model.inputs]
        rows += [("output", s.name, s.dtype, format_shape(s.shape)) for s in model.outputs]
        return pd.DataFrame(rows, columns=["kind", "name", "dtype", "shape"])

    def op_table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.op_histogram.items()), columns=["op_type", "count"])

    def summary(self, shapes: ShapesArg = None) -> pd.DataFrame:
        """One row per fact: name, I/O, counts, opsets, parameters and estimated work."""
        model = self._model
        work = self.estimate_flops(shapes)
        rows: list[tuple[str, Any]] = [
            ("model", model.name),
            ("source", model.label),
            ("producer", model.producer or "-"),
            ("ir_version", model.ir_version),
            ("opsets", ", ".join(f"{d} {v}" for d, v in model.opsets.items())),
        ]
        rows += [(f"input {s.name}", f"{s.dtype} {format_shape(s.shape)}") for s in model.inputs]
        rows += [(f"output {s.name}", f"{s.dtype} {format_shape(s.shape)}") for s in model.outputs]
        rows += [
            ("nodes", model.node_count),
            ("op types", len(self.op_histogram)),
            ("parameters", f"{self.parameter_count:,}"),
            ("parameter bytes", human_bytes(self.parameter_bytes)),
            ("estimated at", model.shapes.describe(shapes)),
        ]
        rows += work_rows(work)
        out = pd.DataFrame(rows, columns=["property", "value"]).astype({"value": str})
        out.attrs["work"] = work
        return out

    def to_dict(self, shapes: ShapesArg = None) -> dict[str, Any]:
        """JSON-ready description (the CLI's ``inspect --json``)."""
        model = self._model
        work = self.estimate_flops(shapes)
        return {
            "name": model.name,
            "source": model.label,
            "inputs": [s.to_dict() for s in model.inputs],
            "outputs": [s.to_dict() for s in model.outputs],
            "nodes": model.node_count,
            "ops": self.op_histogram,
            "params": self.parameter_count,
            "param_bytes": self.parameter_bytes,
            "opset": model.opset,
            "opsets": model.opsets,
            "producer": model.producer,
            "ir_version": model.ir_version,
            "input_shapes": work.attrs["input_shapes"],
            "estimated_at": model.shapes.describe(shapes),
            "shape_sources": model.shapes.sources(shapes).to_dict(orient="records"),
            "macs": int(work["macs"].sum()),
            "flops": int(work["flops"].sum()),
            "work_note": lower_bound_note(work),
            "control_flow": work.attrs["branches"],
            "shape_inference": work.attrs["shape_inference"],
        }


def human_bytes(n: float) -> str:
    """``1.5 MiB``: a byte count in binary units."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
