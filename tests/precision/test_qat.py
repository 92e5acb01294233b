"""QAT in plain PyTorch (precision.qat): the same Q/DQ placement and ranges as the PTQ model, weights fine-tuned with
the rounding in the loop, exported with QuantizeLinear/DequantizeLinear."""

import numpy as np
import pytest
from onnx import numpy_helper

torch = pytest.importorskip("torch")

from workbench.errors import ConfigError  # noqa: E402
from workbench.model import from_torch, load_model  # noqa: E402
from workbench.model.datasets import digits  # noqa: E402
from workbench.precision import accuracy_table, calibrate, quantize  # noqa: E402
from workbench.precision.qat import fake_quant_finetune  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained on the digits for a few epochs (about a second on one thread), with BatchNorm to fold."""
    torch.manual_seed(0)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in digits("train"))
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(6):
        net.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.set_num_threads(previous)
    model = from_torch(net.eval(), x[:1], input_names=["image"], output_names=["logits"], name="tiny_digits")
    calib_x, _ = digits("calibration")
    return model, calib_x


def _scales(model) -> dict[str, float]:
    """Input tensor of each QuantizeLinear → its (per-tensor) scale, for activations."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.proto.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.nodes
            if n.op_type == "QuantizeLinear" and n.input[1] in inits and inits[n.input[1]].size == 1}


def test_qat_export_has_the_ptq_placement_and_ranges(trained):
    model, calib_x = trained
    table = calibrate(model, calib_x, "entropy2")
    ptq = quantize(model, table, target="tensorrt")
    train_x, train_y = digits("train")
    qat = fake_quant_finetune(model, table, train_x[:256], train_y[:256], epochs=1)
    planned = list(ptq.report[ptq.report.quantized & ptq.report.op.isin(["Conv", "Gemm"])].node)
    assert qat.quantized_nodes == planned and planned == ["/0/Conv", "/4/Conv"]   # the 10-wide head stays float
    hist = load_model(qat.model).stats.op_histogram
    assert hist["QuantizeLinear"] == hist["DequantizeLinear"] == 2 * len(planned)  # input and weight of each
    assert "BatchNormalization" not in hist                                         # folded before fine-tuning
    # each quantized node's input is read through a Q/DQ with the calibrated scale (amax / 127)
    consumers = {n.name: n for n in qat.model.nodes}
    dq = {n.output[0]: n for n in qat.model.nodes if n.op_type == "DequantizeLinear"}
    ptq_scales = _scales(ptq.model)
    for name in planned:
        q_of_input = next(n for n in qat.model.nodes if n.output[0] == dq[consumers[name].input[0]].input[0])
        scale = _scales(qat.model)[q_of_input.input[0]]
        original_input = next(n for n in model.nodes if n.name == name).input[0]
        assert scale == pytest.approx(ptq_scales[original_input], rel=1e-6)
    assert list(qat.history.columns) == ["epoch", "loss", "train_accuracy"] and len(qat.history) == 1


def test_qat_recovers_accuracy_that_clipping_ranges_cost_ptq(trained):
    # 90th-percentile ranges clip a tenth of every activation: PTQ loses accuracy, fine-tuning with them recovers
    model, calib_x = trained
    table = calibrate(model, calib_x, "percentile", percentile=90.0)
    train_x, train_y = digits("train")
    test_x, test_y = digits("test")
    qat = fake_quant_finetune(model, table, train_x, train_y, epochs=2, lr=1e-3)
    frame = accuracy_table(model, {"ptq": quantize(model, table).model, "qat": qat.model}, test_x,
                           labels=test_y).set_index("variant")
    fp32, ptq_acc, qat_acc = frame.accuracy["fp32"], frame.accuracy["ptq"], frame.accuracy["qat"]
    assert ptq_acc < fp32 - 0.01, (fp32, ptq_acc)
    assert qat_acc > ptq_acc + 0.01, (ptq_acc, qat_acc)
    assert qat.history.loss.iloc[-1] < qat.history.loss.iloc[0]


def test_qat_refuses_what_it_cannot_train(trained):
    model, calib_x = trained
    table = calibrate(model, calib_x, "minmax")
    x, y = digits("calibration")
    onnx_only = load_model(model.proto)
    with pytest.raises(ConfigError, match="no PyTorch module"):
        fake_quant_finetune(onnx_only, table, x, y)
    with pytest.raises(ConfigError, match="one label per image"):
        fake_quant_finetune(model, table, x, y[:-1])
    with pytest.raises(ConfigError, match="INT8 only"):
        fake_quant_finetune(model, calibrate(model, calib_x[:16], "minmax", precision="fp8"), x, y)

    class Functional(torch.nn.Module):      # a matmul that is no nn.Linear: cannot be mapped onto a node
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 16, 3, padding=1)
            self.weight = torch.nn.Parameter(torch.randn(16 * 64, 10))

        def forward(self, image):
            return torch.relu(self.conv(image)).flatten(1) @ self.weight

    functional = from_torch(Functional().eval(), torch.from_numpy(x[:1]), name="functional")
    with pytest.raises(ConfigError, match="Conv/Linear calls"):
        fake_quant_finetune(functional, calibrate(functional, calib_x[:16], "minmax"), x, y)
    assert np.isfinite(table.frame.amax).all()
