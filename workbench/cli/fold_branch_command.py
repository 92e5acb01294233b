"""`workbench fold-branch`: a merged decoder's top-level If replaced by the branch one step takes, for TensorRT
builds that cannot take the If itself (TensorRT-RTX's Myelin, when the branches give differently shaped outputs)."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .main import CONFIGURE, command
from .shapes_option import FALSE_WORDS, TRUE_WORDS


def _configure_fold_branch(p):
    p.add_argument("model", help="an .onnx model with an If on a boolean graph input (optimum's use_cache_branch)")
    p.add_argument(
        "--set",
        required=True,
        metavar="INPUT=true|false",
        help="the boolean input and its value, e.g. use_cache_branch=true (later steps: the KV cache is read) or "
        "use_cache_branch=false (the first step)",
    )
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write the one-branch model to")


@command("fold-branch", "replace a top-level If on a boolean input by the branch one value picks (merged decoders)")
def cmd_fold_branch(args: argparse.Namespace) -> tuple[str, dict]:
    from ..model import Model, load_model
    from ..model.branch_fold import branch_switches, fold_branch_switch

    name, _, text = args.set.partition("=")
    if text.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
        raise ConfigError(f"--set {args.set!r}: give INPUT=true or INPUT=false (e.g. use_cache_branch=true)")
    value = text.strip().lower() in TRUE_WORDS
    model = load_model(args.model)
    switches = branch_switches(model.proto)
    if not any(s.condition == name for s in switches):
        found = ", ".join(f"'{s.condition}' (If '{s.node}')" for s in switches) or "none"
        raise ConfigError(
            f"--set {args.set!r}: {model.label} has no top-level If on the boolean input '{name}' "
            f"(boolean If conditions among its inputs: {found})"
        )
    folded = Model(fold_branch_switch(model.proto, name, value), label=f"{model.label} [{name}={str(value).lower()}]")
    path = folded.save(args.output)
    info = {
        "model": model.label,
        "input": name,
        "value": value,
        "output": str(path),
        "nodes": len(folded.proto.graph.node),
        "inputs": [i.name for i in folded.proto.graph.input],
    }
    return f"{model.label}: the If on '{name}' replaced by its {'then' if value else 'else'} branch; saved {path}", info


CONFIGURE.update({"fold-branch": _configure_fold_branch})
