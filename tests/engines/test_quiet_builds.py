"""No noise in lesson outputs: a failing build says why once, in its exception, and a CPU-only machine's CUDA-driver
check is not printed as an error (lessons 01 and 07)."""

import pytest
from onnx import TensorProto as T
from onnx import helper as h

from workbench.engines import BuildConfig, build_engine
from workbench.engines.trt_logging import is_cpu_only_cuda_noise
from workbench.errors import WorkbenchError


def _concat_of_two_inputs():
    """Concat of two inputs with their own spatial dims: fine in ONNX, refused by the builder when they differ."""
    inputs = [h.make_tensor_value_info(n, T.FLOAT, [1, 2, f"{n}h", f"{n}w"]) for n in ("a", "b")]
    graph = h.make_graph([h.make_node("Concat", ["a", "b"], ["y"], axis=1)], "concat", inputs,
                         [h.make_tensor_value_info("y", T.FLOAT, None)])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def test_a_failing_build_prints_nothing_and_raises_one_clear_error(capfd):
    with pytest.raises(WorkbenchError) as error:
        build_engine(_concat_of_two_inputs(), BuildConfig(shapes={"a": (1, 2, 4, 4), "b": (1, 2, 3, 3)}), cache=None)
    out, err = capfd.readouterr()
    printed = out + err
    assert "cudaError 35" not in printed and "Invalid Engine" not in printed and "[E]" not in printed, printed
    assert "'colored' module" not in printed
    assert str(error.value)


def test_the_cuda_driver_check_is_recognised_as_cpu_only_noise():
    assert is_cpu_only_cuda_noise("[checkMacros.cpp::catchCudaError::250] Error Code 1: Cuda Runtime (cudaError 35: "
                                  "CUDA driver version is insufficient for CUDA runtime version)")
    assert not is_cpu_only_cuda_noise("Error Code 4: Internal Error (/model.11/Concat: dimensions mismatched)")
