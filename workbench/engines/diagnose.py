"""Make a failed build (or ONNX Runtime run) say what to do: which ONNX nodes TensorRT's message names, which input
dimensions were defaulted (and to what), and the exact shapes to give instead.

TensorRT names network layers after the ONNX nodes they come from (``IConcatenationLayer /model.11/Concat: axis 2
dimensions must be equal ...``), so the node names are found in its message text.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from ..errors import EngineBuildError
from ..model.shapes import DimensionDefault


def nodes_named_in(message: str, model) -> list[str]:
    """ONNX node names (top-level and body nodes) that appear in ``message``, in order of appearance, longest
    match first where names overlap (``/model.11/Concat_1`` is not also ``/model.11/Concat``)."""
    from ..model.subgraphs import walk_nodes

    names = {ref.name for ref in walk_nodes(model.proto) if len(ref.name) >= 3}
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"(?<![\w./-]){re.escape(name)}(?![\w.-])", message):
            span = match.span()
            if not any(a < span[1] and span[0] < b for a, b in taken):
                taken.append(span)
                found.append((span[0], name))
    return list(dict.fromkeys(name for _, name in sorted(found)))


def defaulted_dimensions(model, given: Sequence[str] = ()) -> list[DimensionDefault]:
    """The dynamic dimensions of inputs not in ``given`` (input names), with the defaults that were used."""
    return [d for d in model.dimension_defaults() if d.input not in set(given)]


def shapes_advice(model, shapes: Mapping[str, Sequence[int]], defaulted: Sequence[DimensionDefault]) -> str:
    """Which dimensions were defaulted to what, and the exact shapes value to set (CLI, panel and Python)."""
    if not defaulted:
        return ""
    said = "; ".join(f"{d.input} {d.dim} = {d.value} ({d.detail})" for d in defaulted)
    inputs = [name for name in shapes if any(d.input == name for d in defaulted)]
    value = ",".join(f"{name}:{'x'.join(map(str, shapes[name]))}" for name in inputs)
    python = ", ".join(f"{name!r}: {tuple(shapes[name])}" for name in inputs)
    return (f". Dimensions the model leaves open were defaulted: {said}. If these are not sizes the model accepts, "
            f"give the shapes: --shapes {value} on the command line, '{value}' in the shapes field of the Model "
            f"panel, or BuildConfig(shapes={{{python}}}) — with the sizes your data has")


def build_failure(model, message: str, profiles: Mapping[str, tuple], given: Sequence[str]) -> EngineBuildError:
    """The EngineBuildError for a build TensorRT rejected: its message, the ONNX nodes it names and, when any
    dimension was defaulted, the shapes advice. ``onnx_nodes`` on the error lists the nodes (for a reduction)."""
    nodes = nodes_named_in(message, model)
    where = f" (ONNX node{'s' if len(nodes) > 1 else ''} {', '.join(repr(n) for n in nodes)})" if nodes else ""
    opt = {name: opt for name, (_, opt, _) in profiles.items()}
    error = EngineBuildError(f"{model.label}: TensorRT could not build the engine{where}: {message}"
                             + shapes_advice(model, opt, defaulted_dimensions(model, given)))
    error.onnx_nodes = nodes
    return error


def runtime_failure_advice(model, shapes: Mapping[str, Sequence[int]], given: Sequence[str] = ()) -> str:
    """For an ONNX Runtime run that failed at default shapes: the same advice as for a build."""
    return shapes_advice(model, shapes, defaulted_dimensions(model, given))
