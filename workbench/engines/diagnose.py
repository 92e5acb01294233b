"""Make a failed build say what to do: which ONNX nodes TensorRT's message names, which input
dimensions were defaulted (and to what), and the exact shapes to give instead.

TensorRT names network layers after the ONNX nodes they come from (``IConcatenationLayer /model.11/Concat: axis 2
dimensions must be equal ...``), so the node names are found in its message text.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence, TYPE_CHECKING

from ..errors import EngineBuildError
from ..model.shapes import defaulted_dimensions, shapes_advice
from ..model.tensors import dims_text
from ..precision.guards import QOPERATOR_OPS

if TYPE_CHECKING:
    from ..model import Model


def nodes_named_in(message: str, model: Model) -> list[str]:
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


def build_failure(model: Model, message: str, profiles: Mapping[str, tuple], given: Sequence[str]) -> EngineBuildError:
    """The EngineBuildError for a build TensorRT rejected: its message, the ONNX nodes it names and, when any
    dimension was defaulted, the shapes advice (``model.shapes.shapes_advice``). ``onnx_nodes`` on the error
    lists the nodes (for a reduction)."""
    nodes = nodes_named_in(message, model)
    where = f" (ONNX node{'s' if len(nodes) > 1 else ''} {', '.join(repr(n) for n in nodes)})" if nodes else ""
    opt = {name: opt for name, (_, opt, _) in profiles.items()}
    shapes = ",".join(f"{name}:{dims_text(dims)}" for name, dims in opt.items())
    error = EngineBuildError(
        f"{model.label}: TensorRT could not build the engine{where}: {message}"
        + shapes_advice(model, opt, defaulted_dimensions(model, given))
        + branch_switch_advice(model, message)
        + f". To find the smallest subgraph that fails: workbench reduce MODEL --shapes {shapes}"
        " (or “Reduce failure” in the Graph panel, or workbench.engines.reduce)"
    )
    error.onnx_nodes = nodes
    return error


def branch_switch_advice(model: Model, message: str) -> str:
    """What to do when TensorRT-RTX's Myelin fails on a top-level If on a boolean input whose branches give
    differently shaped outputs (optimum's merged decoders, "the producer does not dominate the use"): build each
    branch as its own model. Empty for any other failure."""
    from ..model.branch_fold import branch_switches

    if "does not dominate" not in message:
        return ""
    switches = branch_switches(model.proto)
    if not switches:
        return ""
    ifs = ", ".join(f"If '{s.node}' on the input '{s.condition}'" for s in switches)
    condition = switches[0].condition
    return (
        f". TensorRT-RTX cannot build {ifs}: its branches give differently shaped outputs. Build one branch per "
        f"model: `workbench fold-branch MODEL --set {condition}=true -o with_past.onnx` (later steps, the KV "
        f"cache read) and `--set {condition}=false -o first_step.onnx` (the first step), then build each; or "
        "export decoder_model.onnx and decoder_with_past_model.onnx separately (optimum-cli export onnx "
        "--no-post-process)"
    )


ML_DOMAIN = "ai.onnx.ml"


def unsupported_ops_message(model: Model) -> str | None:
    """One guiding sentence for ops TensorRT cannot run at all, named with their domain and count; None when the
    model has none of them (ops of custom domains may be plugins: the parser is left to judge those)."""
    found = {
        op: n
        for op, n in model.stats.op_histogram.items()
        if op.startswith(ML_DOMAIN + ".") or op.split(".")[-1] in QOPERATOR_OPS
    }
    if not found:
        return None
    ml = {op: n for op, n in found.items() if op.startswith(ML_DOMAIN + ".")}
    quantized = {op: n for op, n in found.items() if op not in ml}

    def named(ops):
        return ", ".join(f"{op} x{n}" for op, n in ops.items())

    parts = []
    if quantized:
        parts.append(
            f"{named(quantized)} (domain ai.onnx): ONNX Runtime's quantized operator format, which "
            "TensorRT has no importer for — export the float model and quantize it for TensorRT with "
            "`workbench quantize` (Q/DQ pairs), or run this one with ONNX Runtime (`workbench bench`)"
        )
    if ml:
        parts.append(
            f"{named({op[len(ML_DOMAIN) + 1 :]: n for op, n in ml.items()})} (domain {ML_DOMAIN}): "
            "classical machine-learning ops (trees, scalers, encoders from skl2onnx and the like), not for "
            "TensorRT — run the model with ONNX Runtime (`workbench bench`)"
        )
    return f"{model.label}: TensorRT cannot run these ops: " + "; ".join(parts)
