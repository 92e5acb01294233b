"""The shapes side of a model (``model.shapes``): default input shapes with their sources, given shapes checked
against the model, and every tensor's shape at concrete inputs."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Mapping, Sequence, Union

import numpy as np
import onnx
import pandas as pd

from ..errors import ConfigError, ModelError
from .beside import ShapeHint, shape_hints
from .shapes import (
    PRESETS,
    SHAPE_METADATA_KEYS,
    DimensionDefault,
    Preset,
    describe_shapes,
    dimension_defaults,
    dimension_frame,
    is_kv_cache_decoder,
    warn_fallback,
)
from .tensors import Dim, TensorSpec, check_against_spec, parse_shapes, shape_of_cached

if TYPE_CHECKING:
    from .loading import Model

# What every ``shapes`` argument accepts: "x:1x3x224x224,y:1x128", {"x": (1, 3, 224, 224)}, a preset's name
# ("prefill", "decode": KV-cache decoders) or None (the defaults).
ShapesArg = Union[str, Mapping[str, Sequence[int]], None]
Range = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # (min, opt, max) of one input in a profile


class ModelShapes:
    """Input shapes of one model: defaults for open dimensions (each with where it came from), given shapes checked
    against the model, and concrete tensor shapes. ``model.shapes``; shapes fixed by ``Model.at_shapes`` act as the
    defaults."""

    def __init__(
        self, model: "Model", fixed: Mapping[str, tuple[int, ...]] | None = None, preset: str | None = None
    ) -> None:
        self._model = model
        self.fixed: dict[str, tuple[int, ...]] = dict(fixed or {})  # see Model.at_shapes
        self.preset: str | None = preset  # a preset chosen by name ("prefill"); None: decode, the default
        self._warned_fallback = False

    @cached_property
    def presets(self) -> tuple[str, ...]:
        """The named presets this model has: ("decode", "prefill") for a KV-cache decoder, else none."""
        return tuple(PRESETS) if is_kv_cache_decoder(self._model.inputs) else ()

    def preset_name(self, shapes: ShapesArg) -> str | None:
        """``shapes`` when it names a preset of this model; a preset name this model lacks is a ConfigError."""
        if not isinstance(shapes, str) or shapes.strip() not in PRESETS:
            return None
        name = shapes.strip()
        if name not in self.presets:
            raise ConfigError(
                f"{self._model.label}: the '{name}' preset is for LLM decoders with a KV cache (an "
                f"input dimension named like past_sequence_length); this model has none: give the "
                f"shapes as NAME:1x3x224x224"
            )
        return name

    def _preset(self, shapes: ShapesArg) -> Preset:
        return PRESETS[self.preset_name(shapes) or self.preset or "decode"]

    def preset_profiles(self) -> dict[str, dict[str, Range]]:
        """prefill and decode as two optimization profiles (for one engine) of a KV-cache decoder, {} otherwise.

        prefill: prompts of 1..128 tokens on an empty cache (opt 128); decode: one token on 1..128 cached (opt 128).
        Inputs given to ``at_shapes`` stay fixed in both."""
        if not self.presets:
            return {}
        out = {}
        for name, lowest in (("prefill", PRESETS["prefill"].at(1, 0)), ("decode", PRESETS["decode"].at(1, 1))):
            low = self.fill(self._dimensions(None, preset=lowest))
            high = self.fill(self._dimensions(None, preset=PRESETS[name]))
            out[name] = {n: (low[n], high[n], high[n]) for n in high}
        return out

    @property
    def _metadata(self) -> dict[str, str]:
        return {p.key: p.value for p in self._model.proto.metadata_props}

    @cached_property
    def input_channels(self) -> dict[str, tuple[int, int, str]]:
        """input -> (channel axis, channels, the Conv whose weight says so); see ``input_channels_from_weights``."""
        return input_channels_from_weights(self._model.proto, self._model.inputs)

    def dimensions(self, shapes: ShapesArg = None, *, shape_metadata: bool = True) -> list[DimensionDefault]:
        """Every dynamic input dimension with the value used and where it came from (see ``workbench.model.shapes``);
        inputs in ``shapes`` are marked "given". Only what is needed is read, so a broken metadata entry matters only
        for inputs whose shape is not given; ``shape_metadata=False`` ignores the model's shape metadata entirely (the
        Model panel's pre-fill when such an entry is broken)."""
        defaults = self._dimensions(shapes, shape_metadata=shape_metadata)
        if not self._warned_fallback:  # once per model, not at every estimate
            self._warned_fallback = any(d.source == "fallback" for d in defaults)
            warn_fallback(defaults, self._model.label)
        return defaults

    def _dimensions(
        self, shapes: ShapesArg, *, shape_metadata: bool = True, preset: Preset | None = None
    ) -> list[DimensionDefault]:
        metadata = self._metadata
        if not shape_metadata:
            metadata = {k: v for k, v in metadata.items() if k not in SHAPE_METADATA_KEYS}
        return dimension_defaults(
            self._model.inputs,
            metadata,
            self._model.label,
            self.check(shapes),
            channels=self.input_channels,
            preset=preset or self._preset(shapes),
            hints=self.hints if shape_metadata else {},
        )

    @cached_property
    def hints(self) -> dict[str, ShapeHint]:
        """Image size and encoder length from the model's metadata or the files beside it (``beside.shape_hints``)."""
        return shape_hints(self._model.base_dir, self._metadata, self._model.label)

    def sources(self, shapes: ShapesArg = None) -> pd.DataFrame:
        """``dimensions`` as a DataFrame: input, axis, dim, value, source, detail."""
        return dimension_frame(self.dimensions(shapes))

    @cached_property
    def default(self) -> dict[str, tuple[int, ...]]:
        """Concrete input shapes for estimates and builds when none are given (see ``dimensions``)."""
        return self.fill(self.dimensions())

    def fill(self, defaults: Sequence[DimensionDefault]) -> dict[str, tuple[int, ...]]:
        """Every input's shape with its open dimensions set from ``defaults``."""
        values = {(d.input, d.axis): d.value for d in defaults}
        return {
            spec.name: tuple(
                d if isinstance(d, int) and d > 0 else values.get((spec.name, axis), 1)
                for axis, d in enumerate(spec.shape)
            )
            for spec in self._model.inputs
            if spec.shape is not None
        }

    def check(self, shapes: ShapesArg = None) -> dict[str, tuple[int, ...]]:
        """The given shapes (on top of fixed ones), each checked against the input's rank and fixed dims."""
        given = {**self.fixed, **({} if self.preset_name(shapes) else parse_shapes(shapes))}
        known = {s.name: s for s in self._model.inputs}
        for name, dims in given.items():
            if name not in known:
                raise ConfigError(
                    f"shape given for '{name}', which is not an input of {self._model.label} "
                    f"(inputs: {', '.join(known)})"
                )
            check_against_spec(known[name], dims)
        return given

    def resolve(self, shapes: ShapesArg = None) -> dict[str, tuple[int, ...]]:
        """Concrete shapes for every input (given ones checked against the model, the rest defaulted)."""
        given = self.check(shapes)
        if len(given) == len(self._model.inputs):
            return given
        resolved = self.fill(self.dimensions(shapes))  # shapes, not given: a preset's name chooses the defaults
        resolved.update(given)
        return resolved

    def describe(self, shapes: ShapesArg = None) -> str:
        """``images:1x3x320x320 (height, width from the model's metadata)``: the shapes used and their sources."""
        return describe_shapes(self.resolve(shapes), self.dimensions(shapes))

    @cached_property
    def declared(self) -> dict[str, tuple[Dim, ...]]:
        """Every tensor's shape known after shape inference at load (symbolic dimensions by name)."""
        g = self._model.proto.graph
        shapes: dict[str, tuple[Dim, ...]] = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            shape = shape_of_cached(v.type)
            if shape is not None:
                shapes[v.name] = shape
        for t in g.initializer:
            shapes[t.name] = tuple(int(d) for d in t.dims)
        return shapes

    def concrete(self, shapes: ShapesArg = None) -> dict[str, tuple[int, ...]]:
        """Every tensor's shape with the inputs fixed at ``shapes`` (re-running shape inference)."""
        resolved = self.resolve(shapes)
        light = shape_only_copy(self._model.proto, resolved)
        try:
            inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
        except Exception as exc:
            raise ModelError(f"{self._model.label}: shape inference at {resolved} failed: {exc}") from None
        g = inferred.graph
        out: dict[str, tuple[int, ...]] = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            shape = shape_of_cached(v.type)
            if shape is not None and all(isinstance(d, int) for d in shape):
                out[v.name] = tuple(int(d) for d in shape)  # type: ignore[arg-type]  # all ints, checked above
        for t in g.initializer:
            out[t.name] = tuple(int(d) for d in t.dims)
        return out


def input_channels_from_weights(
    proto: onnx.ModelProto, inputs: Sequence[TensorSpec]
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


def shape_only_copy(proto: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None = None) -> onnx.ModelProto:
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
    graph = onnx.helper.make_graph(
        list(g.node),
        g.name,
        inputs + large_inputs,
        list(g.output),
        small,
        value_info=[] if input_shapes else list(g.value_info),
    )
    if input_shapes:
        # Outputs are re-inferred with their shapes cleared, so symbolic output dims do not clash with concrete ones.
        for out in graph.output:
            if out.type.HasField("tensor_type"):
                out.type.tensor_type.ClearField("shape")
    light = onnx.helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    light.functions.extend(proto.functions)
    return light
