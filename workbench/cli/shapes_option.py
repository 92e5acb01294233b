"""The --shapes option every command shares: the model at those shapes, proven runnable, and the line that says
which shapes were used and where each value came from."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Model
    from ..model.sources import ModelSource

SHAPES_HELP = (
    "input shapes, e.g. input:1x3x224x224,mask:1x128, or a preset of an LLM decoder with a KV cache: "
    "prefill (128 tokens, empty cache) or decode (1 token on 128 cached) (default: the model's own "
    "defaults; the shapes used and where each value came from are printed)"
)


def add_shapes_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shapes", help=SHAPES_HELP)


def model_at_shapes(source: ModelSource, shapes_text: str | None, *, prove: bool = False) -> Model:
    """The loaded model with ``--shapes`` as its defaults; ``prove``: one ONNX Runtime run at them first, so a model
    that cannot run there fails now, with guidance, instead of after a build or in the middle of a benchmark."""
    from ..model import load_model
    from ..model.proving import prove_shapes

    model = load_model(source).at_shapes(shapes_text)
    if prove:
        prove_shapes(model)
    return model


def shapes_line(model: Model) -> str:
    return f"shapes: {model.shapes.describe()}"
