"""`estimate` of a merged decoder: the ONNX-model work line counts the branch the engine is built from (the If folded
by the build or by --shapes use_cache_branch=...), at the engine's shapes, and says which branch — not the If model."""

import json
import warnings

import pytest

from workbench.model import Model, load_model
from workbench.model.branch_fold import fold_branch_switch

SAMPLE = "merged_decoder_optimum"
KEY = "past_key_values.0.decoder.key"


@pytest.fixture(scope="module")
def optimum():
    return load_model(SAMPLE)


@pytest.fixture(autouse=True)
def _engine_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "estimate_branch_cache"))


def _branch_macs(model, use_cache: bool, shapes: dict) -> int:
    """The MACs of one branch counted on its own: the If folded by hand, at ``shapes``."""
    branch = Model(fold_branch_switch(model.proto, "use_cache_branch", use_cache), label="branch")
    inputs = {s.name for s in branch.inputs}
    return branch.stats.macs({name: tuple(dims) for name, dims in shapes.items() if name in inputs})


def _estimate(run_cli, *flags):
    """The text, the fold notes (warnings: in process they are not printed) and the JSON of one estimate (the
    second run is a cache hit)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_cli("estimate", SAMPLE, *flags)
    assert code == 0, err
    code, json_out, json_err = run_cli("estimate", SAMPLE, *flags, "--json")
    assert code == 0, json_err
    return out, " ".join(str(w.message) for w in caught if "folded into" in str(w.message)), json.loads(json_out)


def _work_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("ONNX model"))


def test_no_flags_counts_the_then_branch_the_engine_is_built_from(run_cli, optimum):
    out, _, info = _estimate(run_cli)
    line = _work_line(out)
    assert line.startswith(
        "ONNX model as built (If 'optimum::if' folded into its then branch: use_cache_branch=true, from the build's "
        "shapes)"
    )
    shapes = info["onnx_work_shapes"]
    assert shapes["input_ids"] == [1, 1] and shapes[KEY] == [1, 2, 128, 8]  # the decode preset: the engine's opt
    assert "use_cache_branch" not in shapes and "use_cache_branch" not in line.split(" GMACs at ")[1]
    assert info["onnx_work_branches"] == {"use_cache_branch": True}
    then_macs = _branch_macs(optimum, True, shapes)
    assert info["onnx_macs"] == then_macs > 0
    # The If model's own count at these shapes is another figure (the heavier else branch): what the line said before.
    assert optimum.stats.macs() != then_macs


def test_the_prefill_preset_builds_and_counts_the_else_branch(run_cli, optimum):
    out, notes, info = _estimate(run_cli, "--shapes", "prefill")
    assert "folded into its else branch" in notes and "then branch" not in notes  # the engine is the prefill one
    assert "If 'optimum::if' folded into its else branch: use_cache_branch=false, from the build's shapes" in (
        _work_line(out)
    )
    assert info["onnx_work_shapes"] == {"input_ids": [1, 128], "encoder_hidden_states": [1, 128, 16]}
    assert info["onnx_macs"] == _branch_macs(optimum, False, info["onnx_work_shapes"])


@pytest.mark.parametrize("value", [False, True])
def test_a_branch_given_in_shapes_is_the_one_built_and_counted(run_cli, optimum, value):
    word = str(value).lower()
    out, notes, info = _estimate(run_cli, "--shapes", f"use_cache_branch={word}")
    assert notes == ""  # folded as asked, before the build: nothing for the build to decide
    branch = "then" if value else "else"
    assert f"If 'optimum::if' folded into its {branch} branch: use_cache_branch={word}, from --shapes" in (
        _work_line(out)
    )
    assert info["onnx_work_branches"] == {"use_cache_branch": value}
    assert (KEY in info["onnx_work_shapes"]) is value  # the first step's branch reads no past
    assert info["onnx_macs"] == _branch_macs(optimum, value, info["onnx_work_shapes"])


def test_an_if_the_engine_keeps_is_counted_and_its_branch_named(run_cli):
    code, out, err = run_cli("estimate", "merged_decoder")  # branches of one shape: the If stays in the engine
    assert code == 0, err
    line = _work_line(out)
    assert line.startswith("ONNX model (If ") and "_branch counted" in line and "use_cache_branch:1" in line
