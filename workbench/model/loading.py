"""Load ONNX models from any reasonable source and describe them (`load_model`, `Model`)."""

from __future__ import annotations

import hashlib
import html
import os
import warnings
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnx
import pandas as pd
from google.protobuf.message import DecodeError

from ..errors import ConfigError, ExternalDataError, ModelError, ModelNotFoundError, UnsupportedOpsetError
from . import flops as _flops
from .external_data import check_initializer_data, check_regular_file, load_external_data
from .order import explain_checker_error, sort_nodes_topologically
from .shapes import (DimensionDefault, describe_shapes, dimension_defaults, dimension_frame,
                     normalize_dynamic_dims, warn_fallback)
from .subgraphs import real_op_histogram
from .tensors import (TensorSpec, check_against_spec, dtype_name, format_shape, itemsize, parse_shapes, shape_of,
                      spec_of)

PRECISION_KEY = "workbench.precision"  # metadata_props entry written by the precision layer: fp16, int8, ...
CALIBRATOR_KEY = "workbench.calibrator"  # ... and the calibrator that chose the INT8/FP8 scales
SOURCE_KEY = "workbench.source_model"  # ... and the name of the model it was converted from

# File signatures of things people drop in by mistake, so the error says what the file is.
_SIGNATURES = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (a PyTorch checkpoint?)", b"\x80\x02": "a Python pickle (a PyTorch checkpoint?)",
    b"\x93NUMPY": "a NumPy array file",
}


def _describe_non_onnx(data: bytes) -> str | None:
    for signature, what in _SIGNATURES.items():
        if data.startswith(signature):
            return what
    head = data[:512]
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a text file"
    return None


def _parse_bytes(data: bytes, label: str) -> onnx.ModelProto:
    if not data:
        raise ModelError(f"{label}: the file is empty, not an ONNX model")
    what = _describe_non_onnx(data)
    if what:
        raise ModelError(f"{label}: not an ONNX model (it looks like {what})")
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        # An ONNX file starts with field 1 (ir_version, varint): a decode failure there means a damaged file.
        kind = "truncated or corrupted ONNX file" if data[:1] == b"\x08" else "not an ONNX model"
        raise ModelError(f"{label}: {kind} (protobuf could not decode it: {exc})") from None
    if proto.ir_version == 0 and not proto.HasField("graph") and not proto.opset_import:
        raise ModelError(f"{label}: not an ONNX model (no IR version, opset or graph in it)")
    return proto


def _external_locations(proto: onnx.ModelProto) -> list[str]:
    locations = []
    for tensor in onnx.external_data_helper._get_all_tensors(proto):
        if onnx.external_data_helper.uses_external_data(tensor):
            info = onnx.external_data_helper.ExternalDataInfo(tensor)
            locations.append(info.location)
    return sorted(set(locations))


def _resolve(source, label_hint: str | None) -> tuple[onnx.ModelProto, str, Path | None]:
    """(proto, label for messages, directory external data is relative to)."""
    from . import samples

    if isinstance(source, Model):
        return source.proto, source.label, source.base_dir
    if isinstance(source, onnx.ModelProto):
        return source, label_hint or "<ModelProto>", None
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = label_hint or "<bytes>"
        return _parse_bytes(bytes(source), label), label, None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_file():
            label = str(path)
            proto = _parse_bytes(path.read_bytes(), label)
            return proto, label, path.parent
        if isinstance(source, str) and source in samples.SAMPLES:
            path = samples.sample_path(source)
            return _parse_bytes(path.read_bytes(), str(path)), f"sample:{source}", path.parent
        if path.is_dir():
            raise ModelError(f"{path}: is a directory, not an ONNX file")
        check_regular_file(path, "an ONNX file")
        raise ModelNotFoundError(
            f"{path}: no such file (and not a bundled sample; samples are: {', '.join(samples.SAMPLES)})")
    raise ConfigError(f"cannot load a model from a {type(source).__name__}: give a path, bytes, an onnx.ModelProto "
                      "or a sample name")


def _load_external_data(proto: onnx.ModelProto, label: str, base_dir: Path | None) -> None:
    locations = _external_locations(proto)
    if not locations:
        return
    if base_dir is None:
        raise ExternalDataError(f"{label}: the model keeps its weights in external files ({', '.join(locations)}); "
                                "load it from its path so they can be found")
    load_external_data(proto, label, base_dir)  # contained in the model's folder, checked before any read


def _check(proto: onnx.ModelProto, label: str) -> None:
    if not proto.HasField("graph") or len(proto.graph.node) == 0:
        raise ModelError(f"{label}: the graph is empty (no nodes)")
    check_initializer_data(proto, label)
    supported = onnx.defs.onnx_opset_version()
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > supported:
            raise UnsupportedOpsetError(
                f"{label}: uses ONNX opset {opset.version}, newer than the installed onnx {onnx.__version__} "
                f"supports (up to {supported}); upgrade onnx")
    try:
        # Checked without the weight bytes (large initializers become typed inputs): the same structural checks,
        # several times faster on a 100 MB model, and no 2 GB protobuf limit.
        onnx.checker.check_model(_shape_only_copy(proto))
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{label}: fails onnx.checker: {explain_checker_error(str(exc))}") from None


def _infer_shapes(proto: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """Shape inference on a weight-free copy, its value_info merged back (fast, and no 2 GB protobuf limit)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_shape_only_copy(proto), data_prop=True)
    except Exception as exc:  # inference is a bonus: a model ONNX Runtime can run must still load
        warnings.warn(f"{label}: shape inference failed, shapes stay as declared ({exc})", stacklevel=3)
        return proto
    graph_io = {v.name for v in proto.graph.input} | {v.name for v in proto.graph.output}
    del proto.graph.value_info[:]
    proto.graph.value_info.extend(v for v in inferred.graph.value_info if v.name not in graph_io)
    by_name = {v.name: v for v in inferred.graph.output}
    for out in proto.graph.output:  # fill in output types an exporter left out, keep declared ones
        if not out.type.HasField("tensor_type") and out.name in by_name:
            out.type.CopyFrom(by_name[out.name].type)
    return proto


def _sort_if_unsorted(proto: onnx.ModelProto, label: str) -> None:
    """Unsorted nodes (ONNX Runtime and TensorRT accept them, onnx.checker does not) are sorted, said once."""
    if sort_nodes_topologically(proto.graph):
        warnings.warn(f"{label}: its nodes were not in topological order (as some converters write them); sorted "
                      "them on load — the model computes the same", stacklevel=3)


def fold_model_constants(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Fold Constant/ConstantOfShape and constant subgraphs into initializers (onnx-graphsurgeon + ONNX Runtime)."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(proto)
    graph.fold_constants().cleanup().toposort()
    return gs.export_onnx(graph)


def load_model(source, *, fold_constants: bool = False, check: bool = True, name: str | None = None) -> "Model":
    """Load an ONNX model from a path, bytes, an ``onnx.ModelProto`` or a bundled sample name.

    Weights in external data files are read from beside the path. Shape inference is always applied;
    ``fold_constants=True`` also turns constant-producing subgraphs into ordinary initializers.
    """
    if isinstance(source, Model) and not fold_constants and name is None:
        return source  # already loaded, checked and shape-inferred
    proto, label, base_dir = _resolve(source, name)
    if isinstance(source, onnx.ModelProto):
        proto = onnx.ModelProto.FromString(proto.SerializeToString()) if proto.ByteSize() < 2**31 - 1 else proto
    _load_external_data(proto, label, base_dir)
    normalize_dynamic_dims(proto)  # -1 / 0 written for a dynamic dimension: named x_dim0, ... everywhere after this
    _sort_if_unsorted(proto, label)
    if check:
        _check(proto, label)
    if fold_constants:
        try:
            proto = fold_model_constants(proto)
        except Exception as exc:
            raise ModelError(f"{label}: constant folding failed: {exc}") from None
    proto = _infer_shapes(proto, label)
    return Model(proto, label=label, base_dir=base_dir, name=name)


class Model:
    """An ONNX model with its description: I/O, ops, parameters, opsets, estimated work."""

    def __init__(self, proto: onnx.ModelProto, *, label: str = "<model>", base_dir: Path | None = None,
                 name: str | None = None):
        self.proto = proto
        self.label = label
        self.base_dir = base_dir
        self.name = name or (proto.graph.name if proto.graph.name else None) or Path(label).stem
        self._bytes: bytes | None = None
        # The torch.nn.Module this model was exported from (see from_torch): the framework baseline times it.
        self.source_module = None
        self._warned_fallback = False
        self._fixed_shapes: dict[str, tuple[int, ...]] = {}  # see at_shapes

    # --- identity -------------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The serialized model (computed once: a Model's proto is not modified after loading)."""
        if self._bytes is None:
            self._bytes = self.proto.SerializeToString()
        return self._bytes

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the serialized model: the key of engine caches and result records."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def save(self, path: str | os.PathLike) -> Path:
        """Written atomically: an interrupted save leaves the previous file (or none), never half a model."""
        from ..files import atomic_write_bytes

        return atomic_write_bytes(path, self.to_bytes())

    # --- structure -----------------------------------------------------------------------------------------
    @cached_property
    def initializer_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.proto.graph.initializer)

    @cached_property
    def inputs(self) -> list[TensorSpec]:
        # Older exporters also list every initializer as a graph input: those are weights, not inputs.
        return [spec_of(v) for v in self.proto.graph.input if v.name not in self.initializer_names]

    @cached_property
    def outputs(self) -> list[TensorSpec]:
        return [spec_of(v) for v in self.proto.graph.output]

    @property
    def nodes(self):
        return self.proto.graph.node

    @property
    def node_count(self) -> int:
        return len(self.proto.graph.node)

    @cached_property
    def op_histogram(self) -> dict[str, int]:
        """Op type → count, most frequent first (non-default domains prefixed, e.g. 'com.microsoft.FusedConv')."""
        # Nodes in If/Loop/Scan bodies count as their real ops, and ONNX-function calls as the ops of their bodies.
        counts = Counter(real_op_histogram(self.proto))
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    @cached_property
    def opsets(self) -> dict[str, int]:
        return {(o.domain or "ai.onnx"): o.version for o in self.proto.opset_import}

    @property
    def opset(self) -> int | None:
        return self.opsets.get("ai.onnx")

    @property
    def producer(self) -> str:
        p = self.proto
        return f"{p.producer_name} {p.producer_version}".strip()

    @property
    def ir_version(self) -> int:
        return int(self.proto.ir_version)

    @cached_property
    def _weight_tensors(self) -> list[onnx.TensorProto]:
        tensors = list(self.proto.graph.initializer)
        for node in self.proto.graph.node:  # weights of older exporters live in Constant nodes
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                        tensors.append(a.t)
        return tensors

    @cached_property
    def parameter_count(self) -> int:
        return int(sum(int(np.prod(t.dims)) for t in self._weight_tensors))

    @cached_property
    def parameter_bytes(self) -> int:
        return int(sum(int(np.prod(t.dims)) * itemsize(t.data_type) for t in self._weight_tensors))

    @cached_property
    def tensor_shapes(self) -> dict[str, tuple]:
        """Every tensor's shape known after shape inference (symbolic dimensions by name)."""
        g = self.proto.graph
        shapes = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            shape = shape_of(v.type)
            if shape is not None:
                shapes[v.name] = shape
        for t in g.initializer:
            shapes[t.name] = tuple(int(d) for d in t.dims)
        return shapes

    @cached_property
    def tensor_dtypes(self) -> dict[str, str]:
        g = self.proto.graph
        out = {v.name: dtype_name(v.type.tensor_type.elem_type)
               for v in list(g.input) + list(g.value_info) + list(g.output) if v.type.HasField("tensor_type")}
        out.update({t.name: dtype_name(t.data_type) for t in g.initializer})
        return out

    def metadata(self, key: str) -> str | None:
        """A ``metadata_props`` value of the model (None when absent)."""
        for prop in self.proto.metadata_props:
            if prop.key == key:
                return prop.value
        return None

    @property
    def precision(self) -> str | None:
        """The precision the workbench wrote into this model (None for a model it did not convert)."""
        return self.metadata(PRECISION_KEY)

    @property
    def calibrator(self) -> str | None:
        return self.metadata(CALIBRATOR_KEY)

    @property
    def source_model(self) -> str:
        """The model this one was converted from (its own name when it was not converted)."""
        return self.metadata(SOURCE_KEY) or self.name

    # --- shapes and work -------------------------------------------------------------------------------------
    @property
    def _metadata_props(self) -> dict[str, str]:
        return {p.key: p.value for p in self.proto.metadata_props}

    def dimension_defaults(self, shapes=None) -> list[DimensionDefault]:
        """Every dynamic input dimension with the value used and where it came from (see ``model.shapes``);
        inputs in ``shapes`` are marked "given". Only what is needed is read, so a broken metadata entry matters
        only for inputs whose shape is not given."""
        defaults = dimension_defaults(self.inputs, self._metadata_props, self.label, self._checked_shapes(shapes),
                                      channels=self._input_channels)
        if not self._warned_fallback:  # once per model, not at every estimate
            self._warned_fallback = any(d.source == "fallback" for d in defaults)
            warn_fallback(defaults, self.label)
        return defaults

    @cached_property
    def _input_channels(self) -> dict[str, tuple[int, int, str]]:
        return input_channels_from_weights(self.proto, self.inputs)

    def shape_sources(self, shapes=None) -> pd.DataFrame:
        """``dimension_defaults`` as a DataFrame: input, axis, dim, value, source, detail."""
        return dimension_frame(self.dimension_defaults(shapes))

    @cached_property
    def default_shapes(self) -> dict[str, tuple[int, ...]]:
        """Concrete input shapes for estimates and builds when none are given (see ``dimension_defaults``)."""
        return self._fill(self.dimension_defaults())

    def _fill(self, defaults: list[DimensionDefault]) -> dict[str, tuple[int, ...]]:
        values = {(d.input, d.axis): d.value for d in defaults}
        return {spec.name: tuple(values.get((spec.name, axis), d) if not (isinstance(d, int) and d > 0) else d  # type: ignore[arg-type]
                                 for axis, d in enumerate(spec.shape))
                for spec in self.inputs if spec.shape is not None}

    def at_shapes(self, shapes) -> "Model":
        """This model with ``shapes`` as its defaults (the same bytes and fingerprint): every command, bench and
        calibration included, then uses them where it would use the defaults. Checked against the model now."""
        given = self._checked_shapes(shapes)
        if not given:
            return self
        model = Model(self.proto, label=self.label, base_dir=self.base_dir, name=self.name)
        model._bytes, model.source_module = self._bytes, self.source_module
        model._fixed_shapes = given
        model.resolve_shapes()  # relations between dims checked now, not in the middle of a benchmark
        return model

    def _checked_shapes(self, shapes) -> dict[str, tuple[int, ...]]:
        given = {**self._fixed_shapes, **parse_shapes(shapes)}
        known = {s.name: s for s in self.inputs}
        for name, dims in given.items():
            if name not in known:
                raise ConfigError(f"shape given for '{name}', which is not an input of {self.label} "
                                  f"(inputs: {', '.join(known)})")
            check_against_spec(known[name], dims)
        return given

    def resolve_shapes(self, shapes=None) -> dict[str, tuple[int, ...]]:
        """Fill in concrete shapes for every input (given ones checked against the model)."""
        given = self._checked_shapes(shapes)
        if len(given) == len(self.inputs):
            return given
        resolved = self._fill(self.dimension_defaults(given))
        resolved.update(given)
        return resolved

    def estimated_at(self, shapes=None) -> str:
        """``images:1x3x320x320 (height, width from the model's metadata)``: the shapes used and their sources."""
        return describe_shapes(self.resolve_shapes(shapes), self.dimension_defaults(shapes))

    def concrete_tensor_shapes(self, shapes=None) -> dict[str, tuple[int, ...]]:
        """Every tensor's shape with the inputs fixed at ``shapes`` (re-running shape inference)."""
        resolved = self.resolve_shapes(shapes)
        light = _shape_only_copy(self.proto, resolved)
        try:
            inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
        except Exception as exc:
            raise ModelError(f"{self.label}: shape inference at {resolved} failed: {exc}") from None
        g = inferred.graph
        out = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            shape = shape_of(v.type)
            if shape is not None and all(isinstance(d, int) for d in shape):
                out[v.name] = shape
        for t in g.initializer:
            out[t.name] = tuple(int(d) for d in t.dims)
        return out  # type: ignore[return-value]  # only all-int shapes were kept

    def estimate_flops(self, shapes=None) -> pd.DataFrame:
        """Per-node MACs and FLOPs at the given input shapes (default: ``default_shapes``).

        Columns: node, op_type, macs, flops, shapes_known. ``df.attrs['input_shapes']`` records the shapes used.
        """
        resolved = self.resolve_shapes(shapes)
        concrete = self.concrete_tensor_shapes(resolved)
        rows = []
        for index, node in enumerate(self.proto.graph.node):
            macs, flops, known = _flops.estimate_node(node, concrete)
            rows.append((node.name or f"{node.op_type}_{index}", node.op_type, macs, flops, known))
        df = pd.DataFrame(rows, columns=["node", "op_type", "macs", "flops", "shapes_known"])
        df.attrs["input_shapes"] = {k: list(v) for k, v in resolved.items()}
        return df

    def macs(self, shapes=None) -> int:
        return int(self.estimate_flops(shapes)["macs"].sum())

    # --- presentation ----------------------------------------------------------------------------------------
    def io_table(self) -> pd.DataFrame:
        rows = [("input", s.name, s.dtype, format_shape(s.shape)) for s in self.inputs]
        rows += [("output", s.name, s.dtype, format_shape(s.shape)) for s in self.outputs]
        return pd.DataFrame(rows, columns=["kind", "name", "dtype", "shape"])

    def op_table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.op_histogram.items()), columns=["op_type", "count"])

    def summary(self, shapes=None) -> pd.DataFrame:
        """One row per fact: name, I/O, counts, opsets, parameters and estimated work."""
        work = self.estimate_flops(shapes)
        rows = [
            ("model", self.name),
            ("source", self.label),
            ("producer", self.producer or "-"),
            ("ir_version", self.ir_version),
            ("opsets", ", ".join(f"{d} {v}" for d, v in self.opsets.items())),
        ]
        rows += [(f"input {s.name}", f"{s.dtype} {format_shape(s.shape)}") for s in self.inputs]
        rows += [(f"output {s.name}", f"{s.dtype} {format_shape(s.shape)}") for s in self.outputs]
        rows += [
            ("nodes", self.node_count),
            ("op types", len(self.op_histogram)),
            ("parameters", f"{self.parameter_count:,}"),
            ("parameter bytes", _human_bytes(self.parameter_bytes)),
            ("estimated at", self.estimated_at(shapes)),
            ("GMACs", round(work["macs"].sum() / 1e9, 4)),
            ("GFLOPs", round(work["flops"].sum() / 1e9, 4)),
        ]
        return pd.DataFrame(rows, columns=["property", "value"]).astype({"value": str})

    def to_dict(self, shapes=None) -> dict:
        """JSON-ready description (the CLI's ``inspect --json``)."""
        work = self.estimate_flops(shapes)
        return {
            "name": self.name,
            "source": self.label,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "nodes": self.node_count,
            "ops": self.op_histogram,
            "params": self.parameter_count,
            "param_bytes": self.parameter_bytes,
            "opset": self.opset,
            "opsets": self.opsets,
            "producer": self.producer,
            "ir_version": self.ir_version,
            "input_shapes": work.attrs["input_shapes"],
            "estimated_at": self.estimated_at(shapes),
            "shape_sources": self.shape_sources(shapes).to_dict(orient="records"),
            "macs": int(work["macs"].sum()),
            "flops": int(work["flops"].sum()),
        }

    def _repr_html_(self) -> str:
        info = self.to_dict()
        head = (f"<b>{html.escape(self.name)}</b> &middot; {info['nodes']} nodes &middot; "
                f"{info['params']:,} parameters ({_human_bytes(info['param_bytes'])}) &middot; "
                f"{info['macs'] / 1e9:.3f} GMACs estimated at {html.escape(info['estimated_at'])} &middot; "
                f"opset {info['opset']}")
        return (f"<div>{head}<div style='display:flex;gap:2em;align-items:flex-start'>"
                f"{self.io_table().to_html(index=False)}{self.op_table().to_html(index=False)}</div></div>")

    def __repr__(self) -> str:
        return (f"Model({self.name!r}, nodes={self.node_count}, params={self.parameter_count:,}, "
                f"inputs={[s.name for s in self.inputs]}, outputs={[s.name for s in self.outputs]})")


def input_channels_from_weights(proto: onnx.ModelProto, inputs: Sequence[TensorSpec]
                                ) -> dict[str, tuple[int, int, str]]:
    """input -> (channel axis 1, channels, "Conv 'name'") for inputs with open channels that a Conv reads (directly
    or through a Cast, as FP16 files do): the channels its weight expects, weight ``[M, C/group, ...]``."""
    g = proto.graph
    weights = {t.name: tuple(t.dims) for t in g.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    weights[node.output[0]] = tuple(a.t.dims)
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    out = {}
    for spec in inputs:
        if spec.shape is None or len(spec.shape) < 3 or isinstance(spec.shape[1], int):
            continue
        reading = list(consumers.get(spec.name, []))
        reading += [c for n in reading if n.op_type == "Cast" for c in consumers.get(n.output[0], [])]
        for node in reading:
            weight = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
            if weight and len(weight) == len(spec.shape):
                group = next((a.i for a in node.attribute if a.name == "group"), 1) or 1
                out[spec.name] = (1, int(weight[1]) * int(group), f"Conv '{node.name or node.output[0]}'")
                break
    return out


def _shape_only_copy(proto: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None = None
                     ) -> onnx.ModelProto:
    """A light copy for checking and shape inference: large float initializers become typed graph inputs (no weight
    bytes copied). With ``input_shapes``, inputs are fixed at those shapes and output shapes are left to inference."""
    input_shapes = input_shapes or {}
    g = proto.graph
    small, large_inputs = [], []
    for t in g.initializer:
        if int(np.prod(t.dims)) <= 64 or t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            small.append(t)
        else:
            large_inputs.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    init_names = {t.name for t in g.initializer}
    inputs = []
    for v in g.input:
        if v.name in init_names:
            continue
        if v.name in input_shapes and v.type.HasField("tensor_type"):
            v = onnx.helper.make_tensor_value_info(v.name, v.type.tensor_type.elem_type, list(input_shapes[v.name]))
        inputs.append(v)
    if proto.ir_version < 4:  # IR 3 requires every initializer to be listed as a graph input too
        large_inputs += [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in small]
    graph = onnx.helper.make_graph(list(g.node), g.name, inputs + large_inputs, list(g.output), small,
                                   value_info=[] if input_shapes else list(g.value_info))
    if input_shapes:
        # Outputs are re-inferred with their shapes cleared, so symbolic output dims do not clash with concrete ones.
        for out in graph.output:
            if out.type.HasField("tensor_type"):
                out.type.tensor_type.ClearField("shape")
    light = onnx.helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    light.functions.extend(proto.functions)
    return light


def weight_free_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its large weights' bytes (typed inputs instead): for onnx.checker on any size of model."""
    return _shape_only_copy(proto)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
