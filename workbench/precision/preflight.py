"""Decide in seconds, before any calibration, whether a model has anything to quantize, and if not, why not and
what to do: one ConfigError naming the model, instead of minutes of calibration and then "nothing to quantize"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model.sources import ModelSource

from collections import Counter
from typing import Sequence

from ..errors import ConfigError
from ..model import load_model
from ..model.subgraphs import walk_nodes

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")  # the ops Q/DQ placement quantizes (qdq, control_flow)


def _where_weighted_ops_are(proto) -> Counter:
    """How many weighted ops sit at top level ("graph"), in top-level If/Loop/Scan bodies ("If body", ...), in
    bodies inside those ("If body, nested": left float) and in local ONNX-function bodies ("function custom.Block")."""
    places: Counter = Counter()
    for ref in walk_nodes(proto):
        if ref.node.op_type in WEIGHTED_OPS and ref.node.domain in ("", "ai.onnx"):
            places[
                "graph"
                if not ref.path
                else ref.via
                if ref.via.startswith("function")
                else f"{ref.parent_op} body" + (", nested" if len(ref.path) > 1 else "")
            ] += 1
    return places


def check_quantizable(
    model: ModelSource,
    precision: str = "int8",
    *,
    target: str = "tensorrt",
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    rules: bool = True,
) -> list[str]:
    """The activations that ``quantize`` will give Q/DQ (what calibration must cover; [] for the ONNX Runtime
    target, which places its own), or a ConfigError that names ``model``, why nothing can be quantized and what to
    do: already quantized (Q/DQ or ONNX Runtime's QOperator ops), FP16/BF16 weights, no Conv/Gemm/MatMul, weighted
    ops only inside ONNX-function bodies, every one excluded or kept in float by the placement rules. Reads the
    graph only: seconds, never a calibration pass."""
    from .guards import check_precision_request, weight_precision
    from .qdq import quantized_activations, tensorrt_placement

    model = load_model(model)
    label = model.label
    check_precision_request(model, precision)
    half = weight_precision(model)
    if half is not None:
        raise ConfigError(
            f"{label} is already {half} (its weights are {half}): calibration and {precision} Q/DQ "
            f"work on an FP32 model — quantize the FP32 model it was converted from, or build this one "
            "as it is (`workbench build`)"
        )
    places = _where_weighted_ops_are(model.proto)
    if not places:
        ops = ", ".join(sorted(model.stats.op_histogram)[:8])
        raise ConfigError(
            f"{label} has nothing to quantize: no Conv, ConvTranspose, Gemm or MatMul (its ops: {ops}) "
            "— INT8/FP8 Q/DQ speeds up those ops only; build it in FP32 or FP16 instead"
        )
    inside_functions = sum(n for where, n in places.items() if where.startswith("function"))
    if inside_functions and inside_functions == sum(places.values()):
        functions = ", ".join(sorted(w.removeprefix("function ") for w in places if w.startswith("function")))
        raise ConfigError(
            f"{label}: all {inside_functions} Conv/Gemm/MatMul are inside local ONNX functions "
            f"({functions}), which Q/DQ placement does not enter — inline them first "
            "(onnx.inliner.inline_local_functions) and quantize the inlined model"
        )
    if places.get("graph", 0) == 0 and not _bodies_supported():
        bodies = ", ".join(sorted(w for w in places if w.endswith("body")))
        raise ConfigError(
            f"{label}: all its Conv/Gemm/MatMul are inside control-flow bodies ({bodies}), which this "
            "version cannot quantize — export the model without the If/Loop (e.g. one file per "
            "branch), or build it in FP16"
        )
    excluded_ops, excluded_nodes = set(exclude_op_types), set(exclude_nodes)
    weighted = [n for n in model.nodes if n.op_type in WEIGHTED_OPS]
    if weighted and all(n.op_type in excluded_ops or n.name in excluded_nodes for n in weighted):
        raise ConfigError(
            f"nothing in {label} could be quantized: every one of its {len(weighted)} "
            "Conv/Gemm/MatMul is excluded (exclude_nodes / --exclude, exclude_op_types / "
            "--exclude-op-types) — exclude fewer nodes"
        )
    if target != "tensorrt":
        return []
    decisions = tensorrt_placement(
        model.proto.graph, None, exclude_nodes=excluded_nodes, exclude_op_types=excluded_ops, rules=rules
    )
    bodies = sum(n for where, n in places.items() if where.endswith("body")) if _bodies_supported() else 0
    if not any(d.quantized for d in decisions) and not bodies:
        reasons = Counter(d.note.split(":")[0] if d.note.startswith("K=") else d.note for d in decisions)
        summary = "; ".join(f"{n} × {why}" for why, n in reasons.most_common(4))
        elsewhere = [
            f"{n} {'more ' if decisions else ''}inside {where} (not entered: {_why_not_entered(where)})"
            for where, n in places.items()
            if where != "graph"
        ]
        why = "; ".join(part for part in [summary, *elsewhere] if part)
        raise ConfigError(
            f"{label}: Q/DQ placement keeps every weighted op in float ({why}) — nothing would be quantized; "
            "quantize with rules=False to quantize small heads and output layers too, or build it in FP16"
        )
    from .control_flow import body_activations

    return list(
        dict.fromkeys(
            quantized_activations(model, exclude_nodes=excluded_nodes, exclude_op_types=excluded_ops, rules=rules)
            + body_activations(model.proto, rules=rules)
        )
    )


def _why_not_entered(where: str) -> str:
    if where.startswith("function"):
        return "inline the functions first"
    if where.endswith("nested"):
        return "a body inside a body is left in float; only top-level If/Loop/Scan bodies are quantized"
    return "not supported"


def _bodies_supported() -> bool:
    """Whether Q/DQ placement enters top-level If/Loop/Scan bodies (control_flow.py)."""
    return True
