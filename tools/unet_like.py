"""A UNet/ControlNet-like diffusion network at the issue-20 engine's shapes (PyTorch only, random weights):

latent 4 x 32 x 48 at the top level (1,536 tokens), widths 320 / 640 / 1280 at 32x48 / 16x24 / 8x12, ResNet blocks
(GroupNorm(32) -> SiLU -> 3x3 conv, twice, with a 1x1 shortcut where the width changes), and seven transformer blocks
(GroupNorm -> 1x1 proj_in -> LayerNorm + self-attention over the tokens -> LayerNorm + cross-attention over 77 text
tokens of width 768 -> LayerNorm + GEGLU feed-forward -> 1x1 proj_out), SD-1.5 style with 8 heads. Down, mid and up
paths with skip concatenations. Not Stable Diffusion's weights or full depth: the same kinds of layers at the same
shapes, so a TensorRT build has the same kinds of regions (Myelin attention, GroupNorm, batch-1 FP16 convolutions).

Used by benchmarks/bench_estimate.py (ONNX export + TensorRT-RTX CPU build + estimate) and by
tools/h200_small_kernels.py (the same modules timed with PyTorch on the H200).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LATENT = (1, 4, 32, 48)
CONTEXT = (1, 77, 768)
HEADS = 8
USE_SDPA = False  # tools/h200_small_kernels.py sets it: time attention with the fused kernel


class Attention(nn.Module):
    def __init__(self, dim: int, context_dim: int | None = None) -> None:
        super().__init__()
        context_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        b, t, c = x.shape
        d = c // HEADS
        q = self.to_q(x).view(b, t, HEADS, d).transpose(1, 2)
        k = self.to_k(context).view(b, -1, HEADS, d).transpose(1, 2)
        v = self.to_v(context).view(b, -1, HEADS, d).transpose(1, 2)
        if USE_SDPA:  # timing on a GPU: PyTorch's fused (flash) kernel, as TensorRT fuses the same three ops
            out = F.scaled_dot_product_attention(q, k, v)
            return self.to_out(out.transpose(1, 2).reshape(b, t, c))
        # written out (not F.scaled_dot_product_attention) so the ONNX export holds MatMul -> Softmax -> MatMul
        scores = torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5)
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.to_out(out.transpose(1, 2).reshape(b, t, c))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = Attention(dim)
        self.attn2 = Attention(dim, CONTEXT[2])
        self.ff_in = nn.Linear(dim, 8 * dim)
        self.ff_out = nn.Linear(4 * dim, dim)
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        y = y + self.attn1(self.norm1(y))
        y = y + self.attn2(self.norm2(y), context)
        a, gate = self.ff_in(self.norm3(y)).chunk(2, dim=-1)
        y = y + self.ff_out(a * F.gelu(gate))
        return x + self.proj_out(y.transpose(1, 2).reshape(b, c, h, w))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNetLike(nn.Module):
    """4x32x48 latent + 77x768 context -> 4x32x48; 7 transformer blocks, 10 ResNet blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(4, 320, 3, padding=1)
        self.down = nn.ModuleList([ResBlock(320, 320), ResBlock(320, 640), ResBlock(640, 1280)])
        self.down_attn = nn.ModuleList([TransformerBlock(320), TransformerBlock(640), TransformerBlock(1280)])
        self.downsample = nn.ModuleList([nn.Conv2d(320, 320, 3, stride=2, padding=1),
                                         nn.Conv2d(640, 640, 3, stride=2, padding=1)])
        self.mid1, self.mid_attn, self.mid2 = ResBlock(1280, 1280), TransformerBlock(1280), ResBlock(1280, 1280)
        self.up = nn.ModuleList([ResBlock(2560, 1280), ResBlock(1920, 640), ResBlock(960, 320)])
        self.up_attn = nn.ModuleList([TransformerBlock(1280), TransformerBlock(640), TransformerBlock(320)])
        self.upsample = nn.ModuleList([nn.Conv2d(1280, 1280, 3, padding=1), nn.Conv2d(640, 640, 3, padding=1)])
        self.norm_out = nn.GroupNorm(32, 320)
        self.conv_out = nn.Conv2d(320, 4, 3, padding=1)

    def forward(self, sample: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(sample)
        skips = []
        for i, (res, attn) in enumerate(zip(self.down, self.down_attn)):
            x = attn(res(x), context)
            skips.append(x)
            if i < len(self.downsample):
                x = self.downsample[i](x)
        x = self.mid2(self.mid_attn(self.mid1(x), context))
        for i, (res, attn) in enumerate(zip(self.up, self.up_attn)):
            x = attn(res(torch.cat([x, skips.pop()], dim=1)), context)
            if i < len(self.upsample):
                x = self.upsample[i](F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


def build(dtype: torch.dtype = torch.float16, device: str = "cpu", seed: int = 0) -> UNetLike:
    torch.manual_seed(seed)
    return UNetLike().eval().to(device=device, dtype=dtype)


def inputs(dtype: torch.dtype = torch.float16, device: str = "cpu", seed: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(LATENT, generator=g).to(device, dtype), torch.randn(CONTEXT, generator=g).to(device, dtype))


def export_onnx(path: str) -> str:
    """FP32 ONNX (opset 17, static shapes) of the network, as torch.onnx's TorchScript exporter writes it; the
    workbench's FP16 variant (precision_variant "fp16") makes the FP16 model TensorRT builds."""
    with torch.no_grad():
        torch.onnx.export(build(torch.float32), inputs(torch.float32), path,
                          input_names=["sample", "encoder_hidden_states"], output_names=["out_sample"],
                          opset_version=17, dynamo=False)
    return path
