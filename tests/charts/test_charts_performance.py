"""Performance charts: the numbers drawn are the numbers in the frame."""

import numpy as np
import pandas as pd
import pytest

from workbench import charts
from workbench.errors import ConfigError


@pytest.fixture
def frame():
    rows = []
    for label, speed in (("fp32", 1.0), ("int8", 2.5)):
        for batch in (1, 8):
            for conc in (1, 2):
                lat = batch / speed
                rows.append(dict(label=label, backend="onnxruntime", batch=batch, concurrency=conc,
                                 latency_ms_median=lat, throughput=1000 * batch * conc * speed / batch,
                                 samples_ms=list(np.linspace(lat * 0.9, lat * 1.1, 5000)),
                                 accuracy=0.99 if label == "fp32" else 0.97))
    return pd.DataFrame(rows)


def test_speedup_is_throughput_over_the_baseline_at_the_same_batch_and_concurrency(frame):
    fig = charts.speedup_bars(frame, baseline="fp32")
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["fp32"] == [1.0] * 4 and by_name["int8"] == pytest.approx([2.5] * 4)
    assert list(fig.data[1].text) == ["2.50×"] * 4
    with pytest.raises(ConfigError, match="baseline 'fp16' is not a label"):
        charts.speedup_bars(frame, baseline="fp16")


def test_latency_distribution_keeps_the_tails_with_fewer_points(frame):
    fig = charts.latency_distribution(frame)
    assert len(fig.data) == len(frame)
    y = np.asarray(fig.data[0].y)
    assert len(y) == 2000 and y.min() == pytest.approx(0.9) and y.max() == pytest.approx(1.1)
    assert charts.latency_distribution(frame, kind="violin").data[0].type == "violin"


def test_latency_throughput_and_concurrency_lines(frame):
    fig = charts.latency_throughput(frame)
    assert [t.name for t in fig.data] == ["fp32", "int8"]
    assert list(fig.data[1].y) == [0.4, 3.2] and list(fig.data[1].text) == ["b1", "b8"]
    fig = charts.throughput_vs_concurrency(frame)
    assert len(fig.data) == 4 and list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [1000.0, 2000.0]


def test_pareto_front(frame):
    extra = pd.DataFrame([dict(label="bad", latency_ms_median=5.0, accuracy=0.5, throughput=1, batch=1)])
    fig = charts.pareto(pd.concat([frame, extra], ignore_index=True))
    front = fig.data[-1]
    assert front.name == "Pareto front"
    assert list(front.x) == [0.4, 1.0] and list(front.y) == [0.97, 0.99]  # "bad" is dominated
    with pytest.raises(ConfigError, match="no row has both"):
        charts.pareto(frame.assign(accuracy=np.nan))


def test_memory_bars():
    frame = pd.DataFrame({"label": ["resnet50", "tiny", "old run"], "batch": [8, 1, 1],
                          "activation_bytes": [72 * 2**20, 8 * 2**20, np.nan],
                          "naive_activation_bytes": [1200 * 2**20, 2**20, 2**20]})
    fig = charts.memory_bars(frame)
    assert list(fig.data[0].y) == [1200, 1, 1] and list(fig.data[1].y)[:2] == [72, 8]
    assert list(fig.data[1].text) == ["16.7× less", "no saving: fixed minimum", ""]


def test_missing_columns_and_wrong_types_are_config_errors(frame):
    with pytest.raises(ConfigError, match="needs column"):
        charts.latency_distribution(frame.drop(columns=["samples_ms"]))
    with pytest.raises(ConfigError, match="no rows"):
        charts.latency_throughput(frame.iloc[0:0])
    with pytest.raises(ConfigError, match="needs a DataFrame"):
        charts.memory_bars([1, 2])
