"""A merged decoder whose If branches differ in shape: the failed build says to fold the If, and `workbench
fold-branch` writes a one-branch model that TensorRT-RTX builds."""

import onnx
import pytest

from workbench.model.samples import merged_decoder


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    path = tmp_path_factory.mktemp("merged") / "decoder_model_merged.onnx"
    onnx.save(merged_decoder("m", branch_shapes_differ=True), path)
    return path


def test_failed_build_names_the_if_and_fold_branch_builds(run_cli, merged, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli("build", merged)
    assert code != 0
    assert "If 'optimum::if' on the input 'use_cache_branch'" in err
    assert "workbench fold-branch MODEL --set use_cache_branch=true" in err
    assert "Traceback" not in err
    folded = tmp_path / "with_past.onnx"
    code, out, err = run_cli("fold-branch", merged, "--set", "use_cache_branch=true", "-o", folded)
    assert code == 0, err
    assert not any(n.op_type == "If" for n in onnx.load(folded).graph.node)
    code, out, err = run_cli("build", folded)
    assert code == 0, err


@pytest.mark.parametrize("value", ["use_cache_branch=maybe", "past_key_values.0.decoder.key=true"])
def test_fold_branch_refuses_a_bad_setting_and_writes_nothing(run_cli, merged, tmp_path, value):
    out_path = tmp_path / "out.onnx"
    code, out, err = run_cli("fold-branch", merged, "--set", value, "-o", out_path)
    assert code != 0
    assert repr(value) in err and "Traceback" not in err
    assert not out_path.exists()
