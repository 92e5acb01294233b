"""Load ONNX models from any reasonable source and describe them (`load_model`, `Model`)."""

from __future__ import annotations

import hashlib
import html
import os
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import onnx
import pandas as pd
from google.protobuf.message import DecodeError

from ..errors import ConfigError, ExternalDataError, ModelError, ModelNotFoundError, UnsupportedOpsetError
from .external_data import all_tensors, check_initializer_data, check_regular_file, load_external_data
from .model_shapes import ModelShapes, ShapesArg, shape_only_copy
from .order import explain_checker_error, sort_nodes_topologically
from .shapes import normalize_dynamic_dims
from .statistics import ModelStatistics, human_bytes
from .tensors import TensorSpec, dtype_name, spec_of

PRECISION_KEY = "workbench.precision"  # metadata_props entry written by the precision layer: fp16, int8, ...
CALIBRATOR_KEY = "workbench.calibrator"  # ... and the calibrator that chose the INT8/FP8 scales
SOURCE_KEY = "workbench.source_model"  # ... and the name of the model it was converted from

# File signatures of things people drop in by mistake, so the error says what the file is.
_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (a PyTorch checkpoint?)",
    b"\x80\x02": "a Python pickle (a PyTorch checkpoint?)",
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
    for tensor in all_tensors(proto):
        if onnx.external_data_helper.uses_external_data(tensor):
            info = onnx.external_data_helper.ExternalDataInfo(tensor)
            locations.append(info.location)
    return sorted(set(locations))


from .sources import ModelSource  # noqa: E402  (what ``load_model`` takes; named once, in sources.py)


def _resolve(source: ModelSource, label_hint: str | None) -> tuple[onnx.ModelProto, str, Path | None]:
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
            f"{path}: no such file (and not a bundled sample; samples are: {', '.join(samples.SAMPLES)})"
        )
    raise ConfigError(
        f"cannot load a model from a {type(source).__name__}: give a path, bytes, an onnx.ModelProto or a sample name"
    )


def _load_external_data(proto: onnx.ModelProto, label: str, base_dir: Path | None) -> None:
    locations = _external_locations(proto)
    if not locations:
        return
    if base_dir is None:
        raise ExternalDataError(
            f"{label}: the model keeps its weights in external files ({', '.join(locations)}); "
            "load it from its path so they can be found"
        )
    load_external_data(proto, label, base_dir)  # contained in the model's folder, checked before any read


def _check(proto: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """The checks, on a weight-free copy, which is returned (shape inference reuses it)."""
    if not proto.HasField("graph") or len(proto.graph.node) == 0:
        raise ModelError(f"{label}: the graph is empty (no nodes)")
    check_initializer_data(proto, label)
    supported = onnx.defs.onnx_opset_version()
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > supported:
            raise UnsupportedOpsetError(
                f"{label}: uses ONNX opset {opset.version}, newer than the installed onnx {onnx.__version__} "
                f"supports (up to {supported}); upgrade onnx"
            )
    try:
        # Checked without the weight bytes (large initializers become typed inputs): the same structural checks,
        # several times faster on a 100 MB model, and no 2 GB protobuf limit.
        light = shape_only_copy(proto)
        onnx.checker.check_model(light)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{label}: fails onnx.checker: {explain_checker_error(str(exc))}") from None
    return light


def _infer_shapes(proto: onnx.ModelProto, label: str, light: onnx.ModelProto | None = None) -> onnx.ModelProto:
    """Shape inference on a weight-free copy (``light``: the one the check used), its value_info merged back
    (fast, and no 2 GB protobuf limit)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(
            light if light is not None else shape_only_copy(proto), data_prop=True
        )
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


def _sort_if_unsorted(proto: onnx.ModelProto, label: str, stacklevel: int = 3) -> bool:
    """Unsorted nodes (ONNX Runtime and TensorRT accept them, onnx.checker does not) are sorted, said once; True
    when they were."""
    if not sort_nodes_topologically(proto.graph):
        return False
    warnings.warn(
        f"{label}: its nodes were not in topological order (as some converters write them); sorted them on load "
        "— the model computes the same",
        stacklevel=stacklevel,
    )
    return True


def _check_in_order(proto: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """``_check`` with nodes out of topological order sorted first (said once), as ``_sort_if_unsorted``; onnx.checker
    tests the order itself, so the usual, sorted model is not scanned a second time (0.2 s at 50,000 nodes): only
    when the check fails are the nodes sorted, and checked again when that changed them."""
    try:
        return _check(proto, label)
    except ModelError:
        if not _sort_if_unsorted(proto, label, stacklevel=4):  # one frame deeper: still load_model's caller
            raise
    return _check(proto, label)


def fold_model_constants(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Fold Constant/ConstantOfShape and constant subgraphs into initializers (onnx-graphsurgeon + ONNX Runtime)."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(proto)
    graph.fold_constants().cleanup().toposort()
    return gs.export_onnx(graph)


def load_model(
    source: ModelSource, *, fold_constants: bool = False, check: bool = True, name: str | None = None
) -> "Model":
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
    # One weight-free copy for both the check and shape inference (a copy costs 0.08 s at 50,000 nodes); folding
    # constants changes the model, so inference then copies the folded one.
    if check:
        light = _check_in_order(proto, label)
    else:
        _sort_if_unsorted(proto, label)
        light = None
    if fold_constants:
        try:
            proto = fold_model_constants(proto)
        except Exception as exc:
            raise ModelError(f"{label}: constant folding failed: {exc}") from None
        light = None
    proto = _infer_shapes(proto, label, light)
    return Model(proto, label=label, base_dir=base_dir, name=name)


class Model:
    """An ONNX model: its proto and identity, its I/O and opsets. Shapes live in ``model.shapes``
    (:class:`ModelShapes`), counts and estimated work in ``model.stats`` (:class:`ModelStatistics`)."""

    def __init__(
        self, proto: onnx.ModelProto, *, label: str = "<model>", base_dir: Path | None = None, name: str | None = None
    ) -> None:
        self.proto = proto
        self.label = label
        self.base_dir = base_dir
        self.name: str = name or (proto.graph.name if proto.graph.name else None) or Path(label).stem
        self._bytes: bytes | None = None
        # The torch.nn.Module this model was exported from (see from_torch): the framework baseline times it.
        self.source_module: Any = None
        self.shapes = ModelShapes(self)
        self.stats = ModelStatistics(self)

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

    def at_shapes(self, shapes: ShapesArg) -> "Model":
        """This model with ``shapes`` as its defaults (the same bytes and fingerprint): every command, bench and
        calibration included, then uses them where it would use the defaults. Checked against the model now.
        ``shapes`` may name a preset of a KV-cache decoder: ``at_shapes("prefill")``."""
        given, preset = self.shapes.check(shapes), self.shapes.preset_name(shapes)
        if not given and preset is None:
            return self
        model = Model(self.proto, label=self.label, base_dir=self.base_dir, name=self.name)
        model._bytes, model.source_module = self._bytes, self.source_module
        model.shapes = ModelShapes(model, given, preset or self.shapes.preset)
        model.shapes.resolve()  # relations between dims checked now, not in the middle of a benchmark
        return model

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
    def nodes(self) -> Sequence[onnx.NodeProto]:
        return self.proto.graph.node

    @property
    def node_count(self) -> int:
        return len(self.proto.graph.node)

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
    def tensor_dtypes(self) -> dict[str, str]:
        g = self.proto.graph
        out = {
            v.name: dtype_name(v.type.tensor_type.elem_type)
            for v in list(g.input) + list(g.value_info) + list(g.output)
            if v.type.HasField("tensor_type")
        }
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

    # --- kept for the lessons, which call them (notebooks/00, 01, 02) ----------------------------------------
    def summary(self, shapes: ShapesArg = None) -> pd.DataFrame:
        """``model.stats.summary``: one row per fact."""
        return self.stats.summary(shapes)

    def estimated_at(self, shapes: ShapesArg = None) -> str:
        """``model.shapes.describe``: the shapes used and their sources."""
        return self.shapes.describe(shapes)

    # --- presentation ----------------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        info = self.stats.to_dict()
        head = (
            f"<b>{html.escape(self.name)}</b> &middot; {info['nodes']} nodes &middot; "
            f"{info['params']:,} parameters ({human_bytes(info['param_bytes'])}) &middot; "
            f"{info['macs'] / 1e9:.3f} GMACs estimated at {html.escape(info['estimated_at'])} &middot; "
            f"opset {info['opset']}"
        )
        return (
            f"<div>{head}<div style='display:flex;gap:2em;align-items:flex-start'>"
            f"{self.stats.io_table().to_html(index=False)}{self.stats.op_table().to_html(index=False)}</div></div>"
        )

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, nodes={self.node_count}, params={self.stats.parameter_count:,}, "
            f"inputs={[s.name for s in self.inputs]}, outputs={[s.name for s in self.outputs]})"
        )


def weight_free_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its large weights' bytes (typed inputs instead): for onnx.checker on any size of model."""
    return shape_only_copy(proto)
