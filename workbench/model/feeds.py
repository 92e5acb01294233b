"""Input data for a model: random feeds from its I/O spec, batch-size shapes, and checks of given feeds."""

from __future__ import annotations

from typing import Mapping, Sequence, TYPE_CHECKING

import numpy as np

from ..budget import array_bytes, check_bytes
from ..errors import ConfigError
from .tensors import check_against_spec, format_shape

if TYPE_CHECKING:
    from .loading import Model
    from .tensors import Shapes
    from numpy.typing import DTypeLike

# numpy dtype names that an ONNX input of a given type accepts (ONNX Runtime refuses anything else).
_NUMPY_DTYPES = {
    "float32": "float32",
    "float16": "float16",
    "float64": "float64",
    "int64": "int64",
    "int32": "int32",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


def random_array(rng: np.random.Generator, dtype: DTypeLike, dims: Sequence[int]) -> np.ndarray:
    """Random values of ``dtype``: integers in [0, 100) (valid token ids), booleans, or standard normal floats."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 100, size=dims).astype(dtype)
    if dtype.kind == "b":
        return rng.random(dims) > 0.5
    return rng.standard_normal(dims).astype(dtype)


def generate_feeds(model: Model, shapes: Shapes | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs at ``shapes`` (default: the model's default shapes) in the model's input dtypes.

    Token ids stay inside a small range, so embedding lookups are valid.
    """
    shapes = model.shapes.resolve(shapes)
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in model.inputs:
        if spec.name not in shapes:
            raise ConfigError(f"input '{spec.name}' of {model.label} has unknown rank; give its shape")
        if spec.dtype == "bfloat16":
            raise ConfigError(
                f"input '{spec.name}' of {model.label} is bfloat16, which numpy cannot generate; "
                "keep bf16 models' inputs in float32 (PrecisionPlan keep_io_types=True)"
            )
        itemsize = np.dtype(spec.dtype).itemsize
        drawn = 8 if np.dtype(spec.dtype).kind in "fiu" else 0  # values are drawn as float64/int64 and then cast
        check_bytes(
            array_bytes(shapes[spec.name], itemsize + drawn),
            f"input '{spec.name}' of {model.label} at shape {format_shape(shapes[spec.name])}",
        )
        feeds[spec.name] = random_array(rng, spec.dtype, shapes[spec.name])
    return feeds


def batch_shapes(model: Model, batch: int, shapes: Shapes | None = None) -> dict[str, tuple[int, ...]]:
    """Input shapes with the leading (batch) dimension set to ``batch``.

    Only a symbolic leading dimension can change; a model with a fixed batch accepts that batch only.
    """
    if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
        raise ConfigError(f"batch size {batch!r} must be a positive integer")
    resolved = model.shapes.resolve(shapes)
    out = {}
    for spec in model.inputs:
        dims = list(resolved[spec.name])
        if not dims:
            out[spec.name] = ()
            continue
        lead = spec.shape[0] if spec.shape else None
        if isinstance(lead, int):
            if lead != batch:
                raise ConfigError(
                    f"batch size {batch} is not possible: input '{spec.name}' of {model.label} has a "
                    f"fixed batch of {lead} {format_shape(spec.shape)}"
                )
        else:
            dims[0] = int(batch)
        out[spec.name] = tuple(dims)
    return out  # type: ignore[return-value]  # dims are all ints by now (checked above)


def check_feeds(model: Model, feeds: Mapping[str, object], what: str = "feeds") -> dict[str, np.ndarray]:
    """Check names, ranks, fixed dimensions and dtypes of ``feeds`` against the model's inputs.

    Returns the feeds as numpy arrays; raises ConfigError naming the input and the expected shape or dtype.
    """
    if not isinstance(feeds, Mapping):
        raise ConfigError(f"{what} must be a dict of input name -> array, got {type(feeds).__name__}")
    specs = {s.name: s for s in model.inputs}
    unknown = [n for n in feeds if n not in specs]
    if unknown:
        raise ConfigError(
            f"{what}: '{unknown[0]}' is not an input of {model.label} "
            f"(inputs: {', '.join(f'{s.name} {format_shape(s.shape)}' for s in specs.values())})"
        )
    missing = [n for n in specs if n not in feeds]
    if missing:
        spec = specs[missing[0]]
        raise ConfigError(f"{what}: no data for input '{spec.name}' {format_shape(spec.shape)} {spec.dtype}")
    out = {}
    for name, value in feeds.items():
        spec = specs[name]
        array = np.asarray(value)
        check_against_spec(spec, array.shape, what=f"{what} shape")
        want = _NUMPY_DTYPES.get(spec.dtype)
        if want and array.dtype != np.dtype(want):
            raise ConfigError(
                f"{what}: input '{name}' has dtype {array.dtype}, the model expects {spec.dtype} "
                f"{format_shape(spec.shape)}"
            )
        out[name] = array
    return out
