"""The --shapes option every command shares: the model at those shapes, proven runnable, and the line that says
which shapes were used and where each value came from."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import ConfigError
from ..model.tensors import dims_text

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

        given = list(model.shapes.fixed)
        model = fold_model(model, values)
        check_branch_inputs(model, values, {"--shapes": given})
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
        name, value = name.strip(), word.strip().lower() in TRUE_WORDS
        if values.get(name, value) != value:
            raise ConfigError(f"--shapes {shapes_text!r} sets the branch switch '{name}' both true and false: give one")
        values[name] = value
    return ",".join(rest) or None, values


def branch_setting(values: Mapping[str, bool]) -> str:
    """``use_cache_branch=true``: the values as --shapes takes them."""
    return ",".join(f"{name}={str(value).lower()}" for name, value in values.items())


def check_branch_inputs(folded: Model, values: Mapping[str, bool], named: Mapping[str, Iterable[str]]) -> None:
    """Every input an option names (``named``: option -> input names) is an input of ``folded``, the model with its
    branch switches set to ``values``; else a ConfigError naming the option, the input and the value that removed it
    (the branch switch itself, or an input only the other branch reads), not a shape silently dropped."""
    inputs = [s.name for s in folded.inputs]
    for option, names in named.items():
        for name in names:
            if name in inputs:
                continue
            setting = f"--shapes {branch_setting(values)}"
            if name in values:
                raise ConfigError(
                    f"{option} gives a shape for '{name}', the branch switch that {setting} sets: once folded it is "
                    f"no input of the model; leave '{name}' out of {option}"
                )
            branches = " and ".join(f"the {'then' if v else 'else'} branch of '{c}'" for c, v in values.items())
            raise ConfigError(
                f"{option} gives a shape for '{name}', which {branches} ({setting}) does not read (its inputs: "
                f"{', '.join(inputs)}): leave '{name}' out of {option}, or set the other branch"
            )


def engine_shapes(model: Model, profiles: Mapping[str, Sequence[Sequence[int]]]) -> str:
    """The engine's inputs (``profiles``: input -> (min, opt, max) of profile 0) at their opt shapes, each with where
    it came from: ``model.shapes``' sources where the opt is the model's default, else the profile's range (given by
    --min/--opt/--max-shapes). Only the engine's inputs: a build that folded a branch switch has no
    ``use_cache_branch`` input, nor the inputs only the other branch reads."""
    from ..model.shapes import describe_shapes

    resolved = model.shapes.resolve()
    sources = model.shapes.dimensions()
    parts = []
    for name, (low, opt, high) in ((n, tuple(map(tuple, r))) for n, r in profiles.items()):
        if tuple(resolved.get(name, ())) == opt:
            parts.append(describe_shapes({name: opt}, sources))
        else:
            parts.append(f"{name}:{dims_text(opt)} (opt of the profile {dims_text(low)}..{dims_text(high)})")
    return ", ".join(parts)
