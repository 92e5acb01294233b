"""PyTorch modules exported by torch.onnx in tests and benchmarks (the exporter's own shape arithmetic included)."""

import math

import torch
from torch import nn


class BertLayer(nn.Module):
    """One BERT encoder layer written as Hugging Face writes it: ``view``/``permute`` head splits from ``size()``."""

    def __init__(self, hidden: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.dense, self.norm1 = nn.Linear(hidden, hidden), nn.LayerNorm(hidden)
        self.intermediate, self.output, self.norm2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden), nn.LayerNorm(hidden)

    def _heads(self, x):
        batch, length, width = x.size()
        return x.view(batch, length, self.heads, width // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(x.size(-1) // self.heads) + mask
        context = torch.matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.size(0), context.size(1), -1)
        x = self.norm1(x + self.dense(context))
        return self.norm2(x + self.output(nn.functional.gelu(self.intermediate(x))))


class Bert(nn.Module):
    def __init__(self, layers: int, hidden: int, heads: int, ffn: int, vocab: int = 1000, max_len: int = 512):
        super().__init__()
        self.words, self.positions = nn.Embedding(vocab, hidden), nn.Embedding(max_len, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, ffn) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.size(1)).unsqueeze(0)
        x = self.norm(self.words(input_ids) + self.positions(positions))
        mask = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler(x[:, 0]))


def bert_macs(layers: int, hidden: int, ffn: int, sequence: int, batch: int = 1) -> int:
    """Hand formula: per layer four hidden x hidden projections, the FFN's two, QKᵀ and PV; the pooler once."""
    per_layer = sequence * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * sequence * sequence * hidden
    return batch * (layers * per_layer + hidden * hidden)


def export_bert(path, layers: int, hidden: int, heads: int, ffn: int, vocab: int = 1000) -> None:
    """torch.onnx (TorchScript exporter, opset 17) with dynamic batch and sequence, as most BERT files are made."""
    torch.manual_seed(0)
    model = Bert(layers, hidden, heads, ffn, vocab).eval()
    ids = torch.ones(1, 16, dtype=torch.long)
    dims = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state", "pooler_output"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": dims, "attention_mask": dims})
