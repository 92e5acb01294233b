"""A merged decoder whose If branches differ in shape: builds fold the If themselves, a Myelin failure on such an If
says to fold it, and `workbench fold-branch` writes a one-branch model that TensorRT-RTX builds."""

import onnx
import pytest

from workbench.model.samples import merged_decoder


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    path = tmp_path_factory.mktemp("merged") / "decoder_model_merged.onnx"
    onnx.save(merged_decoder("m", branch_shapes_differ=True), path)
    return path


def test_build_folds_the_if_itself_and_fold_branch_writes_a_model_that_builds(run_cli, merged, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli("build", merged)  # the If folded before the build (engines.branch_switch)
    assert code == 0, err
    assert "use_cache_branch" not in next(line for line in out.splitlines() if line.startswith("shapes: "))
    folded = tmp_path / "with_past.onnx"
    code, out, err = run_cli("fold-branch", merged, "--set", "use_cache_branch=true", "-o", folded)
    assert code == 0, err
    assert not any(n.op_type == "If" for n in onnx.load(folded).graph.node)
    code, out, err = run_cli("build", folded)
    assert code == 0, err


def test_a_myelin_failure_on_the_if_names_it_and_says_to_fold(merged):
    """Where the If still reaches TensorRT (a build through Polygraphy, say), its failure says what to do."""
    from workbench.engines.diagnose import build_failure
    from workbench.model import load_model

    model = load_model(merged)
    error = build_failure(model, "[myelin] the producer does not dominate the use", {}, [])
    assert "If 'optimum::if' on the input 'use_cache_branch'" in str(error)
    assert "workbench fold-branch MODEL --set use_cache_branch=true" in str(error)


@pytest.mark.parametrize("value", ["use_cache_branch=maybe", "past_key_values.0.decoder.key=true"])
def test_fold_branch_refuses_a_bad_setting_and_writes_nothing(run_cli, merged, tmp_path, value):
    out_path = tmp_path / "out.onnx"
    code, out, err = run_cli("fold-branch", merged, "--set", value, "-o", out_path)
    assert code != 0
    assert repr(value) in err and "Traceback" not in err
    assert not out_path.exists()
