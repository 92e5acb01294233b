"""Make a failed build say what to do: which ONNX nodes TensorRT's message names, which input
dimensions were defaulted (and to what), and the exact shapes to give instead.

TensorRT names network layers after the ONNX nodes they come from (``IConcatenationLayer /model.11/Concat: axis 2
dimensions must be equal ...``), so the node names are found in its message text.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from ..errors import EngineBuildError
from ..model.shapes import defaulted_dimensions, shapes_advice


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


def build_failure(model, message: str, profiles: Mapping[str, tuple], given: Sequence[str]) -> EngineBuildError:
    """The EngineBuildError for a build TensorRT rejected: its message, the ONNX nodes it names and, when any
    dimension was defaulted, the shapes advice (``model.shapes.shapes_advice``). ``onnx_nodes`` on the error
    lists the nodes (for a reduction)."""
    nodes = nodes_named_in(message, model)
    where = f" (ONNX node{'s' if len(nodes) > 1 else ''} {', '.join(repr(n) for n in nodes)})" if nodes else ""
    opt = {name: opt for name, (_, opt, _) in profiles.items()}
    shapes = ",".join(f"{name}:{'x'.join(map(str, dims))}" for name, dims in opt.items())
    error = EngineBuildError(f"{model.label}: TensorRT could not build the engine{where}: {message}"
                             + shapes_advice(model, opt, defaulted_dimensions(model, given))
                             + f". To find the smallest subgraph that fails: workbench reduce MODEL --shapes {shapes}"
                             " (or “Reduce failure” in the Graph panel, or workbench.engines.reduce)")
    error.onnx_nodes = nodes
    return error
