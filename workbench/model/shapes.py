"""Default values for dynamic input dimensions, each with where it came from.

Users' models leave dimensions open (``batch``, ``height``, ``-1``). Estimates, builds and panels need numbers, so every
open dimension gets one, in this order (the first that applies wins):

1. shapes recorded in the model: the workbench's own ``workbench.default_shapes`` entry, or exporter metadata such
   as Ultralytics' ``imgsz`` ("[640, 640]" or "640") for an image input's height and width; then the image size
   and encoder length the model's metadata or the files beside it give (``beside.py``: config.json, an encoder);
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
from typing import Mapping, Sequence, TYPE_CHECKING

import onnx
import pandas as pd

from ..errors import ConfigError, ModelError
from .beside import ENCODER_LENGTH, IMAGE_SIZE_HINT, ShapeHint
from .tensors import TensorSpec, dims_text, format_shape

if TYPE_CHECKING:
    from .loading import Model

DEFAULT_SHAPES_KEY = "workbench.default_shapes"  # metadata_props entry: JSON {input: [dims]} used for estimates
IMAGE_SIZE_KEY = "imgsz"  # Ultralytics' exporter metadata: "[height, width]" (str of a list) or "640"
SHAPE_METADATA_KEYS = (DEFAULT_SHAPES_KEY, IMAGE_SIZE_KEY)
SEQUENCE_LENGTH = 128  # a typical text length (BERT-style models are usually benchmarked at 128 tokens)
IMAGE_SIZE = 224  # the ImageNet classification size, the most common vision input

SOURCES = ("model", "metadata", "config", "name", "role", "fallback", "given", "preset", "relation")
PAST_LENGTH = 128  # decode preset: tokens already in the KV cache


@dataclass(frozen=True)
class Preset:
    """Shapes of one phase of an LLM decoder with a KV cache: new tokens (``sequence``) on ``past`` cached ones."""

    name: str
    sequence: int
    past: int
    words: str  # what the phase is, for the shapes' sources

    def at(self, sequence: int, past: int) -> "Preset":
        """The same phase at other lengths (a profile's minimum)."""
        return Preset(self.name, sequence, past, self.words)


# Prefill reads the prompt into an empty cache; decode adds one token to a filled one. A KV-cache decoder gets both,
# as the two optimization profiles of one engine; decode is the default for single shapes (the step that repeats).
PRESETS = {
    "decode": Preset("decode", 1, PAST_LENGTH, f"one new token on {PAST_LENGTH} already in the KV cache"),
    "prefill": Preset("prefill", SEQUENCE_LENGTH, 0, f"a prompt of {SEQUENCE_LENGTH} tokens, empty KV cache"),
}
_PAST = re.compile(r"past", re.I)
_BATCH = re.compile(r"(^|[^a-z])(batch|batchsize|bs|n|b|num_?images)([^a-z]|$)|batch", re.I)
# A decoder's cross-attention input (Whisper's encoder_hidden_states, axis 1) and the encoder-length dims of its cache.
_ENCODER_INPUT = re.compile(r"^encoder_(hidden_states|outputs?)$|^encoder_output_states$", re.I)
_ENCODER_DIM = re.compile(r"encoder\w*_out\b", re.I)
_SEQUENCE = re.compile(r"seq|token|(^|_)len(gth)?($|_)|^t$|time_?steps", re.I)


@dataclass(frozen=True)
class DimensionDefault:
    """One dynamic dimension of an input: its name, the value used, and where that value came from."""

    input: str
    axis: int
    dim: str  # the dimension's name in the model (generated for -1/0: ``x_dim0``)
    value: int
    source: str  # one of SOURCES
    detail: str  # in words: "from the model's metadata (imgsz)", "batch-like name", ...


_NOT_A_NAME = re.compile(r"-?\d+|\?")


def generated_dim_name(input_name: str, axis: int) -> str:
    return f"{input_name}_dim{axis}"


def normalize_dynamic_dims(proto: onnx.ModelProto) -> list[str]:
    """Turn ``dim_value`` -1 or 0 (or a number written as the dim's name, ``dim_param`` "-1") on graph inputs and
    outputs into named dynamic dimensions (``x_dim0``), in place.

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
            # A number or "?" as a dim's *name* (some converters write dim_param "-1"): every such axis would share one
            # name, which TensorRT takes for one dimension ("Input dimensions with this name have different constant
            # values" as soon as height and width differ).
            unnamed = dim.HasField("dim_param") and _NOT_A_NAME.fullmatch(dim.dim_param.strip())
            if (dim.HasField("dim_value") and dim.dim_value <= 0) or unnamed:
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
        raise ModelError(
            f"{label}: metadata '{DEFAULT_SHAPES_KEY}' must be JSON like {{\"input\": [1, 3, 224, 224]}}, "
            f"got {text!r} ({exc})"
        ) from None


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
        raise ModelError(
            f"{label}: metadata '{IMAGE_SIZE_KEY}' = {text!r} is not an image size of two positive "
            f"integers (like \"[640, 640]\"), so the height and width of input '{input_name}' cannot be "
            f"taken from it; give the shape of '{input_name}' (--shapes / the shapes field)"
        ) from None
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


def dimension_defaults(
    inputs: Sequence[TensorSpec],
    metadata: Mapping[str, str],
    label: str,
    given: Mapping[str, Sequence[int]] | None = None,
    channels: Mapping[str, tuple[int, int, str]] | None = None,
    preset: Preset = PRESETS["decode"],
    hints: Mapping[str, ShapeHint] | None = None,
) -> list[DimensionDefault]:
    """A value for every dynamic dimension of every input (given shapes win; see the module doc for the order).

    ``channels``: input -> (axis, value, the node whose weight says so), read from the graph by the caller. Dims named
    by an expression of others (``past_sequence_length + sequence_length``) are computed from them, and a dim named
    like one of a given input takes its value; a given shape that contradicts such a relation is a ConfigError.
    ``preset``: the phase a KV-cache decoder's past and sequence lengths come from (see ``PRESETS``). ``hints``: the
    image size and encoder length from the model's metadata or the files beside it (``beside.shape_hints``).
    """
    given = given or {}
    hints = hints or {}
    channels = channels or {}
    recorded = _recorded_shapes(metadata, label)
    decoder = is_kv_cache_decoder(inputs)
    out = []
    for spec in inputs:
        if spec.shape is None:
            continue
        # A layout already plain from fixed channels (NHWC with 3 last, TensorFlow's) wins over a Conv's weight.
        channel = channels.get(spec.name) if image_spatial_axes(spec) is None else None
        effective = spec if channel is None else _with_dim(spec, *channel[:2])
        spatial = image_spatial_axes(effective)
        image = spatial is not None
        image_size = None
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int) and dim > 0:
                continue
            name = dim if isinstance(dim, str) else generated_dim_name(spec.name, axis)
            if spec.name in given:
                out.append(DimensionDefault(spec.name, axis, name, int(given[spec.name][axis]), "given", "given"))
                continue
            if (axis == 1 and _ENCODER_INPUT.search(spec.name)) or _ENCODER_DIM.search(name):
                hint = hints.get(ENCODER_LENGTH)
                if hint is not None:
                    out.append(
                        DimensionDefault(
                            spec.name, axis, name, hint.value[0], "config", f"the encoder's length, from {hint.detail}"
                        )
                    )
                else:
                    out.append(
                        DimensionDefault(
                            spec.name,
                            axis,
                            name,
                            SEQUENCE_LENGTH,
                            "role",
                            f"the encoder's output: a typical length of {SEQUENCE_LENGTH} (give "
                            f"the encoder's own, e.g. Whisper's 1500, or put its encoder model "
                            f"or config.json beside this one)",
                        )
                    )
            elif dimension_expression(name) is not None:
                out.append(DimensionDefault(spec.name, axis, name, 0, "relation", ""))  # computed below
            elif channel is not None and axis == channel[0] and spec.name not in recorded:
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        channel[1],
                        "model",
                        f"channels of the weight of {channel[2]}, which reads it",
                    )
                )
            elif decoder and _PAST.search(name) and spec.name not in recorded:
                out.append(
                    DimensionDefault(
                        spec.name, axis, name, preset.past, "preset", f"{preset.name} preset: {preset.words}"
                    )
                )
            elif decoder and _SEQUENCE.search(name) and spec.name not in recorded:
                out.append(
                    DimensionDefault(
                        spec.name, axis, name, preset.sequence, "preset", f"{preset.name} preset: {preset.words}"
                    )
                )
            elif spec.name in recorded:
                dims = recorded[spec.name]
                if len(dims) != len(spec.shape):
                    raise ModelError(
                        f"{label}: metadata '{DEFAULT_SHAPES_KEY}' gives input '{spec.name}' the shape "
                        f"{dims}, but the input has rank {len(spec.shape)} {format_shape(spec.shape)}"
                    )
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        dims[axis],
                        "metadata",
                        f"from the model's metadata ({DEFAULT_SHAPES_KEY})",
                    )
                )
            elif image and axis in spatial and IMAGE_SIZE_KEY in metadata:
                image_size = image_size or parse_image_size(metadata[IMAGE_SIZE_KEY], spec.name, label)
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        image_size[spatial.index(axis)],
                        "metadata",
                        f"from the model's metadata ({IMAGE_SIZE_KEY})",
                    )
                )
            elif image and axis in spatial and IMAGE_SIZE_HINT in hints:
                hint = hints[IMAGE_SIZE_HINT]
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        hint.value[spatial.index(axis)],
                        "metadata" if hint.detail.startswith("the model's") else "config",
                        f"from {hint.detail}",
                    )
                )
            elif isinstance(dim, str) and _BATCH.search(dim):
                out.append(DimensionDefault(spec.name, axis, name, 1, "name", "batch-like name"))
            elif isinstance(dim, str) and _SEQUENCE.search(dim):
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        SEQUENCE_LENGTH,
                        "name",
                        f"sequence-like name, a typical length of {SEQUENCE_LENGTH}",
                    )
                )
            elif image and axis == 0:
                out.append(DimensionDefault(spec.name, axis, name, 1, "role", "image input: one image"))
            elif image and axis in spatial:
                channels = effective.shape[1] if spatial == (2, 3) else effective.shape[3]
                out.append(
                    DimensionDefault(
                        spec.name,
                        axis,
                        name,
                        IMAGE_SIZE,
                        "role",
                        f"image input ({channels} channels): {IMAGE_SIZE} pixels",
                    )
                )
            else:
                out.append(
                    DimensionDefault(
                        spec.name, axis, name, 1, "fallback", "nothing in the model says: 1 (give the shape)"
                    )
                )
    return _apply_relations(out, label)


def _with_dim(spec: TensorSpec, axis: int, value: int) -> TensorSpec:
    shape = list(spec.shape)
    shape[axis] = value
    return TensorSpec(spec.name, spec.dtype, tuple(shape))


_EXPRESSION_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.USub,
    ast.Name,
    ast.Load,
    ast.Constant,
)


def dimension_expression(name: str) -> ast.Expression | None:
    """The arithmetic a dim's name writes (``past_sequence_length + sequence_length``), None for a plain name."""
    try:
        tree = ast.parse(name.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None
    if isinstance(tree.body, ast.Name) or not all(isinstance(n, _EXPRESSION_NODES) for n in ast.walk(tree)):
        return None
    if not any(isinstance(n, ast.Name) for n in ast.walk(tree)):
        return None
    return tree


def evaluate_dimension(tree: ast.Expression, values: Mapping[str, int]) -> int | None:
    """The value of a dim expression from the values of the dims it names (None when one is unknown)."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if not names <= set(values):
        return None
    # Only names, integers and + - * / // % reach here (dimension_expression), so this eval cannot run anything else.
    result = eval(compile(tree, "<dim>", "eval"), {"__builtins__": {}}, {n: int(values[n]) for n in names})
    return int(result)


def _apply_relations(defaults: list[DimensionDefault], label: str) -> list[DimensionDefault]:
    """Same-named dims take one value (a given one first); expression dims are computed from the dims they name."""
    plain = [d for d in defaults if dimension_expression(d.dim) is None]
    given = {}
    for d in plain:
        if d.source == "given":
            if d.dim in given and given[d.dim][0] != d.value:
                other = given[d.dim]
                raise ConfigError(
                    f"{label}: the shapes given contradict the model: dimension '{d.dim}' is "
                    f"{other[0]} in input '{other[1]}' but {d.value} in input '{d.input}' (the model "
                    f"names both the same, so they must be equal)"
                )
            given.setdefault(d.dim, (d.value, d.input))
    values = {name: value for name, (value, _) in given.items()}
    out = []
    for d in defaults:
        if d.source not in ("given", "relation") and d.dim in given:
            value, source_input = given[d.dim]
            d = DimensionDefault(
                d.input,
                d.axis,
                d.dim,
                value,
                "relation",
                f"the same dimension '{d.dim}' as given for input '{source_input}'",
            )
        out.append(d)
    for d in out:
        if dimension_expression(d.dim) is None:
            values.setdefault(d.dim, d.value)
    result = []
    for d in out:
        tree = dimension_expression(d.dim) if d.source in ("given", "relation") else None  # not a hint's value
        if tree is not None:
            value = evaluate_dimension(tree, values)
            if d.source == "given":
                if value is not None and value != d.value:
                    raise ConfigError(
                        f"{label}: the shapes given contradict the model: input '{d.input}' axis {d.axis} is named "
                        f"'{d.dim}', which is {value} at the other dimensions, but {d.value} was given"
                    )
            elif value is None:
                d = DimensionDefault(
                    d.input,
                    d.axis,
                    d.dim,
                    1,
                    "fallback",
                    f"'{d.dim}' names dimensions no input has: 1 (give the shape)",
                )
            else:
                names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})
                d = DimensionDefault(
                    d.input,
                    d.axis,
                    d.dim,
                    value,
                    "relation",
                    f"computed from {', '.join(f'{n} = {values[n]}' for n in names)}",
                )
        result.append(d)
    return result


def warn_fallback(defaults: Sequence[DimensionDefault], label: str) -> None:
    fallback = [d for d in defaults if d.source == "fallback"]
    if fallback:
        warnings.warn(
            f"{label}: no default known for {', '.join(f'{d.input}[{d.axis}] ({d.dim})' for d in fallback)}"
            f"; estimated at 1 — give the input shapes",
            stacklevel=4,
        )


def dimension_frame(defaults: Sequence[DimensionDefault]) -> pd.DataFrame:
    return pd.DataFrame([asdict(d) for d in defaults], columns=["input", "axis", "dim", "value", "source", "detail"])


_SOURCE_WORDS = {
    "metadata": "from the model's metadata",
    "name": "from {its} name",
    "role": "from the input's role",
    "model": "from the weight that reads {it}",
    "preset": "from the {preset} preset",
    "relation": "computed from the other dimensions",
    "config": "from the files beside the model",
    "fallback": "set to 1 for want of anything better: give {it}",
    "given": "given",
}


def describe_shapes(shapes: Mapping[str, Sequence[int]], defaults: Sequence[DimensionDefault]) -> str:
    """``images:1x3x320x320 (batch from their names; height, width from the model's metadata)``."""
    parts = []
    for name, dims in shapes.items():
        text = f"{name}:{dims_text(dims)}"
        by_source: dict[tuple[str, str], list[str]] = {}
        for d in defaults:
            if d.input == name and d.source != "given":
                phase = d.detail.split(" preset")[0] if d.source == "preset" else ""
                by_source.setdefault((d.source, phase), []).append(d.dim)
        if by_source:
            text += (
                " ("
                + "; ".join(
                    f"{', '.join(dims_)} "
                    + _SOURCE_WORDS[source].format(
                        its="its" if len(dims_) == 1 else "their", it="it" if len(dims_) == 1 else "them", preset=phase
                    )
                    for (source, phase), dims_ in by_source.items()
                )
                + ")"
            )
        parts.append(text)
    return ", ".join(parts)


def is_kv_cache_decoder(inputs: Sequence[TensorSpec]) -> bool:
    """An input dimension named like a past length (``past_sequence_length``): an LLM decoder with a KV cache."""
    return any(
        isinstance(d, str) and _PAST.search(d) and dimension_expression(d) is None
        for spec in inputs
        for d in (spec.shape or ())
    )


def defaulted_dimensions(
    model: Model, given: Sequence[str] = (), *, skip_axes: Sequence[int] = ()
) -> list[DimensionDefault]:
    """The dynamic dimensions of inputs not in ``given`` (input names), with the defaults that were used."""
    return [d for d in model.shapes.dimensions() if d.input not in set(given) and d.axis not in set(skip_axes)]


def shapes_advice(model: Model, shapes: Mapping[str, Sequence[int]], defaulted: Sequence[DimensionDefault]) -> str:
    """Which dimensions were defaulted to what, and the exact shapes value to set (CLI, panel and Python): appended
    to the message of a build or run that failed at default shapes ("" when nothing was defaulted)."""
    if not defaulted:
        return ""
    said = "; ".join(f"{d.input} {d.dim} = {d.value} ({d.detail})" for d in defaulted)
    inputs = [name for name in shapes if any(d.input == name for d in defaulted)]
    value = ",".join(f"{name}:{dims_text(shapes[name])}" for name in inputs)
    python = ", ".join(f"{name!r}: {tuple(shapes[name])}" for name in inputs)
    return (
        f". Dimensions the model leaves open were defaulted: {said}. If these are not sizes the model accepts, "
        f"give the shapes: --shapes {value} on the command line, '{value}' in the shapes field of the Model "
        f"panel, or shapes={{{python}}} in Python — with the sizes your data has"
    )
