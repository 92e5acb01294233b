"""Whether the installed TensorRT can build (and a GPU here run) FP8: one clear message before any work.

Measured here: TensorRT-RTX 1.7's builder builds FP8 Q/DQ models without a GPU (digits_cnn: 13 layers, FP8 layer
outputs). FP8 Tensor Core math needs compute capability 8.9 or newer (Ada, Hopper, Blackwell); the datacenter
TensorRT builds on the GPU it runs on, so an older GPU cannot build FP8 with it. The minimum TensorRT versions are
taken from NVIDIA's release notes (FP8 Q/DQ in the ONNX parser from TensorRT 10.0; every TensorRT-RTX), not measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

from ..errors import ConfigError

FP8_MIN_VERSION = {"tensorrt": (10, 0), "tensorrt_rtx": (1, 0)}
FP8_MIN_COMPUTE_CAPABILITY = (8, 9)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def fp8_build_problem(
    flavor: str, version: str, gpu_compute_capability: tuple[int, int] | None, gpu_name: str = "the GPU"
) -> str | None:
    """Why ``flavor`` ``version`` cannot build FP8 here (None when it can). ``gpu_compute_capability``: of the GPU
    the datacenter TensorRT would build on (None: no GPU); TensorRT-RTX builds without one."""
    minimum = FP8_MIN_VERSION.get(flavor)
    if minimum is not None and _version(version) < minimum:
        return (
            f"{flavor} {version} cannot build FP8 (it needs {flavor} {'.'.join(map(str, minimum))} or newer): "
            "upgrade TensorRT, or quantize to int8"
        )
    if flavor == "tensorrt":
        if gpu_compute_capability is None:
            return (
                "the datacenter TensorRT builds on a GPU and there is none here: build the FP8 model on a GPU "
                "of compute capability 8.9 or newer (Ada, Hopper, Blackwell), or use TensorRT-RTX's CPU builder"
            )
        if tuple(gpu_compute_capability) < FP8_MIN_COMPUTE_CAPABILITY:
            cc = ".".join(map(str, gpu_compute_capability))
            return (
                f"FP8 needs compute capability 8.9 or newer and {gpu_name} has {cc}: build on an Ada, Hopper or "
                "Blackwell GPU, or quantize to int8"
            )
    return None


def check_fp8_buildable(what: str) -> None:
    """ConfigError naming ``what`` (the model or request) when the TensorRT in use cannot build FP8 here."""
    from .flavor import detect_gpus, select_flavor, trt

    module = trt()
    gpus = detect_gpus()
    gpu = gpus[0] if gpus else None
    problem = fp8_build_problem(
        select_flavor(), module.__version__, gpu.compute_capability if gpu else None, gpu.name if gpu else "the GPU"
    )
    if problem:
        raise ConfigError(f"{what}: FP8 requested, but {problem}")


def uses_fp8(proto: onnx.ModelProto) -> bool:
    """Whether a model carries FP8 (float8 initializers: Q/DQ scales' zero points and weights)."""
    import onnx

    fp8 = {
        onnx.TensorProto.FLOAT8E4M3FN,
        onnx.TensorProto.FLOAT8E4M3FNUZ,
        onnx.TensorProto.FLOAT8E5M2,
        onnx.TensorProto.FLOAT8E5M2FNUZ,
    }
    return any(t.data_type in fp8 for t in proto.graph.initializer)
