"""A model's files stay in its folder: external data through '..', an absolute path, a symlinked file or folder
pointing out, or a special file is refused by the workbench itself before anything is read (whatever onnx is
installed), with one error naming the model, the tensor and the location, the same for missing and existing
outside targets."""

import os
import shutil

import onnx
import pytest

from workbench.errors import ExternalDataError, ModelError
from workbench.model import load_model

from models import conv_bn_relu

SECRET = b"OUTSIDE-SECRET-" * 64


@pytest.fixture
def layout(tmp_path):
    """tmp/model/{m.onnx, w.bin}; tmp/outside/{secret.bin}; returns (model folder, outside folder, weights)."""
    model, outside = tmp_path / "model", tmp_path / "outside"
    model.mkdir(), outside.mkdir()
    onnx.save_model(conv_bn_relu(), str(model / "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    data = (model / "w.bin").read_bytes()
    (outside / "secret.bin").write_bytes(data + SECRET)  # a loadable file: only containment can refuse it
    return model, outside, data


def _point_at(model_folder, location: str):
    proto = onnx.load(str(model_folder / "m.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path = model_folder / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def _refusal(path, monkeypatch) -> str:
    read = []
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_model",
                        lambda *a, **k: read.append(a))  # an onnx that follows anything: never reached
    with pytest.raises(ExternalDataError) as refused:
        load_model(path)
    assert read == []
    return str(refused.value)


def test_traversal_is_refused_the_same_for_missing_and_existing_targets(layout, monkeypatch):
    model, _, _ = layout
    existing = _refusal(_point_at(model, "../outside/secret.bin"), monkeypatch)
    missing = _refusal(_point_at(model, "../outside/no_such_file.bin"), monkeypatch)
    assert str(model / "m.onnx") in existing and "tensor '" in existing and "../outside/secret.bin" in existing
    assert "internal error" not in existing and "ValidationError" not in existing
    assert existing.replace("secret.bin", "X") == missing.replace("no_such_file.bin", "X")  # no existence oracle


def test_absolute_paths_are_refused(layout, monkeypatch):
    model, outside, _ = layout
    message = _refusal(_point_at(model, str(outside / "secret.bin")), monkeypatch)
    assert "not a file inside the model's folder" in message


def test_a_symlinked_file_pointing_out_is_refused(layout, monkeypatch):
    model, outside, _ = layout
    os.symlink(outside / "secret.bin", model / "link.bin")
    assert "link.bin" in _refusal(_point_at(model, "link.bin"), monkeypatch)


def test_a_symlinked_folder_pointing_out_is_refused(layout, monkeypatch):
    model, outside, _ = layout
    os.symlink(outside, model / "sub")
    assert "sub/secret.bin" in _refusal(_point_at(model, "sub/secret.bin"), monkeypatch)


def test_with_the_real_onnx_nothing_outside_reaches_the_model(layout):
    model, outside, _ = layout
    os.symlink(outside / "secret.bin", model / "link.bin")
    with pytest.raises(ExternalDataError, match="tensor '.*' keeps its data at 'link.bin'"):
        load_model(_point_at(model, "link.bin"))


def test_legal_locations_inside_the_folder_load(layout):
    model, _, _ = layout
    (model / "sub").mkdir()
    assert load_model(_point_at(model, "sub/../w.bin")).stats.parameter_count == 8 * 3 * 3 * 3 + 4 * 8
    shutil.move(model / "w.bin", model / "sub" / "w.bin")
    os.symlink("sub/w.bin", model / "inner-link.bin")  # a symlink that stays inside is fine
    assert load_model(_point_at(model, "inner-link.bin")).stats.parameter_count == 8 * 3 * 3 * 3 + 4 * 8


def test_a_fifo_as_the_data_file_or_the_model_says_what_it_is(layout, tmp_path):
    model, _, _ = layout
    os.mkfifo(model / "pipe.bin")
    with pytest.raises(ExternalDataError, match="'pipe.bin' is a FIFO"):
        load_model(_point_at(model, "pipe.bin"))  # refused before it is opened: nothing hangs
    os.mkfifo(tmp_path / "model.onnx")
    with pytest.raises(ModelError, match="model.onnx: is a FIFO"):
        load_model(tmp_path / "model.onnx")


def test_the_cli_reports_it_as_a_clean_error(layout, run_cli):
    model, _, _ = layout
    code, out, err = run_cli("inspect", _point_at(model, "../outside/secret.bin"))
    assert code == 1 and "m.onnx" in err and "internal error" not in err and "--debug" not in err
