"""Engine layers after fusion, from either source TensorRT offers, as one pandas DataFrame (TREx's idea).

Sources:
- the builder's VERBOSE ``Layers:`` report (``ProfilingVerbosity.DETAILED``), available on a machine with no GPU;
- ``IEngineInspector`` JSON / ``trtexec --exportLayerInfo`` from a GPU machine (old ``Format/Datatype`` keys,
  fused names joined by " + ", no Metadata before TensorRT 8.6), optionally joined with ``--exportProfile``.
The report's line format is TensorRT's own text, so it is parsed here (no library reads it).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, TYPE_CHECKING

import pandas as pd

from ..errors import EngineFileError

if TYPE_CHECKING:
    from ..files import PathArg
    from ..model import Model
    from ..model.subgraphs import NodeRef

COLUMNS = [
    "name",
    "type",
    "kind",
    "onnx_nodes",
    "origin_source",
    "inputs",
    "outputs",
    "input_dtypes",
    "input_shapes",
    "output_dtypes",
    "output_formats",
    "output_shapes",
    "tactic",
    "stream",
    "event_id",
    "parameter_type",
]

# --- the builder's text report ----------------------------------------------------------------------------------
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9_/]*): ")
_NEXT_KEY = re.compile(r",\s*[A-Za-z][A-Za-z0-9_/]*: ")


class _ReportLineParser:
    """Recursive descent over ``Key: value, Key: [ { Key: value } ], ...`` (TensorRT's layer report lines)."""

    def __init__(self, text: str):
        self.s, self.i = text, 0

    def _skip(self):
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def mapping(self, closer: str | None = None) -> dict:
        out: dict[str, Any] = {}
        while True:
            self._skip()
            if self.i >= len(self.s) or (closer and self.s[self.i] == closer):
                return out
            m = _KEY.match(self.s, self.i)
            if not m:
                raise ValueError(f"expected 'Key: ' at {self.s[self.i : self.i + 40]!r}")
            self.i = m.end()
            if m.group(1) in out:  # TensorRT never repeats a key: a name's text was read as structure
                raise ValueError(f"key {m.group(1)!r} twice")
            out[m.group(1)] = self.value(closer)
            self._skip()
            if self.s.startswith(",", self.i):
                self.i += 1

    def value(self, closer: str | None):
        c = self.s[self.i] if self.i < len(self.s) else ""
        if c == "[":
            return self.sequence()
        if c == "{" and self.s.startswith("{ ", self.i):
            self.i += 1
            d = self.mapping("}")
            self.i += 1
            return d
        m = _NEXT_KEY.search(self.s, self.i)
        end = m.start() if m else len(self.s)
        if closer:
            close = self.s.find(closer, self.i)
            if close != -1:
                end = min(end, close)
        raw = self.s[self.i : end].strip()
        self.i = end
        return raw

    def sequence(self) -> list:
        self.i += 1  # '['
        self._skip()
        items: list = []
        if self.s.startswith("{", self.i):
            while self.s.startswith("{", self.i):
                self.i += 1
                items.append(self.mapping("}"))
                self.i += 1  # '}'
                self._skip()
                if self.s.startswith(",", self.i):
                    self.i += 1
                    self._skip()
            self.i = self.s.index("]", self.i) + 1
            return items
        close = self.s.index("]", self.i)
        raw = self.s[self.i : close]
        self.i = close + 1
        return [int(x) if re.fullmatch(r"-?\d+", x.strip()) else x.strip() for x in raw.split(",") if x.strip()]


_METADATA_KEY = ", Metadata: "
_LAYER_TYPE_KEY = ", LayerType: "
_REPORT_END = ("I/O Tensors:", "Engine Metadata:")


def _well_formed_metadata(text: str) -> bool:
    """TensorRT's Metadata value: empty, or ``[ONNX Layer: name]`` items joined by \x1f (names may hold anything,
    newlines and brackets included)."""
    return text.strip() == "" or (text.startswith("[ONNX Layer: ") and text.rstrip().endswith("]"))


# TensorRT-RTX's Myelin appends a note to some layers' metadata: "[ONNX Layer: /proj_in/Conv]__gemm_from_conv1x1"
_MYELIN_METADATA_NOTE = re.compile(r"\](__[A-Za-z0-9_]+)\s*$")


def _split_metadata(record: str) -> tuple[str, str, bool]:
    """(body, metadata, complete): the LAST ', Metadata: ' whose value is well-formed is TensorRT's key (a node name
    may contain the same text, in the layer's name and inside the metadata itself)."""
    at = len(record)
    while True:
        at = record.rfind(_METADATA_KEY, 0, at)
        if at == -1:
            return record, "", False
        metadata = record[at + len(_METADATA_KEY) :]
        note = _MYELIN_METADATA_NOTE.search(metadata) if metadata.startswith("[ONNX Layer: ") else None
        if note and "\n" not in note.group(0):
            metadata = metadata[: note.start(1)]
        if _well_formed_metadata(metadata):
            return record[:at], metadata, True
        if at == 0:
            return record, "", False


def _report_records(text: str):
    """The layer records of a report: one per ``Name: `` line, joined with the lines a newline in a node name
    carried over (a record is complete once its Metadata is)."""
    record: str | None = None
    for line in text.split("\n"):
        complete = record is not None and _split_metadata(record)[2]
        if record is None or complete:
            if line.startswith("Name: "):
                if record is not None:
                    yield record
                record = line
            elif line.strip() in _REPORT_END and record is not None:
                break
            elif line.strip() and record is not None:
                record += "\n" + line  # a name in the metadata that ended in ']' before its newline
            continue
        record += "\n" + line
    if record is not None:
        yield record


def _parse_record(body: str) -> dict:
    """``Name: <anything>, LayerType: ...``: the name ends at the ', LayerType: ' after which the line parses."""
    first_error: Exception | None = None
    at = len("Name: ")
    while True:
        at = body.find(_LAYER_TYPE_KEY, at)
        if at == -1:
            break
        try:
            rest = _ReportLineParser(body[at + 2 :]).mapping()
            return {"Name": body[len("Name: ") : at], **rest}
        except (ValueError, IndexError) as exc:
            first_error = first_error or exc
            at += 1
    try:
        return _ReportLineParser(body).mapping()  # no LayerType (older reports): the plain grammar
    except (ValueError, IndexError) as exc:
        raise (first_error or exc) from None


def parse_layer_report(text: str) -> list[dict]:
    """Parse the builder's ``Layers:`` report (one ``Name: ...`` record per engine layer) into raw layer dicts.
    Node names are data: separators (', Metadata: ', ', LayerType: '), quotes, brackets and newlines in them are
    kept, never read as structure."""
    layers = []
    for record in _report_records(text):
        body, metadata, complete = _split_metadata(record)
        if not complete:
            body, _, metadata = record.rpartition(_METADATA_KEY)  # an older report's free-form metadata
            if not _:
                body, metadata = record, ""
        try:
            layer = _parse_record(body)
        except (ValueError, IndexError) as exc:
            raise EngineFileError(f"cannot read engine layer report line {record[:80]!r}: {exc}") from None
        layer["Metadata"] = metadata
        layers.append(layer)
    return layers


# --- inspector JSON -------------------------------------------------------------------------------------------
def _load_json(source, what: str):
    if isinstance(source, (dict, list)):
        return source, "<data>"
    path = Path(source)
    if not path.is_file():
        raise EngineFileError(f"{path}: no such {what} file")
    text = path.read_bytes()
    try:
        # TensorRT 8.6 wrote raw \x1e separators into Metadata; decode leniently.
        return json.loads(text.decode("utf-8", errors="replace")), str(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineFileError(f"{path}: not a {what} JSON file ({exc})") from None


def parse_inspector_json(source: PathArg | dict | list) -> list[dict]:
    """Raw layer dicts from IEngineInspector / ``trtexec --exportLayerInfo`` JSON (path, str path or parsed)."""
    data, label = _load_json(source, "layer information")
    layers = data.get("Layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        raise EngineFileError(
            f"{label}: not TensorRT layer information (no 'Layers' list; export it with "
            "trtexec --exportLayerInfo=FILE --profilingVerbosity=detailed)"
        )
    # Without detailed verbosity the file holds names only: keep them, types unknown.
    return [{"Name": layer} if isinstance(layer, str) else layer for layer in layers]


UNKNOWN = "unknown"
_FLAVOR_KEYS = ("flavor", "flavour", "tensorrtflavor", "trtflavor")
_VERSION_KEYS = ("tensorrtversion", "trtversion", "version")


def engine_json_origin(source: PathArg | dict | list) -> dict[str, str]:
    """``{"flavor", "version"}`` of the TensorRT that exported ``source``, as the file states them (top-level keys
    such as ``TensorRTVersion`` / ``trt_version`` / ``version`` and ``flavor``), else ``"unknown"``: trtexec's
    layer information does not say, and a guess would be wrong as often as right."""
    data, _ = _load_json(source, "layer information")
    keys = {re.sub(r"[^a-z]", "", str(k).lower()): v for k, v in data.items()} if isinstance(data, dict) else {}
    flavor = next((str(keys[k]) for k in _FLAVOR_KEYS if keys.get(k) not in (None, "")), UNKNOWN)
    version = next((str(keys[k]) for k in _VERSION_KEYS if keys.get(k) not in (None, "")), UNKNOWN)
    return {"flavor": flavor, "version": version}


def read_profile(source: PathArg | dict | list) -> pd.DataFrame:
    """``trtexec --exportProfile`` JSON → name, time_ms (average), median_ms, time_pct."""
    data, label = _load_json(source, "profile")
    if not isinstance(data, list):
        raise EngineFileError(f"{label}: not a TensorRT profile (expected a list of per-layer records)")
    rows = [r for r in data if isinstance(r, dict) and "name" in r]  # drops the {"count": N} header
    if not rows:
        raise EngineFileError(f"{label}: the profile has no per-layer records")
    return pd.DataFrame(
        {
            "name": [r["name"] for r in rows],
            "time_ms": [float(r.get("averageMs", r.get("timeMs", 0.0))) for r in rows],
            "median_ms": [float(r.get("medianMs", r.get("averageMs", 0.0))) for r in rows],
            "time_pct": [float(r.get("percentage", 0.0)) for r in rows],
        }
    )


def join_profile(layers: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    """A profile's per-layer columns (all but ``name``) aligned to ``layers``' rows: the one join of a profile onto
    engine layers (as TREx's EnginePlan does it). By position when the profile lists the same names in the same order
    (repeated names stay apart), else by name (TREx's fallback; the first record of a repeated name); NaN where a
    layer has no record."""
    if len(times) == len(layers) and list(times["name"]) == list(layers["name"]):
        return times.drop(columns="name").reset_index(drop=True)
    by_name = times.drop_duplicates("name").set_index("name")
    return by_name.reindex(list(layers["name"])).reset_index(drop=True)


# --- normalization ----------------------------------------------------------------------------------------------
_DTYPE_WORDS = [
    ("bfloat16", "bfloat16"),
    ("bf16", "bfloat16"),
    ("fp32", "float32"),
    ("float", "float32"),
    ("fp16", "float16"),
    ("half", "float16"),
    ("fp8", "float8"),
    ("fp4", "float4"),
    ("uint8", "uint8"),
    ("int8", "int8"),
    ("int4", "int4"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("bool", "bool"),
]


@lru_cache(maxsize=4096)  # a handful of distinct format strings per engine, thousands of tensors
def normalize_dtype(text: str | None) -> str:
    if not text:
        return ""
    lowered = text.lower()
    for word, name in _DTYPE_WORDS:
        if re.search(rf"\b{word}\b", lowered):
            return name
    return lowered


def _tensor_dtype(tensor: Mapping) -> str:
    return normalize_dtype(tensor.get("Datatype") or tensor.get("Format/Datatype") or tensor.get("DataType"))


def _tensor_format(tensor: Mapping) -> str:
    fmt = tensor.get("Format") or tensor.get("Format/Datatype") or ""
    return re.sub(r"\s+", " ", str(fmt)).strip()


_METADATA_ITEM = re.compile(r"\[ONNX Layer: (.*?)\](?=[\x1e\x1f]|\s*$|\[ONNX)", re.S)
_METADATA_SEPARATOR = re.compile(r"[\x1e\x1f](?=\[ONNX Layer: )")
_METADATA_WHOLE_ITEM = re.compile(r"\[ONNX Layer: (.*)\]\s*", re.S)


def _metadata_origins(metadata: str) -> list[str]:
    """ONNX node names in a Metadata value. Items are split at TensorRT's separator only, so a name holding ']',
    '[ONNX Layer: ' or a newline stays one name; reports without separators fall back to the item pattern."""
    if "\x1f" in metadata or "\x1e" in metadata:
        items = [_METADATA_WHOLE_ITEM.fullmatch(part) for part in _METADATA_SEPARATOR.split(metadata)]
        if all(items):
            return [m.group(1).strip() for m in items]
    whole = _METADATA_WHOLE_ITEM.fullmatch(metadata)
    if whole and "[ONNX Layer: " not in whole.group(1):
        return [whole.group(1).strip()]
    return [m.strip() for m in _METADATA_ITEM.findall(metadata)]


def _names_from_fused_name(name: str) -> list[str]:
    """ONNX names inside an old-style fused layer name: 'a + b + PWN(PWN(c), d)' → [a, b, c, d]."""
    foreign = re.fullmatch(r"\{ForeignNode\[(.*)\.\.\.(.*)\]\}", name)
    if foreign:
        return [foreign.group(1), foreign.group(2)]
    parts = []
    for token in name.split(" + "):
        token = token.strip()
        while token.startswith("PWN(") and token.endswith(")"):
            token = token[4:-1]
        for inner in re.split(r",\s*", token) if "PWN(" in name else [token]:
            inner = inner.replace("PWN(", "").rstrip(")").strip()
            if inner:
                parts.append(inner)
    return parts


def _kind(layer_type: str, name: str, origins: list[str], raw: Mapping) -> str:
    t = layer_type.lower()
    if t in ("signal", "wait"):
        return "sync"
    if t == "reformat" or name.startswith("Reformatting CopyNode") or raw.get("Origin") == "REFORMAT":
        return "reformat"
    if t in ("shape_call", "shape"):
        return "shape"
    if t == "noop":
        return "noop"
    if not origins:
        if name.startswith(("__myl_Move", "__myl_Tran", "__myl_Copy")):
            return "reformat"
        return "inserted"
    return "compute"


def layers_frame(raw_layers: Iterable[Mapping], *, source: str) -> pd.DataFrame:
    """Normalize raw layer dicts (either source) into the engine-layer DataFrame (columns ``COLUMNS``)."""
    rows = []
    for raw in raw_layers:
        name = str(raw.get("Name", ""))
        layer_type = str(raw.get("LayerType", "unknown"))
        metadata = str(raw.get("Metadata") or "")
        origins = _metadata_origins(metadata)
        origin_source = "metadata" if origins else ""
        is_qdq_reformat = raw.get("Origin") == "QDQ"  # a standalone Q/DQ that TensorRT turned into a reformat
        if (
            not origins
            and not metadata
            and source == "inspector-json"
            and (
                is_qdq_reformat
                or (layer_type not in ("Reformat", "NoOp") and not name.startswith("Reformatting CopyNode"))
            )
        ):
            origins = _names_from_fused_name(name)  # files older than TensorRT 8.6 carry no Metadata
            origin_source = "name" if origins else ""
        inputs = raw.get("Inputs") or []
        outputs = raw.get("Outputs") or []
        stream = raw.get("StreamId")
        event = raw.get("EventId")
        rows.append(
            {
                "name": name,
                "type": layer_type,
                "kind": "compute" if is_qdq_reformat else _kind(layer_type, name, origins, raw),
                "onnx_nodes": origins,
                "origin_source": origin_source,
                "inputs": [str(t.get("Name", "")) for t in inputs],  # tensor names: they connect the layers
                "outputs": [str(t.get("Name", "")) for t in outputs],
                "input_dtypes": [_tensor_dtype(t) for t in inputs],
                "input_shapes": [list(t.get("Dimensions") or []) for t in inputs],  # graph inputs: only known here
                "output_dtypes": [_tensor_dtype(t) for t in outputs],
                "output_formats": [_tensor_format(t) for t in outputs],
                "output_shapes": [list(t.get("Dimensions") or []) for t in outputs],
                "tactic": str(raw.get("TacticName") or raw.get("TacticValue") or ""),
                "stream": int(stream) if stream not in (None, "") else 0,
                "event_id": int(event) if event not in (None, "") else None,
                "parameter_type": str(raw.get("ParameterType") or ""),
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["source"] = source
    return df


def read_layer_information(source: PathArg | dict | list, profile: PathArg | dict | list | None = None) -> pd.DataFrame:
    """Engine layers from inspector JSON exported on a GPU machine, with per-layer times when a profile is given."""
    df = layers_frame(parse_inspector_json(source), source="inspector-json")
    if profile is not None:
        df = pd.concat([df.reset_index(drop=True), join_profile(df, read_profile(profile))], axis=1)
        df.attrs["source"] = "inspector-json"
    return df


# --- fusion and streams ---------------------------------------------------------------------------------------
@dataclass
class FusionSummary:
    """N ONNX nodes → M engine layers, each fused group with its ONNX op types, counts by pattern."""

    onnx_nodes: int | None  # None: unknown (no model given)
    network_layers: int | None
    engine_layers: int
    groups: pd.DataFrame  # engine layer, kind, onnx_nodes, onnx_ops, pattern
    patterns: pd.DataFrame  # pattern, kind, count, example
    # ONNX nodes no engine layer names, each {name, op, reason, kind, parent} (see UNMAPPED_KINDS)
    unmapped_onnx_nodes: list[dict] = field(default_factory=list)

    @property
    def unmapped(self) -> pd.DataFrame:
        """``unmapped_onnx_nodes`` as a DataFrame (name, op, reason, kind, parent)."""
        return pd.DataFrame(self.unmapped_onnx_nodes, columns=["name", "op", "reason", "kind", "parent"])

    def to_dict(self) -> dict:
        fused = self.patterns[self.patterns["kind"] == "compute"]
        inserted = self.patterns[self.patterns["kind"] != "compute"]
        return {
            "onnx_nodes": self.onnx_nodes,
            "network_layers": self.network_layers,
            "engine_layers": self.engine_layers,
            "fusions": [
                {"onnx_ops": p.split(" + "), "pattern": p, "count": int(c), "example": e}
                for p, _, c, e in fused.itertuples(index=False)
            ],
            # engine layers with no ONNX origin: reformats, shape calls, stream signal/wait, ...
            "inserted_layers": {k: int(c) for _, k, c, _ in inserted.itertuples(index=False)},
            "unmapped_onnx_nodes": self.unmapped_onnx_nodes,
            "unmapped_by_kind": {k: int(c) for k, c in self.unmapped["kind"].value_counts().items()},
        }

    def _repr_html_(self) -> str:
        nodes = "? (unknown without the model)" if self.onnx_nodes is None else self.onnx_nodes
        head = (
            f"<b>{nodes} ONNX nodes</b> → "
            + (f"<b>{self.network_layers} network layers</b> → " if self.network_layers is not None else "")
            + f"<b>{self.engine_layers} engine layers</b>"
        )
        unmapped = ""
        if self.unmapped_onnx_nodes:
            counts = self.unmapped.groupby("reason").size().sort_values(ascending=False)
            unmapped = (
                "<div>ONNX nodes no engine layer names: "
                + "; ".join(f"{c} {html.escape(r)}" for r, c in counts.items())
                + "</div>"
            )
        return head + self.patterns.to_html(index=False) + unmapped


# Why an ONNX node has no engine layer of its own: kind -> what it means (the reason sentence says more).
UNMAPPED_KINDS = {
    "shape": "shape arithmetic folded at build time",
    "constant": "constant folded",
    "data-movement": "eliminated data movement",
    "subgraph": "inside the body of a control-flow or function node",
    "not-found": "not found",
}
_DATA_MOVEMENT = {
    "Concat": "Concat eliminated (each input lands in its slice of the output buffer: written there by its "
    "producer, or copied there by a copy layer)",
    "Split": "Split into views of the input buffer",
    "Slice": "Slice as a view of the input buffer",
    "Reshape": "no-op Reshape (the same memory, new dimensions)",
    "Flatten": "no-op Flatten (the same memory)",
    "Squeeze": "no-op Squeeze (the same memory)",
    "Unsqueeze": "no-op Unsqueeze (the same memory)",
    "Identity": "Identity removed",
    "Dropout": "Dropout removed (inference)",
    "Transpose": "Transpose folded into its neighbours' memory layout",
    "Expand": "Expand as a broadcast view",
    "Cast": "Cast folded into a neighbour's output type",
}


def onnx_node_index(model: Model) -> dict[str, Any]:
    """Name → ONNX node, also under each node's first output name (TensorRT's name for unnamed nodes)."""
    from ..model.subgraphs import NodeIndex

    index = NodeIndex(model.proto)
    return {name: ref.node for name, ref in index.by_name.items()}


def _op_from_name(name: str) -> str | None:
    import onnx

    op = re.sub(r"_\d+$", "", name.rsplit("/", 1)[-1])
    return op if onnx.defs.has(op) else None


def unmapped_reason(ref: NodeRef, kinds: Mapping[str, str]) -> tuple[str, str]:
    """(kind, reason sentence) for an ONNX node no engine layer names (``kinds``: ``tensor_kinds`` of the model)."""
    if ref.path:
        via = f" ({ref.via})" if ref.via and not ref.via.startswith("function") else ""
        return "subgraph", f"inside the body of {ref.parent_op} node '{ref.path[-1]}'{via}"
    outputs = [kinds.get(t, "data") for t in ref.node.output if t]
    if ref.node.op_type in ("Shape", "Size") or (outputs and all(k == "shape" for k in outputs)):
        return "shape", ("shape arithmetic folded at build time (its inputs depend only on input shapes and constants)")
    if outputs and all(k == "constant" for k in outputs):
        return "constant", "constant folded (computed from constants only)"
    if ref.node.op_type in _DATA_MOVEMENT and ref.node.domain in ("", "ai.onnx"):
        return "data-movement", f"eliminated data movement: {_DATA_MOVEMENT[ref.node.op_type]}"
    return "not-found", "not found: no engine layer names it (fused under another name, or removed)"


def fusion_summary(
    layers: pd.DataFrame, model: Model | None = None, network_layers: int | None = None
) -> FusionSummary:
    """Engine layers grouped by the ONNX ops they absorbed. With the ``model``, nodes in If/Loop/Scan and
    ONNX-function bodies resolve to their real ops (attributed to their parent node), and every ONNX node no layer
    names is listed with a reason; without it the ONNX node count is unknown (None)."""
    from ..model.subgraphs import NodeIndex, tensor_kinds

    index = NodeIndex(model.proto) if model is not None else None
    order = {ref.key: i for i, ref in enumerate(index.refs)} if index is not None else {}
    groups, mapped = [], set()
    for row in layers.itertuples(index=False):
        if index is not None:
            refs = [index.resolve(n) for n in row.onnx_nodes]
            known = sorted({r.key: r for r in refs if r is not None}.values(), key=lambda r: order.get(r.key, 0))
            for ref in known:  # a body node also accounts for the nodes holding it
                mapped.update(ref.key[:i] for i in range(1, len(ref.key) + 1))
            ops = [r.op for r in known] + ["?"] * sum(r is None for r in refs)
        else:  # no model: exporter names like 'Conv_12' tell the op; weight names ('fc.weight') are constants
            ops = [op for op in (_op_from_name(n) for n in row.onnx_nodes) if op]
        pattern = " + ".join(ops) if ops else f"({row.kind}: no ONNX origin)"
        kind = row.kind if ops or row.kind != "compute" else "inserted"
        groups.append((row.name, kind, list(row.onnx_nodes), ops, pattern))
    groups_df = pd.DataFrame(groups, columns=["engine_layer", "kind", "onnx_nodes", "onnx_ops", "pattern"])
    patterns = (
        groups_df.groupby(["pattern", "kind"], sort=False)
        .agg(count=("engine_layer", "size"), example=("engine_layer", "first"))
        .reset_index()
        .sort_values(["count", "pattern"], ascending=[False, True], ignore_index=True)
    )
    unmapped = []
    if index is not None:
        kinds = tensor_kinds(model.proto)
        for ref in index.refs:
            if ref.key not in mapped:
                kind, reason = unmapped_reason(ref, kinds)
                unmapped.append({"name": ref.name, "op": ref.op, "reason": reason, "kind": kind, "parent": ref.parent})
    return FusionSummary(
        onnx_nodes=model.node_count if model is not None else None,
        network_layers=network_layers,
        engine_layers=len(layers),
        groups=groups_df,
        patterns=patterns,
        unmapped_onnx_nodes=unmapped,
    )


def stream_map(layers: pd.DataFrame) -> pd.DataFrame:
    """Per stream: how many layers (compute and sync) and which events it signals and waits on."""
    rows = []
    for stream, group in layers.groupby("stream", sort=True):
        signals = group[group["type"].str.lower() == "signal"]["event_id"].dropna().astype(int).tolist()
        waits = group[group["type"].str.lower() == "wait"]["event_id"].dropna().astype(int).tolist()
        rows.append(
            (
                int(stream),
                int((group["kind"] == "compute").sum()),
                len(group),
                signals,
                waits,
                [n for nodes in group["onnx_nodes"] for n in nodes][:6],
            )
        )
    return pd.DataFrame(
        rows, columns=["stream", "compute_layers", "layers", "signals_events", "waits_on_events", "first_onnx_nodes"]
    )
