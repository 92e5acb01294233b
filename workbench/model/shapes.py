"""Default values for dynamic input dimensions, each with where it came from.

Users' models leave dimensions open (``batch``, ``height``, ``-1``). Estimates, builds and panels need numbers, so every
open dimension gets one, in this order (the first that applies wins):

1. shapes recorded in the model: the workbench's own ``workbench.default_shapes`` entry, or exporter metadata such
   as Ultralytics' ``imgsz`` ("[640, 640]" or "640") for an image input's height and width;
2. the dimension's name: batch-like names -> 1, sequence-like names -> ``SEQUENCE_LENGTH``;
3. the input's role: a rank-4 input with 1 or 3 channels is an image (batch 1, height and width ``IMAGE_SIZE``);
4. else 1, with a warning (nothing in the model says; the user should give the shape).

Dimensions written as ``-1`` or ``0`` are dynamic too; ``normalize_dynamic_dims`` names them ``<input>_dim<axis>``.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import onnx
import pandas as pd

from ..errors import ModelError
from .tensors import TensorSpec, format_shape

DEFAULT_SHAPES_KEY = "workbench.default_shapes"  # metadata_props entry: JSON {input: [dims]} used for estimates
IMAGE_SIZE_KEY = "imgsz"  # Ultralytics' exporter metadata: "[height, width]" (str of a list) or "640"
SHAPE_METADATA_KEYS = (DEFAULT_SHAPES_KEY, IMAGE_SIZE_KEY)
SEQUENCE_LENGTH = 128     # a typical text length (BERT-style models are usually benchmarked at 128 tokens)
IMAGE_SIZE = 224          # the ImageNet classification size, the most common vision input

SOURCES = ("model", "metadata", "name", "role", "fallback", "given")  # ordered as the rules above; model: fixed dims
_BATCH = re.compile(r"(^|[^a-z])(batch|batchsize|bs|n|b|num_?images)([^a-z]|$)|batch", re.I)
_SEQUENCE = re.compile(r"seq|token|(^|_)len(gth)?($|_)|^t$|time_?steps", re.I)


@dataclass(frozen=True)
class DimensionDefault:
    """One dynamic dimension of an input: its name, the value used, and where that value came from."""

    input: str
    axis: int
    dim: str          # the dimension's name in the model (generated for -1/0: ``x_dim0``)
    value: int
    source: str       # one of SOURCES
    detail: str       # in words: "from the model's metadata (imgsz)", "batch-like name", ...


def generated_dim_name(input_name: str, axis: int) -> str:
    return f"{input_name}_dim{axis}"


def normalize_dynamic_dims(proto: onnx.ModelProto) -> list[str]:
    """Turn ``dim_value`` -1 or 0 on graph inputs and outputs into named dynamic dimensions (``x_dim0``), in place.

    Several exporters (Paddle2ONNX, TF2ONNX) write a dynamic dimension so; read literally it is a fixed -1 that no
    shape can match. Returns the names given.
    """
    renamed = []
    initializers = {t.name for t in proto.graph.initializer}
    for value in list(proto.graph.input) + list(proto.graph.output):
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        if not value.type.tensor_type.HasField("shape"):
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value <= 0:
                name = generated_dim_name(value.name, axis)
                dim.dim_param = name  # clears dim_value (a oneof)
                renamed.append(name)
    return renamed


def _recorded_shapes(metadata: Mapping[str, str], label: str) -> dict[str, list]:
    text = metadata.get(DEFAULT_SHAPES_KEY)
    if text is None:
        return {}
    try:
        recorded = json.loads(text)
        if not isinstance(recorded, dict):
            raise ValueError("not a JSON object")
        return {str(k): [int(d) for d in v] for k, v in recorded.items()}
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{label}: metadata '{DEFAULT_SHAPES_KEY}' must be JSON like {{\"input\": [1, 3, 224, 224]}}, "
                         f"got {text!r} ({exc})") from None


def parse_image_size(text: str, input_name: str, label: str) -> tuple[int, int]:
    """Ultralytics' ``imgsz`` metadata ("[640, 640]", "(480, 640)" or "640") -> (height, width)."""
    try:
        value = ast.literal_eval(text.strip())
        if isinstance(value, int):
            value = [value, value]
        height, width = value
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (height, width)):
            raise ValueError
    except (ValueError, SyntaxError, TypeError, MemoryError):
        raise ModelError(f"{label}: metadata '{IMAGE_SIZE_KEY}' = {text!r} is not an image size of two positive "
                         f"integers (like \"[640, 640]\"), so the height and width of input '{input_name}' cannot be "
                         f"taken from it; give the shape of '{input_name}' (--shapes / the shapes field)") from None
    return height, width


def image_spatial_axes(spec: TensorSpec) -> tuple[int, int] | None:
    """(height axis, width axis) of an image input: rank 4 with 1 or 3 channels, NCHW (PyTorch, Paddle) or NHWC
    (TensorFlow exports); None for anything else."""
    if spec.shape is None or len(spec.shape) != 4:
        return None
    if spec.shape[1] in (1, 3):
        return 2, 3
    if spec.shape[3] in (1, 3):
        return 1, 2
    return None


def dimension_defaults(inputs: Sequence[TensorSpec], metadata: Mapping[str, str], label: str,
                       given: Mapping[str, Sequence[int]] | None = None) -> list[DimensionDefault]:
    """A value for every dynamic dimension of every input (given shapes win; see the module doc for the order)."""
    given = given or {}
    recorded = _recorded_shapes(metadata, label)
    out = []
    for spec in inputs:
        if spec.shape is None:
            continue
        spatial = image_spatial_axes(spec)
        image = spatial is not None
        image_size = None
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int) and dim > 0:
                continue
            name = dim if isinstance(dim, str) else generated_dim_name(spec.name, axis)
            if spec.name in given:
                out.append(DimensionDefault(spec.name, axis, name, int(given[spec.name][axis]), "given",
                                            "given"))
                continue
            if spec.name in recorded:
                dims = recorded[spec.name]
                if len(dims) != len(spec.shape):
                    raise ModelError(f"{label}: metadata '{DEFAULT_SHAPES_KEY}' gives input '{spec.name}' the shape "
                                     f"{dims}, but the input has rank {len(spec.shape)} {format_shape(spec.shape)}")
                out.append(DimensionDefault(spec.name, axis, name, dims[axis], "metadata",
                                            f"from the model's metadata ({DEFAULT_SHAPES_KEY})"))
            elif image and axis in spatial and IMAGE_SIZE_KEY in metadata:
                image_size = image_size or parse_image_size(metadata[IMAGE_SIZE_KEY], spec.name, label)
                out.append(DimensionDefault(spec.name, axis, name, image_size[spatial.index(axis)], "metadata",
                                            f"from the model's metadata ({IMAGE_SIZE_KEY})"))
            elif isinstance(dim, str) and _BATCH.search(dim):
                out.append(DimensionDefault(spec.name, axis, name, 1, "name", "batch-like name"))
            elif isinstance(dim, str) and _SEQUENCE.search(dim):
                out.append(DimensionDefault(spec.name, axis, name, SEQUENCE_LENGTH, "name",
                                            f"sequence-like name, a typical length of {SEQUENCE_LENGTH}"))
            elif image and axis == 0:
                out.append(DimensionDefault(spec.name, axis, name, 1, "role", "image input: one image"))
            elif image and axis in spatial:
                channels = spec.shape[1] if spatial == (2, 3) else spec.shape[3]
                out.append(DimensionDefault(spec.name, axis, name, IMAGE_SIZE, "role",
                                            f"image input ({channels} channels): {IMAGE_SIZE} pixels"))
            else:
                out.append(DimensionDefault(spec.name, axis, name, 1, "fallback",
                                            "nothing in the model says: 1 (give the shape)"))
    return out


def warn_fallback(defaults: Sequence[DimensionDefault], label: str) -> None:
    fallback = [d for d in defaults if d.source == "fallback"]
    if fallback:
        warnings.warn(f"{label}: no default known for {', '.join(f'{d.input}[{d.axis}] ({d.dim})' for d in fallback)}"
                      f"; estimated at 1 — give the input shapes", stacklevel=4)


def dimension_frame(defaults: Sequence[DimensionDefault]) -> pd.DataFrame:
    return pd.DataFrame([asdict(d) for d in defaults],
                        columns=["input", "axis", "dim", "value", "source", "detail"])


_SOURCE_WORDS = {"metadata": "from the model's metadata", "name": "from {its} name", "role": "from the input's role",
                 "fallback": "set to 1 for want of anything better: give {it}", "given": "given"}


def describe_shapes(shapes: Mapping[str, Sequence[int]], defaults: Sequence[DimensionDefault]) -> str:
    """``images:1x3x320x320 (batch from their names; height, width from the model's metadata)``."""
    parts = []
    for name, dims in shapes.items():
        text = f"{name}:{'x'.join(map(str, dims))}"
        by_source: dict[str, list[str]] = {}
        for d in defaults:
            if d.input == name and d.source != "given":
                by_source.setdefault(d.source, []).append(d.dim)
        if by_source:
            text += " (" + "; ".join(
                f"{', '.join(dims_)} " + _SOURCE_WORDS[source].format(its="its" if len(dims_) == 1 else "their",
                                                                      it="it" if len(dims_) == 1 else "them")
                for source, dims_ in by_source.items()) + ")"
        parts.append(text)
    return ", ".join(parts)


def defaulted_dimensions(model, given: Sequence[str] = (), *, skip_axes: Sequence[int] = ()) -> list[DimensionDefault]:
    """The dynamic dimensions of inputs not in ``given`` (input names), with the defaults that were used."""
    return [d for d in model.dimension_defaults() if d.input not in set(given) and d.axis not in set(skip_axes)]


def shapes_advice(model, shapes: Mapping[str, Sequence[int]], defaulted: Sequence[DimensionDefault]) -> str:
    """Which dimensions were defaulted to what, and the exact shapes value to set (CLI, panel and Python): appended
    to the message of a build or run that failed at default shapes ("" when nothing was defaulted)."""
    if not defaulted:
        return ""
    said = "; ".join(f"{d.input} {d.dim} = {d.value} ({d.detail})" for d in defaulted)
    inputs = [name for name in shapes if any(d.input == name for d in defaulted)]
    value = ",".join(f"{name}:{'x'.join(map(str, shapes[name]))}" for name in inputs)
    python = ", ".join(f"{name!r}: {tuple(shapes[name])}" for name in inputs)
    return (f". Dimensions the model leaves open were defaulted: {said}. If these are not sizes the model accepts, "
            f"give the shapes: --shapes {value} on the command line, '{value}' in the shapes field of the Model "
            f"panel, or shapes={{{python}}} in Python — with the sizes your data has")
