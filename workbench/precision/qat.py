"""Quantization-aware training (QAT) of a PyTorch model, in plain PyTorch, exported with Q/DQ for TensorRT.

PTQ (``calibrate`` + ``quantize``) picks ranges and leaves the weights as trained. QAT starts from the same ranges and
fine-tunes the weights with the rounding in the loop: every quantized Conv/Linear reads its input through a fake
quantizer (per-tensor, the calibrated amax, fixed) and its weight through another (per-channel, amax = max |w|,
recomputed each step), so the gradient (straight-through: 1 inside the range, 0 where the value clips) teaches the
weights to live with INT8. ``torch.onnx.export`` writes each fake quantizer as QuantizeLinear/DequantizeLinear: the
exported model is explicitly quantized like the workbench's PTQ model, and TensorRT builds both the same way.

Written here rather than with NVIDIA's Model Optimizer (``modelopt.torch.quantization``, which does this and more)
because it needs nothing beyond PyTorch and maps one-to-one onto the PTQ placement the workbench already computed:
the same nodes get Q/DQ, with the same activation ranges, so a PTQ vs QAT comparison changes one thing only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Model

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError, ModelError
from ..model import from_torch, load_model
from .calibrate import CalibrationTable, quantization_scale
from .calibrators import QMAX
from .qdq import quantize

QAT_OPS = ("Conv", "Gemm", "MatMul")
HIGH = int(QMAX["int8"])
LOW = -HIGH - 1  # INT8 Q/DQ saturates to [LOW, HIGH], as ONNX QuantizeLinear and TensorRT do


@dataclass
class QATResult:
    """The fine-tuned model exported with Q/DQ (``model``), the PyTorch module behind it, the loss per epoch, which
    ONNX nodes were fake-quantized (the PTQ placement's Conv/Gemm/MatMul nodes) and what was left out."""

    model: object
    module: object = field(repr=False)
    history: pd.DataFrame
    quantized_nodes: list[str]
    notes: list[str] = field(default_factory=list)


def _fake_quantized_class():
    """The wrapper module, defined when torch is imported (torch is optional for the workbench)."""
    import torch
    from torch import nn

    class FakeQuantized(nn.Module):
        """A Conv or Linear whose input and weight pass through INT8 fake quantizers (zero point 0, [LOW, HIGH])."""

        def __init__(self, layer: nn.Module, input_amax: float):
            super().__init__()
            self.layer = layer
            self.register_buffer(
                "input_scale", torch.tensor(float(quantization_scale(input_amax, "int8")), dtype=torch.float32)
            )
            self.register_buffer("zero_point", torch.tensor(0, dtype=torch.int32))
            self.register_buffer("frozen_weight_scale", None)

        def weight_scale(self) -> torch.Tensor:
            # as the PTQ weights: per output channel, amax = max |w|, an all-zero channel gets 1 / 127
            amax = self.layer.weight.detach().abs().flatten(1).amax(1).double().numpy()  # type: ignore[operator]
            return torch.from_numpy(quantization_scale(amax, "int8").astype(np.float32))

        def freeze(self) -> None:
            # an exported scale must be a constant (TensorRT reads Q/DQ scales as build-time constants)
            self.frozen_weight_scale = self.weight_scale()

        def forward(self, x):
            x = torch.fake_quantize_per_tensor_affine(x, self.input_scale, self.zero_point, LOW, HIGH)
            scale = self.frozen_weight_scale if self.frozen_weight_scale is not None else self.weight_scale()
            zeros = torch.zeros(scale.shape[0], dtype=torch.int32)
            w = torch.fake_quantize_per_channel_affine(self.layer.weight, scale, zeros, 0, LOW, HIGH)
            if isinstance(self.layer, nn.Linear):
                return nn.functional.linear(x, w, self.layer.bias)
            return self.layer._conv_forward(x, w, self.layer.bias)

    return FakeQuantized


def _fold_batchnorm(module, notes: list[str]):
    """Conv+BatchNorm folded as the ONNX export (and TensorRT) folds them, so the weights that are fake-quantized
    are the weights the engine quantizes."""
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(module)
    except Exception as exc:  # a module torch.fx cannot trace: keep BatchNorm as a separate (frozen) layer
        notes.append(
            f"BatchNorm not folded before fine-tuning (torch.fx could not trace the module: {exc}); "
            "the per-channel weight scales are of the unfolded weights"
        )
        return module


def _replace(root, name: str, new) -> None:
    *path, last = name.split(".")
    parent = root
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, new)


def fake_quant_finetune(
    model: Model,
    table: CalibrationTable,
    data: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 2,
    lr: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    threads: int = 1,
    name: str | None = None,
) -> QATResult:
    """QAT: fine-tune ``model``'s PyTorch module (a model made by ``from_torch``) with INT8 fake quantization, then
    export it with Q/DQ.

    ``table``: the INT8 calibration of ``model`` (``calibrate``); the nodes its TensorRT PTQ placement quantizes get
    fake quantizers with its activation ranges. ``data``/``labels``: training images and class indices (the loss is
    cross-entropy on the first output). Adam at ``lr`` for ``epochs``; ``threads`` intra-op threads (restored after).
    """
    try:
        import torch
    except ImportError:
        raise ModelError("fake_quant_finetune needs PyTorch (pip install torch)") from None
    model = load_model(model)
    source = getattr(model, "source_module", None)
    if source is None:
        raise ConfigError(
            f"fake_quant_finetune: {model.label} has no PyTorch module; make it with "
            "workbench.model.from_torch(module, example_inputs)"
        )
    if table.precision != "int8":
        raise ConfigError(f"fake_quant_finetune trains INT8 only; the table is {table.precision}")
    data, labels = np.asarray(data, dtype=np.float32), np.asarray(labels)
    if len(data) == 0 or len(data) != len(labels):
        raise ConfigError(f"fake_quant_finetune: {len(data)} images and {len(labels)} labels; give one label per image")
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"fake_quant_finetune: epochs ({epochs}) and batch_size ({batch_size}) must be at least 1")
    notes: list[str] = []
    report = quantize(model, table, target="tensorrt").report
    planned = set(report[report["quantized"] & report["op"].isin(QAT_OPS)]["node"])
    if set(report[report["quantized"]]["node"]) - planned:
        notes.append(
            "the PTQ placement also quantizes skip-connection Adds; fake quantization here covers the "
            "Conv/Gemm/MatMul inputs and weights only"
        )
    module = _fold_batchnorm(copy.deepcopy(source).eval(), notes)

    # the i-th Conv/Linear call is the i-th Conv/Gemm/MatMul node of the export (the exporter writes calls in order)
    weighted = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    calls: list[str] = []
    hooks = [
        m.register_forward_hook(lambda *_, n=n: calls.append(n))
        for n, m in module.named_modules()
        if isinstance(m, weighted)
    ]
    with torch.no_grad():
        module(torch.from_numpy(data[:1]))
    for hook in hooks:
        hook.remove()
    nodes = [n for n in model.nodes if n.op_type in QAT_OPS]
    if len(calls) != len(nodes) or len(set(calls)) != len(calls):
        raise ConfigError(
            f"fake_quant_finetune: {model.label} has {len(nodes)} Conv/Gemm/MatMul nodes but its module "
            f"makes {len(calls)} Conv/Linear calls ({len(set(calls))} modules); each node must come "
            "from one nn.Conv/nn.Linear called once (functional matmuls are not supported)"
        )
    amax = table.amax
    FakeQuantized = _fake_quantized_class()
    quantized = []
    for module_name, node in zip(calls, nodes):
        if node.name not in planned:
            continue
        if node.input[0] not in amax:
            raise ConfigError(
                f"fake_quant_finetune: the table has no range for '{node.input[0]}' (input of "
                f"{node.name}); calibrate {model.label} itself"
            )
        _replace(module, module_name, FakeQuantized(module.get_submodule(module_name), float(amax[node.input[0]])))
        quantized.append(node.name)
    if not quantized:
        raise ConfigError(f"fake_quant_finetune: the PTQ placement quantizes no Conv/Gemm/MatMul of {model.label}")

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(module.parameters(), lr=lr)
        x, y = torch.from_numpy(data), torch.from_numpy(labels.astype(np.int64))
        rows = []
        for epoch in range(1, epochs + 1):
            module.train()
            order = torch.randperm(len(x), generator=generator)
            losses, correct = [], 0
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                out = module(x[idx])
                out = out[0] if isinstance(out, (tuple, list)) else out
                loss = torch.nn.functional.cross_entropy(out, y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()) * len(idx))
                correct += int((out.argmax(1) == y[idx]).sum())
            rows.append({"epoch": epoch, "loss": sum(losses) / len(x), "train_accuracy": correct / len(x)})
    finally:
        torch.set_num_threads(previous_threads)
    module.eval()
    for layer in module.modules():
        if isinstance(layer, FakeQuantized):
            layer.freeze()
    exported = from_torch(
        module,
        torch.from_numpy(data[:1]),
        input_names=[i.name for i in model.inputs],
        output_names=[o.name for o in model.outputs],
        name=name or f"{model.name}_qat",
    )
    return QATResult(exported, module, pd.DataFrame(rows), quantized, notes)
