"""Folding optimum's top-level If on use_cache_branch into one branch: same outputs as the If in ONNX Runtime."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from workbench.model.branch_fold import branch_switches, fold_branch_switch
from workbench.model.samples import merged_decoder


@pytest.mark.parametrize("use_cache", [True, False])
def test_folded_branch_agrees_with_the_if(use_cache):
    model = merged_decoder("m", branch_shapes_differ=True)
    assert [s.condition for s in branch_switches(model)] == ["use_cache_branch"]
    folded = fold_branch_switch(model, "use_cache_branch", use_cache)
    onnx.checker.check_model(folded)
    assert not any(n.op_type == "If" for n in folded.graph.node)
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": np.array([[3]], np.int64),
        "encoder_hidden_states": rng.standard_normal((1, 6, 16)).astype(np.float32),
        "past_key_values.0.decoder.key": rng.standard_normal((1, 2, 4 if use_cache else 0, 8)).astype(np.float32),
        "past_key_values.0.encoder.key": rng.standard_normal((1, 2, 6, 8)).astype(np.float32),
        "past_key_values.0.encoder.value": rng.standard_normal((1, 2, 6, 8)).astype(np.float32),
    }
    expected = ort.InferenceSession(model.SerializeToString()).run(
        None, {**feeds, "use_cache_branch": np.array([use_cache])}
    )
    session = ort.InferenceSession(folded.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    assert "use_cache_branch" not in names
    got = session.run(None, {k: v for k, v in feeds.items() if k in names})
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
