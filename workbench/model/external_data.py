"""Where a model's external data may come from: files inside the model's own folder, checked by the workbench itself
before anything is read (whatever onnx is installed: onnx 1.16-1.20 follow a symlink out of the folder).

A location is refused when it is absolute, climbs out with ``..``, or reaches a file outside the folder through a
symlink (of the file or of a folder on the way); the error is the same whether the outside target exists or not, so
it tells nothing about files outside. A FIFO, device or folder as the data file is refused before it is opened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx

from ..errors import ExternalDataError, ModelError


def all_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the model: initializers and tensor attributes, in bodies and functions too (the tensors
    onnx's ``_get_all_tensors`` yields), without visiting the attributes of nodes that have none (most of them:
    0.2 s of a 50,000-node load went to walking those)."""

    def in_nodes(nodes):
        for node in nodes:
            if not len(node.attribute):
                continue
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                if attribute.HasField("g"):
                    yield from in_graph(attribute.g)
                for body in attribute.graphs:
                    yield from in_graph(body)

    def in_graph(graph):
        yield from graph.initializer
        yield from in_nodes(graph.node)

    yield from in_graph(proto.graph)
    for function in proto.functions:
        yield from in_nodes(function.node)


def _tensors_with_external_data(proto: onnx.ModelProto):
    for tensor in all_tensors(proto):
        if onnx.external_data_helper.uses_external_data(tensor):
            yield tensor, onnx.external_data_helper.ExternalDataInfo(tensor).location


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _lexically_inside(location: str) -> bool:
    if (
        not location
        or "\x00" in location
        or PurePosixPath(location).is_absolute()
        or PureWindowsPath(location).is_absolute()
        or PureWindowsPath(location).drive
    ):
        return False
    normal = os.path.normpath(location.replace("\\", "/"))
    return normal != ".." and not normal.startswith("../") and not os.path.isabs(normal)


def describe_special_file(mode: int) -> str | None:
    """'a FIFO', 'a device', ... for a file that is not a regular file (reading one could hang or never end)."""
    for test, what in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_regular_file(path: Path, what: str) -> None:
    """Refuse a path that exists but is a FIFO, device, socket or folder, naming what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing: the caller says so in its own words
    special = describe_special_file(mode)
    if special:
        raise ModelError(f"{path}: is {special}, not {what}")


def resolve_external_data(proto: onnx.ModelProto, label: str, base_dir: Path) -> dict[str, Path]:
    """Check every external-data location of ``proto`` against ``base_dir`` (the model's folder) before anything is
    read; point each tensor at its resolved file (no ``..``, no symlink left for a loader to follow). Returns
    {location as written: resolved file}. Raises ExternalDataError naming the model, the tensor and the location."""
    folder = os.path.realpath(base_dir)
    resolved: dict[str, Path] = {}
    for tensor, location in _tensors_with_external_data(proto):
        if location not in resolved:
            target = os.path.realpath(os.path.join(folder, location)) if _lexically_inside(location) else None
            if target is None or not _inside(target, folder) or target == folder:
                raise ExternalDataError(
                    f"{label}: tensor '{tensor.name}' keeps its data at '{location}', which is not a file inside the "
                    f"model's folder; external data is read only from inside {base_dir} (no absolute paths, no '..' "
                    "out of it, no symlinks leading out): copy the data file next to the model"
                )
            try:
                mode = os.stat(target).st_mode
            except OSError:
                raise ExternalDataError(
                    f"{label}: tensor '{tensor.name}': external data file '{location}' is "
                    f"missing (looked in {base_dir})"
                ) from None
            special = describe_special_file(mode)
            if special:
                raise ExternalDataError(
                    f"{label}: tensor '{tensor.name}': external data file '{location}' is {special}, not a data file"
                )
            resolved[location] = Path(target)
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = os.path.relpath(resolved[location], folder)
    return resolved


def load_external_data(proto: onnx.ModelProto, label: str, base_dir: Path) -> None:
    """Resolve (above), then read the weights into ``proto``; onnx's own errors become ExternalDataError."""
    resolve_external_data(proto, label, base_dir)
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, os.path.realpath(base_dir))
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise ExternalDataError(f"{label}: could not read external data: {exc}") from None


# one element per entry of the typed field (complex: two); 4-bit types pack two per raw byte
_TYPED_FIELD = {
    onnx.TensorProto.FLOAT: "float_data",
    onnx.TensorProto.DOUBLE: "double_data",
    onnx.TensorProto.INT64: "int64_data",
    onnx.TensorProto.UINT64: "uint64_data",
    **{
        t: "int32_data"
        for t in (
            onnx.TensorProto.INT32,
            onnx.TensorProto.INT16,
            onnx.TensorProto.INT8,
            onnx.TensorProto.UINT16,
            onnx.TensorProto.UINT8,
            onnx.TensorProto.BOOL,
            onnx.TensorProto.FLOAT16,
            onnx.TensorProto.BFLOAT16,
        )
    },
}


def check_initializer_data(proto: onnx.ModelProto, label: str) -> None:
    """Every initializer holds the data its dims declare (10^6 x 10^6 declared over 16 bytes is a broken file, not
    a trillion parameters). Tensors still in external files are checked by their loader."""
    import math

    import numpy as np

    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.data_type == onnx.TensorProto.STRING:
            continue
        elements = math.prod(tensor.dims)
        try:
            itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        except (KeyError, TypeError, ValueError):
            continue  # a type numpy does not know: leave it to the runtimes
        if tensor.HasField("raw_data") or tensor.raw_data:
            packed = tensor.data_type in (getattr(onnx.TensorProto, n, -1) for n in ("INT4", "UINT4", "FLOAT4E2M1"))
            expected, held = ((elements + 1) // 2 if packed else elements * itemsize), len(tensor.raw_data)
        elif tensor.data_type in _TYPED_FIELD:
            expected, held = elements, len(getattr(tensor, _TYPED_FIELD[tensor.data_type]))
        else:
            continue
        if expected != held:
            raise ModelError(
                f"{label}: initializer '{tensor.name}' declares dims {list(tensor.dims)} "
                f"({elements:,} elements) but holds {held:,} {'bytes' if tensor.raw_data else 'values'} "
                f"of data (expected {expected:,}): the file is damaged or was written wrongly"
            )
