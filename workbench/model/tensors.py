"""Small helpers on ONNX tensor types and shapes, shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import onnx

from ..errors import ConfigError

Dim = int | str | None
Shapes = Mapping[str, Sequence[int]]  # input name -> concrete dimensions (what ``--shapes`` parses to)


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: its name, element type and shape (symbolic dimensions kept by name)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None  # None: rank unknown

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": None if self.shape is None else list(self.shape)}

    @property
    def is_dynamic(self) -> bool:
        return self.shape is None or any(not isinstance(d, int) for d in self.shape)


@lru_cache(maxsize=None)  # a few dozen element types; np.dtype per tensor took 1 s at 50,000 tensors
def dtype_name(elem_type: int) -> str:
    """numpy-style name of an ONNX element type ('float32', 'int64', 'bfloat16', 'float8e4m3fn', ...)."""
    if elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined"
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        # bfloat16 / float8 variants map to ml_dtypes types or to nothing, depending on the onnx version.
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def itemsize(elem_type: int) -> float:
    """Bytes per element (fractional for 4-bit types)."""
    name = onnx.TensorProto.DataType.Name(elem_type)
    if name in ("INT4", "UINT4", "FLOAT4E2M1"):
        return 0.5
    if name.startswith("FLOAT8") or name in ("INT8", "UINT8", "BOOL"):
        return 1
    if name in ("FLOAT16", "BFLOAT16", "INT16", "UINT16"):
        return 2
    if name in ("FLOAT", "INT32", "UINT32"):
        return 4
    if name in ("DOUBLE", "INT64", "UINT64", "COMPLEX64"):
        return 8
    if name == "COMPLEX128":
        return 16
    return 0  # STRING / UNDEFINED: no fixed size


def shape_of(type_proto: onnx.TypeProto) -> tuple[Dim, ...] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims: list[Dim] = []
    for dim in type_proto.tensor_type.shape.dim:
        which = dim.WhichOneof("value")  # one call per dimension (this runs over every tensor of a model)
        if which == "dim_value":
            dims.append(int(dim.dim_value))
        elif which == "dim_param" and dim.dim_param:
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


@lru_cache(maxsize=65536)  # a model's tensor types repeat (a 50,000-node chain has a handful of distinct ones)
def _shape_of_serialized(data: bytes) -> tuple[Dim, ...] | None:
    return shape_of(onnx.TypeProto.FromString(data))


def shape_of_cached(type_proto: onnx.TypeProto) -> tuple[Dim, ...] | None:
    """``shape_of``, memoized on the type's bytes: serializing a TypeProto is one C call where reading its
    dimensions field by field costs microseconds per dimension, over every tensor of a model."""
    return _shape_of_serialized(type_proto.SerializeToString())


def spec_of(value_info: onnx.ValueInfoProto) -> TensorSpec:
    elem = value_info.type.tensor_type.elem_type if value_info.type.HasField("tensor_type") else 0
    return TensorSpec(value_info.name, dtype_name(elem), shape_of(value_info.type))


def format_shape(shape: Sequence[Dim] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def dims_text(dims: Sequence[int]) -> str:
    """``1x3x224x224``: one input's dims as ``parse_shapes`` and the CLI take them."""
    return "x".join(map(str, dims))


def parse_shapes(text: str | Mapping[str, Sequence[int]] | None) -> dict[str, tuple[int, ...]]:
    """Parse ``name:1x3x224x224,other:1x128`` (the CLI form) or pass a mapping through, validated."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        out = {}
        for name, dims in text.items():
            try:
                out[str(name)] = tuple(int(d) for d in dims)
            except (TypeError, ValueError):
                raise ConfigError(f"shape for input '{name}' must be a sequence of integers, got {dims!r}") from None
            if any(d < 0 for d in out[str(name)]):  # 0 is a length too: an empty KV cache at prefill
                raise ConfigError(f"shape for input '{name}' must have dimensions of 0 or more, got {dims!r}")
        return out
    out = {}
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, dims = item.rpartition(":")
        if not sep or not name:
            raise ConfigError(f"shape '{item}' must look like NAME:1x3x224x224")
        try:
            out[name] = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise ConfigError(
                f"shape '{item}': dimensions must be integers joined by 'x', e.g. {name}:1x3x224x224"
            ) from None
        if any(d < 0 for d in out[name]):
            raise ConfigError(f"shape '{item}': dimensions must be 0 or more")
    return out


def parse_int_list(text: str | int, what: str) -> list[int]:
    """``"1,8"`` -> ``[1, 8]`` for sweep axes (batch sizes, concurrency, threads); ``what`` names the setting."""
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise ConfigError(f"{what} '{text}' must be integers separated by commas, e.g. 1,8") from None
    if not values or min(values) < 1:
        raise ConfigError(f"{what} '{text}' must list positive integers, e.g. 1,8")
    return values


def check_against_spec(spec: TensorSpec, dims: Sequence[int], what: str = "shape") -> None:
    """Raise ConfigError unless ``dims`` fits the input's declared rank and fixed dimensions."""
    if spec.shape is None:
        return
    if len(dims) != len(spec.shape):
        raise ConfigError(
            f"input '{spec.name}' {what} {list(dims)} has rank {len(dims)}, the model's input has "
            f"rank {len(spec.shape)} {format_shape(spec.shape)}"
        )
    for i, (want, got) in enumerate(zip(spec.shape, dims)):
        if isinstance(want, int) and want != got:
            raise ConfigError(
                f"input '{spec.name}' {what}: dimension {i} is fixed at {want} in the model, got {got} "
                f"(expected {format_shape(spec.shape)})"
            )
