"""Budgets before allocations: feeds, calibration files (header, decompressed size, pickles, FIFOs), thread counts
and initializers are checked before anything is allocated; the error names the input and the bytes."""

import io
import os
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from workbench.bench.runners import OnnxRuntimeRunner
from workbench.budget import check_bytes, check_threads, max_threads
from workbench.errors import ConfigError, ModelError
from workbench.model import generate_feeds, load_model
from workbench.model.feeds import batch_shapes
from workbench.precision.data import load_array_file

from models import conv_bn_relu


def _wide(width=10**6):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "wide",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_huge_batch_is_refused_before_allocating(monkeypatch):
    model = load_model(_wide(), name="wide")
    with pytest.raises(ConfigError, match=r"input 'x' of wide .* needs 12,000,000,000,000 bytes .*budget"):
        generate_feeds(model, batch_shapes(model, 1_000_000))
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET", "1000")
    with pytest.raises(ConfigError, match="budget of 1,000 bytes"):
        generate_feeds(model, batch_shapes(model, 1))
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET", "100%")
    assert generate_feeds(model, batch_shapes(model, 1))["x"].shape == (1, 10**6)


def test_the_cli_answers_a_bomb_batch_with_a_clean_error(tmp_path, run_cli):
    onnx.save(_wide(), tmp_path / "wide.onnx")
    code, out, err = run_cli("bench", tmp_path / "wide.onnx", "--batch", "1000000", "--results",
                             tmp_path / "r.sqlite")
    assert code == 1 and "bytes" in err and "MemoryError" not in err and "internal error" not in err


def test_thread_counts_are_bounded():
    assert check_threads(1) == 1 and check_threads(max_threads()) == max_threads()
    with pytest.raises(ConfigError, match="100,000 is more than this machine can run"):
        check_threads(100_000)
    with pytest.raises(ConfigError, match="more than this machine"):
        OnnxRuntimeRunner(load_model(conv_bn_relu()), threads=100_000)


def _npy_header(shape, dtype="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # the magic string included


def test_a_forged_npy_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "forged.npy"
    path.write_bytes(_npy_header((96000, 100000)) + b"\0" * 1024)  # 71.5 GiB declared over 1 KiB
    with pytest.raises(ConfigError, match=r"forged.npy declares .*76,800,000,000 bytes.*holds only"):
        load_array_file(path)


def test_an_npz_bomb_is_refused_by_its_decompressed_size(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((50_000_000,)))
            zeros = b"\0" * 1_000_000
            for _ in range(400):  # 400 MB of data in a file of well under 2 MB
                member.write(zeros)
    assert path.stat().st_size < 2_000_000
    monkeypatch.setenv("WORKBENCH_MEMORY_BUDGET", str(100_000_000))
    with pytest.raises(ConfigError, match=r"bomb.npz \(array x.npy\) needs 400,000,000 bytes"):
        load_array_file(path)


def test_pickles_in_an_npz_are_refused_not_run(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ConfigError, match="Python objects .* never loaded"):
        load_array_file(path)


def test_a_fifo_as_calibration_data_says_what_it_is(tmp_path, run_cli):
    fifo = tmp_path / "calib.npy"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is a FIFO"):
        load_array_file(fifo)
    onnx.save(conv_bn_relu(), tmp_path / "m.onnx")
    code, out, err = run_cli("quantize", tmp_path / "m.onnx", "--precision", "int8", "--calib-data", fifo,
                             "-o", tmp_path / "q.onnx")
    assert code == 1 and "FIFO" in err and "internal error" not in err


def test_an_initializer_without_its_declared_data_is_a_load_error():
    model = conv_bn_relu()
    weight = model.graph.initializer[0]
    weight.ClearField("float_data")
    weight.raw_data = b"\0" * 16
    weight.dims[:] = [10**6, 10**6, 1, 1]
    with pytest.raises(ModelError, match=f"initializer '{weight.name}' declares dims .* holds 16 bytes"):
        load_model(model)


def test_check_bytes_names_the_input():
    with pytest.raises(ConfigError, match="the thing needs"):
        check_bytes(10**18, "the thing")
