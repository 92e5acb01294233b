"""Prove the shapes a command will use by one ONNX Runtime run, before minutes go into a build or calibration."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import ModelError
from .feeds import generate_feeds
from .shapes import shapes_advice

if TYPE_CHECKING:
    from .loading import Model
    from .tensors import Shapes

_ORT_NODE = re.compile(r"[Nn]ode \(([^)]*)\)")


def prove_shapes(model: Model, shapes: Shapes | None = None) -> dict[str, tuple[int, ...]]:
    """Run ``model`` once in ONNX Runtime (CPU) at ``shapes`` (default: its defaults); the shapes when it runs (or
    when ONNX Runtime cannot load the model at all: ops it lacks are the builder's to report).

    When it cannot, a ModelError says at which shapes, which node failed and why, which inputs' dimensions were
    defaulted (and from what), and the --shapes value to give: the guidance build failures carry.
    """
    import onnxruntime as ort

    resolved = model.shapes.resolve(shapes)
    feeds = generate_feeds(model, resolved)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the error is reported below, once, in the workbench's words
    try:
        session = ort.InferenceSession(model.to_bytes(), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001  ops ONNX Runtime lacks (plugins, custom ops): not a question of shapes, and
        return resolved  # TensorRT may still run them; its own error names them
    try:
        session.run(None, feeds)
    except Exception as exc:  # ONNX Runtime raises its own classes (Fail, InvalidArgument, RuntimeException)
        raise ModelError(ort_failure_message(model, resolved, shapes, exc)) from None
    return resolved


def ort_failure_message(model: Model, resolved: Shapes, shapes: Shapes | None, exc: BaseException) -> str:
    """An ONNX Runtime failure at ``resolved`` shapes in the workbench's words (see ``prove_shapes``)."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    node = _ORT_NODE.search(text)
    where = f" (node '{node.group(1)}')" if node else ""
    given = set(model.shapes.check(shapes))
    defaulted = [d for d in model.shapes.dimensions(shapes) if d.input not in given]
    advice = shapes_advice(model, resolved, defaulted)
    return (
        f"{model.label}: ONNX Runtime cannot run the model at {model.shapes.describe(shapes)}{where}: {text}"
        f"{advice or '. The shapes were given: check them against the sizes the model was exported for'}"
    )
