"""Shrink a model TensorRT rejects to the smallest subgraph that still fails (Polygraphy's ``debug reduce`` idea).

Polygraphy's ``debug reduce`` drives an external check command over files and asks for a folded, static-shaped model
first; here the same bisection runs in-process on the CPU builder, with the workbench's shapes, a time bound, a
cancel event and progress, and the result names the original ONNX nodes so a graph view can highlight them:

1. fix the input shapes and fold constants (shape arithmetic becomes initializers, as ``surgeon sanitize
   --fold-constants`` does), so cutting the graph never turns a shape computation into an input;
2. bisect the topologically ordered nodes for the shortest failing prefix: its last node is where it fails;
3. keep that node's ancestors and bisect for the shortest failing suffix of them (cut tensors become inputs
   with their inferred shapes).
Both searches assume, as Polygraphy's does, that a failing graph still fails with more nodes added.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence, TYPE_CHECKING

import onnx
import pandas as pd

from ..errors import ConfigError, EngineBuildError, NetworkParseError, WorkbenchError
from ..progress import ProgressCallback, ProgressReporter
from .config import BuildConfig

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from ..model.tensors import Shapes
    from ..model import Model


@dataclass
class Reduction:
    """The smallest failing subgraph found: ``nodes`` (names in the original model), ``model`` (it, as a model
    TensorRT still rejects), TensorRT's ``error`` on it, and how the search went."""

    nodes: list[str]
    model: Model
    error: str
    shapes: dict
    original_nodes: int
    builds: int
    seconds: float
    complete: bool  # False: stopped by the time limit or a cancel (the best found so far)
    stopped: str = ""  # why it stopped early ("cancelled", "time limit of 180 s reached")
    steps: list[dict] = field(default_factory=list)  # one per build: nodes tried, failed, message

    def to_dict(self) -> dict:
        return {
            "nodes": self.nodes,
            "node_count": len(self.nodes),
            "original_nodes": self.original_nodes,
            "error": self.error,
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "builds": self.builds,
            "seconds": round(self.seconds, 2),
            "complete": self.complete,
            "stopped": self.stopped,
            "steps": self.steps,
        }

    @property
    def steps_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.steps, columns=["phase", "nodes", "failed", "message"])

    def _repr_html_(self) -> str:
        import html

        state = "" if self.complete else " (stopped early: the smallest found so far)"
        return (
            f"<div><b>{len(self.nodes)} of {self.original_nodes} ONNX nodes</b> still fail{state}, after "
            f"{self.builds} builds in {self.seconds:.1f} s: {html.escape(', '.join(self.nodes[:20]))}"
            f"<br><i>{html.escape(self.error[:400])}</i></div>"
        )


class _Stop(Exception):
    pass


def _error_signature(message: str) -> str | None:
    """What makes two failures the same: TensorRT's error code ("Error Code 4")."""
    match = re.search(r"Error Code \d+\b", message)  # the kind may change ("API Usage" at build, "Internal" at
    return match.group(0) if match else None  # parse once shapes are static): the code does not


def _fixed(model, shapes: Mapping[str, Sequence[int]]) -> onnx.ModelProto:
    """A copy of the model with its inputs fixed at ``shapes``."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    for value in proto.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name]):
                dim.Clear()
                dim.dim_value = int(size)
    return proto


def _folded(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Constants (shape arithmetic included, the inputs being fixed) folded into initializers."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(proto)
    try:
        graph.fold_constants(error_ok=True).cleanup().toposort()
    except Exception:  # folding is a convenience: the unfolded graph can be reduced too
        return proto
    folded = gs.export_onnx(graph)
    folded.metadata_props.extend(proto.metadata_props)
    return folded


def _value_infos(proto: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # a graph that fails inference still has the declared shapes
        inferred = proto
    g = inferred.graph
    return {v.name: v for v in list(g.input) + list(g.value_info) + list(g.output)}


def _is_concrete(info: onnx.ValueInfoProto | None) -> bool:
    if info is None or not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return False
    return (
        all(d.HasField("dim_value") and d.dim_value > 0 for d in info.type.tensor_type.shape.dim)
        or len(info.type.tensor_type.shape.dim) == 0
    )


def _subgraph(proto: onnx.ModelProto, nodes: Sequence[onnx.NodeProto], infos) -> onnx.ModelProto | None:
    """The nodes as a model: tensors they read but do not make become inputs, tensors nothing in it reads become
    outputs. None when a cut tensor's shape is unknown (such a graph cannot be built at fixed shapes)."""
    initializers = {t.name: t for t in proto.graph.initializer}
    produced = {o for n in nodes for o in n.output if o}
    consumed = [i for n in nodes for i in n.input if i]
    graph_outputs = {o.name for o in proto.graph.output}
    inputs, used_weights = [], []
    for name in dict.fromkeys(consumed):
        if name in produced:
            continue
        if name in initializers:
            used_weights.append(initializers[name])
        elif _is_concrete(infos.get(name)):
            inputs.append(infos[name])
        else:
            return None
    read = set(consumed)
    outputs = []
    for name in dict.fromkeys(o for n in nodes for o in n.output if o):
        if name not in read or name in graph_outputs:
            info = infos.get(name)
            if info is None:
                return None
            outputs.append(info)
    graph = onnx.helper.make_graph(list(nodes), "reduced", inputs, outputs, used_weights)
    sub = onnx.helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    sub.functions.extend(proto.functions)
    return sub


def _ancestors(nodes: Sequence[onnx.NodeProto], target: int) -> list[int]:
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    keep, stack = {target}, [target]
    while stack:
        for tensor in nodes[stack.pop()].input:
            j = producer.get(tensor)
            if j is not None and j not in keep:
                keep.add(j)
                stack.append(j)
    return sorted(keep)


def reduce(
    model: ModelSource,
    shapes: Shapes | None = None,
    *,
    match: str | None = None,
    time_limit: float = 180.0,
    cancel: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    config: BuildConfig | None = None,
) -> Reduction:
    """Shrink ``model`` (any ``load_model`` source) to the smallest subgraph TensorRT still rejects at ``shapes``.

    ``match``: a regular expression the failure message must match to count as the same failure (default: TensorRT's
    error code in the whole model's failure, e.g. "Error Code 4"). Stops after ``time_limit`` seconds or when ``cancel`` is set,
    returning the smallest failing subgraph found so far (``complete=False``). Raises ConfigError when the model
    builds: there is nothing to reduce.
    """
    from ..model import load_model
    from .build import build_engine

    model = load_model(model)
    base = config or BuildConfig()
    if shapes is not None:
        base = dataclasses.replace(base, shapes=dict(shapes))
    fixed = {name: opt for name, (_, opt, _) in base.profiles(model).items()}
    report = ProgressReporter(on_progress, "reduce progress callback")
    started = time.perf_counter()
    steps: list[dict] = []
    stopped = ""

    def attempt(proto: onnx.ModelProto | None, phase: str, count: int, whole: bool = False) -> str | None:
        """TensorRT's message when ``proto`` fails the same way, else None (``whole``: the model as given)."""
        if cancel is not None and cancel.is_set():
            raise _Stop("cancelled")
        if time.perf_counter() - started > time_limit:
            raise _Stop(f"time limit of {time_limit:.0f} s reached")
        if proto is None:
            return None
        sub_shapes = {
            v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in proto.graph.input
            if v.name not in {t.name for t in proto.graph.initializer}
        }
        try:
            if whole:
                build_engine(model, base, cache=None, cancel=cancel)
            else:
                candidate = load_model(proto, check=False, name=f"{model.name}-reduced")
                build_engine(
                    candidate,
                    BuildConfig(shapes=sub_shapes, optimization_level=base.optimization_level),
                    cache=None,
                    cancel=cancel,
                )
            message = None
        except (EngineBuildError, NetworkParseError) as exc:
            message = str(exc)
            if cancel is not None and cancel.is_set():
                raise _Stop("cancelled") from None
        except WorkbenchError as exc:  # the cut itself is not buildable (not the failure looked for)
            steps.append({"phase": phase, "nodes": count, "failed": False, "message": str(exc)[:300]})
            return None
        same = message is not None and (signature is None or re.search(signature, message) is not None)
        steps.append({"phase": phase, "nodes": count, "failed": same, "message": (message or "")[:300]})
        return message if same else None

    # The whole model must fail first (and tells what failure to look for).
    signature = None
    report("reduce: building the whole model", 0.0)
    try:
        whole = attempt(model.proto, "whole model", model.node_count, whole=True)
    except _Stop as stop:
        raise EngineBuildError(
            f"{model.label}: reduction stopped ({stop}) before the whole model was built once"
        ) from None
    if whole is None:
        raise ConfigError(f"{model.label} builds at {model.shapes.describe(fixed)}: there is no failure to reduce")
    signature = match or (re.escape(_error_signature(whole)) if _error_signature(whole) else None)

    proto = _folded(_fixed(model, fixed))
    infos = _value_infos(proto)
    nodes = list(proto.graph.node)
    best_nodes, best_error = nodes, whole
    report("reduce: the model at fixed shapes, constants folded", 0.05)
    try:
        folded_fails = attempt(_subgraph(proto, nodes, infos), "folded model", len(nodes)) is not None
    except _Stop:
        folded_fails = False
    if not folded_fails:
        proto = _fixed(model, fixed)  # folding hid the failure: reduce the model as it is
        infos = _value_infos(proto)
        nodes = best_nodes = list(proto.graph.node)
    expected = 2 * max(1, len(nodes).bit_length()) + 2
    try:
        # 1. the shortest failing prefix: its last node is where the build fails
        lo, hi = 0, len(nodes)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            report(f"reduce: first {mid} of {len(nodes)} nodes", len(steps) / expected)
            message = attempt(_subgraph(proto, nodes[:mid], infos), "prefix", mid)
            if message is not None:
                hi, best_nodes, best_error = mid, nodes[:mid], message
            else:
                lo = mid
        # 2. the failing node's ancestors, then the shortest failing suffix of them
        chain = [nodes[i] for i in _ancestors(nodes[:hi], hi - 1)]
        message = (
            attempt(_subgraph(proto, chain, infos), "ancestors", len(chain)) if len(chain) < len(best_nodes) else None
        )
        if message is not None:
            best_nodes, best_error = chain, message
        else:
            chain = best_nodes
        lo, hi = 0, len(chain)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            report(f"reduce: last {len(chain) - mid} nodes of {len(chain)}", len(steps) / expected)
            message = attempt(_subgraph(proto, chain[mid:], infos), "suffix", len(chain) - mid)
            if message is not None:
                lo, best_nodes, best_error = mid, chain[mid:], message
            else:
                hi = mid
        complete = True
    except _Stop as stop:
        complete, stopped = False, str(stop)
    reduced = _subgraph(proto, best_nodes, infos) or proto
    report("reduce: done" if complete else f"reduce: stopped ({stopped})", 1.0)
    reduced_model = load_model(reduced, check=False, name=f"{model.name}-reduced")
    return Reduction(
        nodes=[n.name or n.output[0] for n in best_nodes],
        model=reduced_model,
        error=best_error,
        shapes=fixed,
        original_nodes=model.node_count,
        builds=len(steps),
        seconds=time.perf_counter() - started,
        complete=complete,
        stopped=stopped,
        steps=steps,
    )
