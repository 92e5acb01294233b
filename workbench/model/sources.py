"""What a function that loads a model accepts (``load_model``'s ``source``), named once for type hints."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

import onnx

if TYPE_CHECKING:
    from .loading import Model

# a path, ONNX bytes, an onnx.ModelProto, a loaded Model or a bundled sample's name
ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, onnx.ModelProto, "Model"]
