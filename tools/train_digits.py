"""Train the ``digits_cnn`` sample: a small residual CNN on scikit-learn's digits, exported to ONNX.

    .venv/bin/python tools/train_digits.py   # writes workbench/model/data/digits_cnn.onnx (committed, ~100 KB)

Deterministic (fixed seeds, CPU); prints the test accuracy of the FP32 model.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from workbench.model import from_torch
from workbench.model.datasets import digits

OUT = Path(__file__).resolve().parent.parent / "workbench" / "model" / "data" / "digits_cnn.onnx"


class DigitsCNN(nn.Module):
    """Conv-BN-ReLU stem, a residual block (the skip-connection Add), a pooled stage, a linear classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                   nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32))
        self.stage = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.head(self.stage(x))


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    train_x, train_y = digits("train")
    test_x, test_y = digits("test")
    net = DigitsCNN()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    x, y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    for epoch in range(40):
        net.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            # light augmentation: one-pixel shifts
            shift = tuple(int(s) for s in np.random.randint(-1, 2, size=2))
            batch = torch.roll(x[idx], shifts=shift, dims=(2, 3))
            loss = nn.functional.cross_entropy(net(batch), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()
    model = from_torch(net, torch.from_numpy(test_x[:1]), input_names=["image"], output_names=["logits"],
                       name="digits_cnn")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    model.save(OUT)
    print(f"test accuracy {accuracy:.4f}; wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
