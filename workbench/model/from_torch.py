"""Models exported from PyTorch, keeping the module so the framework itself can be timed next to the engines."""

from __future__ import annotations

import io
import warnings
from typing import Sequence, TYPE_CHECKING

import onnx

from ..errors import ConfigError, ModelError
from .loading import Model, load_model

if TYPE_CHECKING:
    import torch


def from_torch(
    module: torch.nn.Module,
    example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    name: str | None = None,
    opset: int = 17,
) -> Model:
    """Export ``module`` to ONNX at ``example_inputs`` and load it; ``model.source_module`` keeps the module.

    Uses the TorchScript exporter (``dynamo=False``): it needs no extra package (onnxscript) and keeps
    ``dynamic_batch`` simple; the leading dimension of every input and output becomes the symbolic ``batch``.
    """
    try:
        import torch
    except ImportError:
        raise ModelError("from_torch needs PyTorch (pip install torch)") from None
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"from_torch needs a torch.nn.Module, got {type(module).__name__}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    input_names = list(
        input_names or (["input"] if len(example_inputs) == 1 else [f"input_{i}" for i in range(len(example_inputs))])
    )
    module = module.eval()
    with torch.inference_mode():
        outputs = module(*example_inputs)
    n_outputs = 1 if isinstance(outputs, torch.Tensor) else len(outputs)
    output_names = list(output_names or (["output"] if n_outputs == 1 else [f"output_{i}" for i in range(n_outputs)]))
    dynamic_axes = {n: {0: "batch"} for n in input_names + output_names} if dynamic_batch else None
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                example_inputs,
                buffer,  # type: ignore[arg-type]
                dynamo=False,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
            )
    except Exception as exc:
        raise ModelError(f"PyTorch could not export {type(module).__name__} to ONNX: {exc}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    proto.graph.name = name or type(module).__name__  # the exporter calls every graph "main_graph"
    model = load_model(proto)
    model.source_module = module
    return model
