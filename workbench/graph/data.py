"""Graphs as two DataFrames (nodes, edges) for every graph the workbench shows: the ONNX model (or ONNX Runtime's
optimized model), TensorRT's network before fusion, and the engine's layers after fusion.

Nodes: ``id, name, op, category, precision, stream, members, details, macs, flops`` (``members``: the ONNX nodes an
engine layer or a collapsed group holds; ``macs``/``flops``: estimated work, NaN where unknown). Edges: ``source, target, tensor, shape, dtype``. Graph inputs and outputs are nodes of
category ``input/output``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol, TYPE_CHECKING

import pandas as pd

from ..model import load_model
from ..model.flops import concrete_shapes, estimate_node
from ..model.subgraphs import NodeIndex, walk_nodes
from ..model.tensors import format_shape
from .categories import category

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    from ..model.tensors import Shapes
    from ..model import Model


class FusionReasons(Protocol):
    """What ``with_fusion_reasons`` reads of an ``engines.FusionSummary`` (a higher layer, so not imported here)."""

    unmapped_onnx_nodes: list[dict]


NODE_COLUMNS = ["id", "name", "op", "category", "precision", "stream", "members", "details", "macs", "flops"]
# ``macs``/``flops``: the node's estimated work (``model.flops``; a group: its nodes' sum), NaN where the shapes it
# needs are unknown (and for TensorRT layers, whose work the workbench does not estimate).
EDGE_COLUMNS = ["source", "target", "tensor", "shape", "dtype"]


@dataclass
class GraphData:
    """One graph: ``kind`` (onnx, network, engine, onnxruntime), a title, nodes and edges (see module doc)."""

    kind: str
    title: str
    nodes: pd.DataFrame
    edges: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        inner = self.nodes[self.nodes.category != "input/output"]
        return {
            "nodes": int(len(inner)),
            "edges": int(len(self.edges)),
            "groups": int((self.nodes.category == "group").sum()),
            "inputs_outputs": int(len(self.nodes) - len(inner)),
        }

    def find(self, query: str) -> list[int]:
        """Node ids whose name or op contains ``query`` (case-insensitive), exact names first."""
        q = str(query).strip().lower()
        if not q:
            return []
        names = self.nodes["name"].str.lower()
        exact = self.nodes.index[names == q].tolist()
        partial = self.nodes.index[
            (names.str.contains(q, regex=False) | self.nodes["op"].str.lower().str.contains(q, regex=False))
        ].tolist()
        return list(dict.fromkeys(exact + partial))

    def __repr__(self) -> str:
        c = self.counts
        return f"<GraphData {self.kind} '{self.title}': {c['nodes']} nodes, {c['edges']} edges>"


def _format_attribute(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, … ({len(value)})]"
    if hasattr(value, "dims"):  # a TensorProto attribute
        return f"tensor {list(value.dims)}"
    return str(value)


@lru_cache(maxsize=4096)  # the shapes of a large model repeat: each distinct one formatted once
def _cached_shape_text(shape: tuple | None) -> str:
    return format_shape(shape)


def _shape_text(shape) -> str:
    try:
        return _cached_shape_text(shape)
    except TypeError:  # a list: not hashable
        return format_shape(shape)


def _columns(rows: list[dict]) -> dict[str, list]:
    """Node rows as one list per column (missing values NaN): a DataFrame is built from columns in one step, where
    a list of 50,000 dicts costs pandas a per-row conversion."""
    return {c: [r.get(c, math.nan) for r in rows] for c in NODE_COLUMNS}


def _connect(
    columns: dict[str, list],
    producers: dict[str, int],
    consumers: list[tuple[int, str]],
    shapes: dict,
    dtypes: dict,
    graph_inputs: list[str],
    graph_outputs: list[str],
) -> tuple[dict[str, list], dict[str, list]]:
    """Edges producer -> consumer per tensor (as columns); graph inputs/outputs become io nodes."""
    formatted: dict[str, str] = {}

    def shape_text(name: str) -> str:
        found = formatted.get(name)
        if found is None:
            found = formatted[name] = _shape_text(shapes.get(name))
        return found

    def add_io(name: str, op: str) -> int:
        node_id = len(columns["id"])
        values = (
            node_id,
            name,
            op,
            "input/output",
            dtypes.get(name, ""),
            0,
            [],
            {"tensor": name, "shape": shape_text(name), "dtype": dtypes.get(name, "")},
            math.nan,
            math.nan,
        )
        for c, v in zip(NODE_COLUMNS, values):
            columns[c].append(v)
        return node_id

    for name in graph_inputs:
        producers[name] = add_io(name, "input")
    found = [(producers[t], node_id, t) for node_id, t in consumers if t in producers]
    sources = [s for s, _, _ in found]
    targets = [t for _, t, _ in found]
    tensors = [t for _, _, t in found]
    for name in graph_outputs:
        out_id = add_io(name, "output")
        if name in producers:
            sources.append(producers[name])
            targets.append(out_id)
            tensors.append(name)
    edges: dict[str, list] = {
        "source": sources,
        "target": targets,
        "tensor": tensors,
        "shape": [shape_text(t) for t in tensors],
        "dtype": [dtypes.get(t, "") for t in tensors],
    }
    return columns, edges


def _frames(columns: dict[str, list], edges: dict[str, list]) -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes = pd.DataFrame(columns, columns=NODE_COLUMNS)
    nodes.index = nodes["id"]
    return nodes, pd.DataFrame(edges, columns=EDGE_COLUMNS)


def _layer_graph(kind, title, rows, producers, consumers, shapes, dtypes) -> GraphData:
    """A TensorRT layer list as a graph: tensors nobody produces are its inputs, tensors nobody reads its outputs."""
    graph_inputs = sorted({t for _, t in consumers if t not in producers})
    consumed = {t for _, t in consumers}
    graph_outputs = [t for t in producers if t not in consumed]
    columns, edges = _connect(_columns(rows), producers, consumers, shapes, dtypes, graph_inputs, graph_outputs)
    nodes, edge_frame = _frames(columns, edges)
    return GraphData(kind, title, nodes, edge_frame)


def _drawing_shapes(model, shapes) -> dict:
    """Tensor shapes for the view, from one shape inference: with static inputs and no ``shapes`` given, the one
    run at load is concrete already (on a 50,000-node model a second run costs seconds); otherwise inference at
    the resolved input shapes, or the load's symbolic shapes when that fails (symbolic shapes are fine to draw)."""
    if shapes is None and not any(spec.is_dynamic for spec in model.inputs):
        return model.shapes.declared
    try:
        return model.shapes.concrete(shapes)
    except Exception:
        return model.shapes.declared


def from_onnx(
    model: ModelSource, shapes: Shapes | None = None, *, kind: str = "onnx", title: str | None = None
) -> GraphData:
    """The ONNX graph: one node per ONNX node with its estimated work (``macs``, ``flops``), edges per tensor with
    its shape (at ``shapes`` when given)."""
    from onnx import helper

    model = load_model(model)
    tensor_shapes = _drawing_shapes(model, shapes)
    dtypes = model.tensor_dtypes
    weights = model.initializer_names
    body_ops = _body_ops(model.proto)
    producers: dict[str, int] = {}
    consumers: list[tuple[int, str]] = []
    descriptions: dict[str, str] = {}  # a tensor is described once (as an output, then as each consumer's input)

    def described(t: str) -> str:
        found = descriptions.get(t)
        if found is None:
            found = descriptions[t] = f"{t} {_shape_text(tensor_shapes.get(t))} {dtypes.get(t, '')}".strip()
        return found

    known_shapes = concrete_shapes(tensor_shapes)  # checked once per tensor, not once per reading node
    names, ops, categories, precisions, members, details, macs_column, flops_column = ([] for _ in range(8))
    for node_id, node in enumerate(model.nodes):
        op, name = node.op_type, node.name
        all_outputs, all_inputs = list(node.output), list(node.input)  # each protobuf field read once
        outputs = [o for o in all_outputs if o]
        inputs = [t for t in all_inputs if t]
        macs, flops, known = estimate_node(node, known_shapes, concrete=True, names=(all_inputs, all_outputs))
        names.append(name or f"{op}_{node_id}")
        ops.append(op)
        categories.append(category(op, name))
        precisions.append(dtypes.get(outputs[0], "") if outputs else "")
        members.append([name])
        node_details = {
            "attributes": {a.name: _format_attribute(helper.get_attribute_value(a)) for a in node.attribute}
            if len(node.attribute)
            else {},
            "inputs": [descriptions.get(t) or described(t) for t in inputs],  # a call only for a new tensor
            "outputs": [descriptions.get(t) or described(t) for t in outputs],
        }
        if name in body_ops:
            node_details["body ops"] = body_ops[name]
        details.append(node_details)
        macs_column.append(macs if known else math.nan)
        flops_column.append(flops if known else math.nan)
        for t in outputs:
            producers[t] = node_id
        consumers += [(node_id, t) for t in inputs if t not in weights]
    count = len(names)
    columns: dict[str, list] = dict(
        zip(
            NODE_COLUMNS,
            (
                list(range(count)),
                names,
                ops,
                categories,
                precisions,
                [0] * count,
                members,
                details,
                macs_column,
                flops_column,
            ),
        )
    )
    columns, edges = _connect(
        columns,
        producers,
        consumers,
        tensor_shapes,
        dtypes,
        [i.name for i in model.inputs],
        [o.name for o in model.outputs],
    )
    nodes, edge_frame = _frames(columns, edges)
    return GraphData(kind, title or f"{model.name} (ONNX, {len(model.nodes)} nodes)", nodes, edge_frame)


def _body_ops(proto) -> dict[str, str]:
    """Top-level node name -> the real ops inside it (If/Loop/Scan bodies, ONNX-function bodies), counted."""
    functions = {(f.domain, f.name) for f in proto.functions}
    if not functions and not any(a.type in _GRAPH_ATTRIBUTES for n in proto.graph.node for a in n.attribute):
        return {}  # nothing holds a body: no walk building a reference per node (0.5 s at 50,000 nodes)
    inside: dict[str, list[str]] = {}
    for ref in walk_nodes(proto):
        if ref.path and (ref.node.domain, ref.node.op_type) not in functions:
            inside.setdefault(ref.path[0], []).append(ref.op)
    return {
        name: ", ".join(f"{op} ×{count}" for op, count in pd.Series(ops).value_counts().items())
        for name, ops in inside.items()
    }


_GRAPH_ATTRIBUTES = (5, 10)  # AttributeProto.GRAPH, GRAPHS: a node holding a body (If, Loop, Scan, custom ops)


def from_network(frame: pd.DataFrame, *, title: str = "TensorRT network (before fusion)") -> GraphData:
    """TensorRT's network layers (``BuildResult.network`` / ``inspect_network``), before any fusion."""
    rows, producers, consumers, shapes, dtypes = [], {}, [], {}, {}
    for r in frame.itertuples(index=False):
        node_id = len(rows)
        for name, shape, dtype in zip(r.outputs, r.output_shapes, r.output_dtypes):
            producers[name], shapes[name], dtypes[name] = node_id, tuple(shape), dtype
        for name, shape, dtype in zip(r.inputs, r.input_shapes, r.input_dtypes):
            shapes.setdefault(name, tuple(shape))
            dtypes.setdefault(name, dtype)
        consumers += [(node_id, t) for t in r.inputs]
        rows.append(
            {
                "id": node_id,
                "name": r.name,
                "op": r.type,
                "category": category(r.type, r.name),
                "precision": r.output_dtypes[0] if r.output_dtypes else "",
                "stream": 0,
                "members": [r.onnx_node] if r.onnx_node else [],
                "details": {
                    "onnx node": r.onnx_node,
                    "inputs": [
                        f"{n} {format_shape(s)} {d}" for n, s, d in zip(r.inputs, r.input_shapes, r.input_dtypes)
                    ],
                    "outputs": [
                        f"{n} {format_shape(s)} {d}" for n, s, d in zip(r.outputs, r.output_shapes, r.output_dtypes)
                    ],
                },
            }
        )
    return _layer_graph("network", title, rows, producers, consumers, shapes, dtypes)


def from_engine(
    layers: pd.DataFrame, *, model: Model | None = None, title: str = "TensorRT engine (after fusion)"
) -> GraphData:
    """The engine's layers after fusion (``BuildResult.layers`` / ``read_layer_information``), each holding the ONNX
    nodes it absorbed (``members``), with its output precision and stream. With the ONNX ``model``, a fused layer
    is labelled by what it absorbed (``Conv+BatchNormalization+Relu``) instead of TensorRT's layer type."""
    model = load_model(model) if model is not None else None
    index = NodeIndex(model.proto) if model is not None else None
    rows, producers, consumers, shapes, dtypes = [], {}, [], {}, {}
    read_shapes: dict[str, tuple] = {}  # as layers read them: a graph input's shape is only known this way
    for r in layers.itertuples(index=False):
        node_id = len(rows)
        for name, shape, dtype in zip(r.outputs, r.output_shapes, r.output_dtypes):
            producers[name], shapes[name], dtypes[name] = node_id, tuple(shape), dtype
        consumers += [(node_id, t) for t in r.inputs if t]
        for name, dtype in zip(r.inputs, r.input_dtypes):
            dtypes.setdefault(name, dtype)
        for name, shape in zip(r.inputs, getattr(r, "input_shapes", None) or []):
            if len(shape):
                read_shapes.setdefault(name, tuple(shape))
        refs = [index.resolve(m) for m in r.onnx_nodes] if index is not None else []
        absorbed = [ref.op for ref in refs if ref is not None]  # body nodes by their real op, not their parent's
        label = "+".join(dict.fromkeys(absorbed)) if absorbed else r.type
        cat = category(r.type, r.name, r.kind)
        if absorbed and cat in ("other", "elementwise"):  # TensorRT's generated kernels: say what they compute
            cat = category(absorbed[0])
        rows.append(
            {
                "id": node_id,
                "name": r.name,
                "op": label,
                "category": cat,
                "precision": r.output_dtypes[0] if len(r.output_dtypes) else "",
                "stream": int(r.stream) if r.stream == r.stream else 0,
                "members": list(r.onnx_nodes),
                "details": {
                    "layer type": r.type,
                    "fused ONNX nodes": list(r.onnx_nodes),
                    "tactic": r.tactic,
                    "stream": int(r.stream) if r.stream == r.stream else 0,
                    "outputs": [
                        f"{n} {format_shape(s)} {d} {f}".strip()
                        for n, s, d, f in zip(r.outputs, r.output_shapes, r.output_dtypes, r.output_formats)
                    ],
                },
            }
        )
    declared = model.shapes.declared if model is not None else {}
    for name in {t for _, t in consumers} - producers.keys():  # the engine's inputs: no layer writes them
        shapes[name] = _input_shape(read_shapes.get(name), declared.get(name))
    return _layer_graph("engine", title, rows, producers, consumers, shapes, dtypes)


def _input_shape(engine_dims: tuple | None, model_dims) -> tuple | None:
    """An engine input's shape as the engine reads it, with the model's dimension names where the engine's is
    dynamic (-1); the model's declared shape when the engine's JSON gives none; None when neither knows it."""
    if not engine_dims:
        return tuple(model_dims) if model_dims is not None else None
    if model_dims is None or len(model_dims) != len(engine_dims):
        return engine_dims
    return tuple(m if (d == -1 and m is not None) else d for d, m in zip(engine_dims, model_dims))


@lru_cache(maxsize=300_000)  # asked for every node at each depth tried (scope_depth, collapse, the canvas view)
def scope_of(name: str, depth: int) -> str:
    """The first ``depth`` parts of a node name's scope, split on "/" and "." with exporters' repeated parts
    dropped: ``/layer1/layer1.0/conv1/Conv`` and ``layer1.0.a/conv`` both give ``layer1`` (depth 1) and
    ``layer1/0`` (depth 2). Names with no more parts than ``depth`` have no scope ("")."""
    parts = _scope_parts(name)
    return "/".join(parts[:depth]) if len(parts) > depth else ""


@lru_cache(maxsize=300_000)  # a name is split once for all depths
def _scope_parts(name: str) -> tuple[str, ...]:
    parts: list[str] = []
    for part in _SCOPE_SEPARATORS.split(name):
        if part and (not parts or part != parts[-1]):
            parts.append(part)
    return tuple(parts)


_SCOPE_SEPARATORS = re.compile(r"[/.]")


def collapse(graph: GraphData, depth: int = 1, *, expanded: set[str] | frozenset = frozenset()) -> GraphData:
    """Nodes sharing a name scope (first ``depth`` parts) become one group node, except scopes in ``expanded``.

    Edges between groups are merged; a group's ``members`` are the ONNX nodes it holds, so fusion highlighting
    still works on the collapsed view.
    """
    return collapse_with_rows(graph, depth, expanded=expanded)[0]


def collapse_with_rows(
    graph: GraphData, depth: int = 1, *, expanded: set[str] | frozenset = frozenset()
) -> tuple[GraphData, dict[int, list[int]], dict[int, int]]:
    """``collapse``, with where its nodes come from: a group's id -> the rows of ``graph`` it holds, and a kept
    node's id -> its row in ``graph`` (for the canvas view, which would otherwise group the rows a second time)."""
    nodes = graph.nodes
    keys = [
        scope_of(n, depth) if c != "input/output" else ""
        for n, c in zip(nodes["name"].tolist(), nodes["category"].tolist())
    ]
    keys = ["" if k in expanded else k for k in keys]
    # The rows of each scope in one pass, then each group's values from plain lists (a per-group scan of pandas
    # rows made this quadratic: 36 s of a 2,000-node export).
    rows_of: dict[str, list[int]] = {}
    for k, key in enumerate(keys):
        if key:
            rows_of.setdefault(key, []).append(k)
    member_column, op_column = nodes["members"].tolist(), nodes["op"].tolist()
    macs_column, flops_column = nodes["macs"].tolist(), nodes["flops"].tolist()
    members_of: dict[str, list] = {}
    ops_of: dict[str, tuple[tuple[str, int], ...]] = {}
    work_of: dict[str, list[float]] = {}  # [MACs, FLOPs, nodes whose work is unknown]
    for key, rows in rows_of.items():
        if len(rows) < 2:
            continue
        members_of[key] = [m for r in rows for m in member_column[r]]
        ops_of[key] = _op_counts(tuple(op_column[r] for r in rows))
        work = work_of[key] = [0.0, 0.0, 0]
        for r in rows:  # summed in row order, as before
            flops = flops_column[r]
            if flops == flops:  # not NaN
                work[0] += macs_column[r]
                work[1] += flops
            else:
                work[2] += 1
    # Built as columns (a kept node's values copied across, a group's made once): no per-row dicts, and pandas
    # builds the frame from lists in one step.
    old_columns = [nodes[c].tolist() for c in NODE_COLUMNS]  # lists: iterating pandas' Arrow strings is slow
    out: list[list] = [[] for _ in NODE_COLUMNS]
    ids, out_rest = out[0], out[1:]
    new_id: dict = {}
    group_ids: dict[str, int] = {}
    rows_of_group: dict[int, list[int]] = {}
    row_of_kept: dict[int, int] = {}
    precision_column, stream_column = (
        old_columns[NODE_COLUMNS.index("precision")],
        old_columns[NODE_COLUMNS.index("stream")],
    )
    for k, (old, key) in enumerate(zip(old_columns[0], keys)):
        if key in members_of:
            found = group_ids.get(key)
            if found is None:
                found = group_ids[key] = len(ids)
                rows_of_group[found] = rows_of[key]
                ops = ops_of[key]
                total = len(rows_of[key])
                macs, flops, unknown = work_of[key]
                known = unknown < total  # a group of TensorRT layers (work not estimated) says so: NaN
                group = (
                    key,
                    f"{key} ({total})",
                    "group",
                    precision_column[k],
                    stream_column[k],
                    members_of[key],
                    {
                        "group": key,
                        "nodes": total,
                        "ops": _ops_text(ops),
                        "work": _work_text(macs, flops, unknown) if known else "",
                    },
                    macs if known else math.nan,
                    flops if known else math.nan,
                )
                ids.append(found)
                for column, value in zip(out_rest, group):
                    column.append(value)
            new_id[old] = found
        else:
            new_id[old] = len(ids)
            row_of_kept[len(ids)] = k
            ids.append(len(ids))
            for column, values in zip(out_rest, old_columns[1:]):
                column.append(values[k])
    edges = graph.edges.assign(source=graph.edges.source.map(new_id), target=graph.edges.target.map(new_id))
    edges = edges[edges.source != edges.target].drop_duplicates(subset=["source", "target"]).reset_index(drop=True)
    frame = pd.DataFrame(dict(zip(NODE_COLUMNS, out)), columns=NODE_COLUMNS)
    frame.index = frame["id"]
    collapsed = GraphData(graph.kind, graph.title, frame, edges, list(graph.notes))
    collapsed.notes.append(f"collapsed by name scope (depth {depth}): {len(nodes)} nodes shown as {len(frame)}")
    return collapsed, rows_of_group, row_of_kept


@lru_cache(maxsize=4096)  # groups of one model repeat their ops (a 32-layer decoder: 32 alike)
def _op_counts(ops: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """A group's ops counted, most common first (ties in first-seen order)."""
    return tuple(Counter(ops).most_common())


@lru_cache(maxsize=4096)  # groups of one model repeat their ops and work (a 32-layer decoder: 32 alike)
def _ops_text(counted: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{o} ×{c}" for o, c in counted)


@lru_cache(maxsize=4096)
def _work_text(macs: float, flops: float, unknown: float) -> str:
    return work_text(macs, flops, unknown)


def _si(value: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} "


def work_text(macs: float, flops: float, unknown: float = 0) -> str:
    """``"2.1 GFLOPs (1.05 G MACs)"``, and how many nodes' work is unknown (shapes not inferred)."""
    text = f"{_si(flops)}FLOPs ({_si(macs)}MACs)"
    return text + (f", {unknown} nodes of unknown work (shapes unknown)" if unknown else "")


def _holder_name(member: str) -> str:
    """TensorRT names a node in an If/Loop body or an ONNX function ``inner | ... | parent (Op)``: the top-level
    node holding it is the one the ONNX view shows."""
    if " | " not in member:
        return member
    outer = member.rsplit(" | ", 1)[1].strip()
    return outer[: outer.rindex(" (")] if outer.endswith(")") and " (" in outer else outer


def with_fusion_reasons(onnx_graph: GraphData, fusion: FusionReasons) -> GraphData:
    """The ONNX view with two more node columns from a ``FusionSummary``: ``fusion_reason`` (why no engine layer
    names the node, e.g. "eliminated data movement: Concat eliminated ...", "" when mapped) and
    ``fusion_reason_kind`` (one of ``workbench.engines.layers.UNMAPPED_KINDS``: shape, constant, data-movement,
    subgraph, not-found; "" when mapped), for a view that colours nodes by reason."""
    reasons = {u["name"]: (u["reason"], u["kind"]) for u in fusion.unmapped_onnx_nodes if not u.get("parent")}
    nodes = onnx_graph.nodes.copy()

    def reason_of(members, category):
        found = [reasons[m] for m in members if m in reasons] if category != "input/output" else []
        if category == "group" and found:  # a collapsed group: its members' reasons, counted
            kinds = pd.Series([k for _, k in found]).value_counts()
            return (
                f"{len(found)} of {len(members)} nodes unmapped: " + ", ".join(f"{c} {k}" for k, c in kinds.items()),
                kinds.index[0],
            )
        return found[0] if found else ("", "")

    pairs = [reason_of(m, c) for m, c in zip(nodes["members"].tolist(), nodes["category"].tolist())]
    nodes["fusion_reason"] = [r for r, _ in pairs]
    nodes["fusion_reason_kind"] = [k for _, k in pairs]
    return GraphData(onnx_graph.kind, onnx_graph.title, nodes, onnx_graph.edges, list(onnx_graph.notes))


def fusion_map(onnx_graph: GraphData, engine_graph: GraphData) -> dict[str, dict[int, list[int]]]:
    """Which nodes of one view hold which of the other: ``{"engine_to_onnx": {engine id: [onnx ids]},
    "onnx_to_engine": {onnx id: [engine ids]}}``, joined on the ONNX node names (``members``)."""
    by_member: dict[str, list[int]] = {}
    for node_id, members in zip(onnx_graph.nodes["id"].tolist(), onnx_graph.nodes["members"].tolist()):
        for m in members:
            by_member.setdefault(m, []).append(int(node_id))
    engine_to_onnx, onnx_to_engine = {}, {}
    for node_id, members in zip(engine_graph.nodes["id"].tolist(), engine_graph.nodes["members"].tolist()):
        hits = sorted({i for m in members for i in by_member.get(_holder_name(m), [])})
        if hits:
            engine_to_onnx[int(node_id)] = hits
            for i in hits:
                onnx_to_engine.setdefault(i, []).append(int(node_id))
    return {"engine_to_onnx": engine_to_onnx, "onnx_to_engine": onnx_to_engine}
