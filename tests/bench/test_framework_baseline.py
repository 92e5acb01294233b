"""The framework baseline: a torch.nn.Module timed next to its ONNX export."""

import numpy as np
import pytest
import torch

from workbench.bench import BenchmarkConfig, TorchRunner, measure, sweep
from workbench.errors import ConfigError
from workbench.model import from_torch

QUICK = BenchmarkConfig(warmup_s=0.01, duration_s=0.1, min_iterations=5)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                            torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def exported():
    torch.manual_seed(0)
    return from_torch(SmallCNN(), torch.randn(1, 3, 16, 16), name="small_cnn")


def test_export_keeps_the_module_and_a_dynamic_batch(exported):
    assert exported.source_module is not None
    assert exported.inputs[0].shape == ("batch", 3, 16, 16)
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    ours = ort.InferenceSession(exported.to_bytes()).run(None, {"input": x})[0]
    with torch.inference_mode():
        theirs = exported.source_module(torch.from_numpy(x)).numpy()
    assert np.allclose(ours, theirs, atol=1e-5)


def test_framework_and_onnxruntime_in_one_sweep(exported):
    frame = sweep({"pytorch eager": TorchRunner(exported), "onnxruntime": exported}, batch=[1, 4], config=QUICK)
    assert list(frame.backend) == ["pytorch", "pytorch", "onnxruntime", "onnxruntime"]
    assert list(frame.variant) == ["pytorch eager", "pytorch eager", "onnxruntime", "onnxruntime"]
    assert (frame.throughput > 0).all()
    assert frame.backend_version.iloc[0] == torch.__version__


def test_torch_compile_baseline(exported):
    m = measure(TorchRunner(exported, compile=True), config=QUICK)
    assert m.description["variant"] == "torch.compile" and m.iterations >= 5


def test_bad_framework_inputs(exported):
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        TorchRunner("not a module", exported)
    with pytest.raises(ConfigError, match="from_torch"):
        TorchRunner(SmallCNN())
    with pytest.raises(ConfigError, match="from_torch needs a torch.nn.Module"):
        from_torch(object(), torch.randn(1))
