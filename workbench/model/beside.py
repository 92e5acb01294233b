"""Shape hints a model carries in its metadata or ships beside it: the image size (``image_size`` in metadata,
``config.json`` or ``preprocessor_config.json``, as Hugging Face / optimum exports ship them) and the encoder length a
decoder's cross-attention reads (the encoder model's output beside it, or ``max_source_positions`` — Whisper's
1500). Each hint says where it came from; the shapes table prints that."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import onnx

IMAGE_SIZE_HINT = "image_size"  # (height, width)
ENCODER_LENGTH = "encoder_length"  # (length,): the encoder output's sequence length
ENCODER_FILES = ("encoder_model.onnx", "encoder.onnx")  # optimum's and common names of the encoder beside a decoder


@dataclass(frozen=True)
class ShapeHint:
    """A value for some open dimensions and, in words, where it came from."""

    value: tuple[int, ...]
    detail: str


def _size(value: Any) -> tuple[int, int] | None:
    """224, [384, 384] or {"height": 512, "width": 512} / {"shortest_edge": 224} -> (height, width)."""
    if isinstance(value, Mapping):
        if "height" in value and "width" in value:
            value = [value["height"], value["width"]]
        elif "shortest_edge" in value:
            value = value["shortest_edge"]
        else:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _read_json(path: Path, label: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        warnings.warn(
            f"{label}: {path.name} beside the model is not readable JSON ({exc}); shapes are not taken from it",
            stacklevel=4,
        )
        return {}
    return data if isinstance(data, dict) else {}


def _encoder_output_length(base_dir: Path, label: str) -> ShapeHint | None:
    """The fixed sequence length (axis 1) of the first output of an encoder model beside this one."""
    for name in ENCODER_FILES:
        path = base_dir / name
        if not path.is_file() or Path(label).name == name:
            continue
        try:
            encoder = onnx.load(str(path), load_external_data=False)
            if not encoder.graph.output[0].type.tensor_type.shape.dim[1].HasField("dim_value"):
                encoder = onnx.shape_inference.infer_shapes(encoder)  # a length fixed by the encoder's input
        except Exception:  # noqa: BLE001  an unreadable encoder is no reason to refuse the decoder
            continue
        for output in encoder.graph.output:
            dims = output.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
                return ShapeHint((int(dims[1].dim_value),), f"the output '{output.name}' of {name} beside the model")
    return None


def shape_hints(base_dir: Path | None, metadata: Mapping[str, str], label: str) -> dict[str, ShapeHint]:
    """``{IMAGE_SIZE_HINT: ..., ENCODER_LENGTH: ...}`` from the model's metadata and the files beside it (first found)."""
    hints: dict[str, ShapeHint] = {}
    if IMAGE_SIZE_HINT in metadata:
        try:
            size = _size(json.loads(metadata[IMAGE_SIZE_HINT]))
        except ValueError:
            size = None
        if size:
            hints[IMAGE_SIZE_HINT] = ShapeHint(size, f"the model's metadata ({IMAGE_SIZE_HINT})")
    if base_dir is None:
        return hints
    config = _read_json(base_dir / "config.json", label)
    preprocessor = _read_json(base_dir / "preprocessor_config.json", label)
    for source, data, keys in (
        ("config.json", config, ("image_size",)),
        ("preprocessor_config.json", preprocessor, ("crop_size", "size")),
    ):
        for key in keys:
            size = _size(data.get(key))
            if size and IMAGE_SIZE_HINT not in hints:
                hints[IMAGE_SIZE_HINT] = ShapeHint(size, f"{source} beside the model ({key})")
    encoder = _encoder_output_length(base_dir, label)
    if encoder is not None:
        hints[ENCODER_LENGTH] = encoder
    elif isinstance(config.get("max_source_positions"), int) and config["max_source_positions"] > 0:
        hints[ENCODER_LENGTH] = ShapeHint(
            (int(config["max_source_positions"]),), "config.json beside the model (max_source_positions)"
        )
    return hints
