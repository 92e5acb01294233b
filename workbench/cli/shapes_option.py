"""The --shapes option every command shares: the model at those shapes, proven runnable, and the line that says
which shapes were used and where each value came from."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Mapping, Sequence

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..model import Model
    from ..model.sources import ModelSource

SHAPES_HELP = (
    "input shapes, e.g. input:1x3x224x224,mask:1x128, or a preset of an LLM decoder with a KV cache: "
    "prefill (128 tokens, empty cache) or decode (1 token on 128 cached) (default: the model's own "
    "defaults; the shapes used and where each value came from are printed); a merged decoder's branch "
    "switch takes a value: use_cache_branch=true or =false (the If folded into that branch)"
)


def add_shapes_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shapes", help=SHAPES_HELP)


def model_at_shapes(source: ModelSource, shapes_text: str | None, *, prove: bool = False) -> Model:
    """The loaded model with ``--shapes`` as its defaults; ``prove``: one ONNX Runtime run at them first, so a model
    that cannot run there fails now, with guidance, instead of after a build or in the middle of a benchmark."""
    from ..model import load_model
    from ..model.proving import prove_shapes

    rest, values = split_branch_values(shapes_text)
    model = load_model(source).at_shapes(rest)
    if values:  # --shapes use_cache_branch=false: the user's branch, honoured by every command (see branch_fold)
        from ..model.branch_fold import fold_model

        model = fold_model(model, values)
    if prove:
        prove_shapes(model)
    return model


def shapes_line(model: Model) -> str:
    return f"shapes: {model.shapes.describe()}"


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "then"), ("false", "0", "no", "else")


def split_branch_values(shapes_text: str | None) -> tuple[str | None, dict[str, bool]]:
    """``--shapes`` without its ``NAME=true|false`` items (a branch switch's value, e.g. use_cache_branch=true), and
    those values; the rest is shapes or a preset's name. A value other than true/false is a ConfigError."""
    if not shapes_text or "=" not in shapes_text:
        return shapes_text, {}
    rest, values = [], {}
    for item in (part.strip() for part in shapes_text.split(",")):
        name, equals, word = item.partition("=")
        if not equals:
            rest.append(item)
            continue
        if word.strip().lower() not in TRUE_WORDS + FALSE_WORDS or not name.strip():
            raise ConfigError(
                f"--shapes item {item!r}: NAME=VALUE is for a merged decoder's branch switch, and takes true or "
                "false (e.g. use_cache_branch=true); shapes are NAME:1x128"
            )
        values[name.strip()] = word.strip().lower() in TRUE_WORDS
    return ",".join(rest) or None, values


def engine_shapes(model: Model, profiles: Mapping[str, Sequence]) -> str:
    """``model.shapes.describe()`` for the engine's inputs only (``profiles``' names): a build that folded a branch
    switch has no ``use_cache_branch`` input, nor the inputs only the other branch reads."""
    from ..model.shapes import describe_shapes

    resolved = {name: dims for name, dims in model.shapes.resolve().items() if name in profiles}
    return describe_shapes(resolved, model.shapes.dimensions())
