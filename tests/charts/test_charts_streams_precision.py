"""The stream timeline follows the engine's dependencies; the error-vs-amax and sensitivity charts draw their data."""

import numpy as np
import pandas as pd
import pytest

from workbench import charts
from workbench.errors import ConfigError


def _layer(name, stream, inputs, outputs, type_="kgen", event=None):
    return {"name": name, "type": type_, "kind": "sync" if type_ in ("signal", "wait") else "compute",
            "stream": stream, "inputs": inputs, "outputs": outputs, "event_id": event, "onnx_nodes": [name]}


def test_branches_on_two_streams_overlap_and_join_after_the_wait():
    layers = pd.DataFrame([
        _layer("stem", 0, ["x"], ["a"]),
        _layer("sig", 0, [], [], "signal", 1),
        _layer("left", 0, ["a"], ["b"]),
        _layer("wait1", 1, [], [], "wait", 1),
        _layer("right", 1, ["a"], ["c"]),
        _layer("sig2", 1, [], [], "signal", 2),
        _layer("wait2", 0, [], [], "wait", 2),
        _layer("concat", 0, ["b", "c"], ["y"]),
    ])
    schedule = charts.stream_schedule(layers).set_index("name")
    assert schedule.loc["left", "start"] == schedule.loc["right", "start"] == 1.0   # the branches run side by side
    assert schedule.loc["concat", "start"] == 2.0                                     # after both branches
    fig = charts.stream_timeline(layers)
    assert {t.name for t in fig.data} == {"stream 0", "stream 1"}
    assert "critical path 3 vs 4 if serial" in fig.layout.title.text
    assert len(fig.layout.annotations) == 2                                           # one arrow per event


def test_measured_durations_set_the_schedule_and_a_missing_column_is_named():
    layers = pd.DataFrame([_layer("a", 0, ["x"], ["y"]), _layer("b", 0, ["y"], ["z"])]).assign(median_ms=[0.5, 0.25])
    assert charts.stream_schedule(layers, duration="median_ms")["end"].tolist() == [0.5, 0.75]
    with pytest.raises(ConfigError, match="nope"):
        charts.stream_schedule(layers, duration="nope")


def test_amax_error_curve_splits_rounding_and_clipping():
    x = np.random.default_rng(0).standard_normal(10_000)
    fig = charts.amax_error_curve(x, amax={"minmax": float(np.abs(x).max())})
    rounding, clipping, total = (np.array(t.y) for t in fig.data)
    assert clipping[-1] == 0 and rounding[0] < rounding[-1]       # the largest amax clips nothing, rounds coarsest
    assert np.allclose(total, rounding + clipping)
    with pytest.raises(ConfigError, match="non-zero"):
        charts.amax_error_curve(np.zeros(4))


def test_sensitivity_bars_put_the_most_sensitive_layer_first():
    frame = pd.DataFrame({"node": ["a", "b", "c"], "op": ["Conv", "Conv", "Gemm"], "sqnr_db": [30.0, 12.0, 25.0]})
    fig = charts.sensitivity_bars(frame)
    assert list(fig.data[0].y) == ["b", "c", "a"]
    with pytest.raises(ConfigError, match="sensitivity_bars"):
        charts.sensitivity_bars(frame.drop(columns="sqnr_db"))
