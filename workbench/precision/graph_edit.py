"""Small edits shared by the precision transforms: re-sorting a graph, stamping metadata."""

from __future__ import annotations

import onnx

from ..errors import ConfigError


def with_opset(proto: onnx.ModelProto, minimum: int, why: str) -> onnx.ModelProto:
    """``proto`` converted to opset ``minimum`` when its default-domain opset is lower (onnx's version converter)."""
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= minimum:
        return proto
    try:
        return onnx.version_converter.convert_version(proto, minimum)
    except Exception as exc:
        raise ConfigError(
            f"{why} needs opset {minimum}; converting the model from opset {opset} failed: {exc}"
        ) from None


def toposorted(proto: onnx.ModelProto, like: onnx.ModelProto | None = None) -> onnx.ModelProto:
    """``proto`` with its nodes in topological order (onnx-graphsurgeon), keeping IR version, opsets and metadata
    of ``like`` (default: ``proto`` itself)."""
    import onnx_graphsurgeon as gs
    from onnx_graphsurgeon.logger import G_LOGGER

    like = like or proto
    severity = G_LOGGER.severity
    G_LOGGER.severity = G_LOGGER.ERROR  # it warns that numpy has no float8 type: the tensors are kept as they are
    try:
        graph = gs.import_onnx(proto)
        graph.toposort()
        out = gs.export_onnx(graph)
    finally:
        G_LOGGER.severity = severity
    out.ir_version = like.ir_version
    del out.opset_import[:]
    out.opset_import.extend(proto.opset_import)
    out.metadata_props.extend(like.metadata_props)
    return out


def set_metadata(proto: onnx.ModelProto, values: dict) -> None:
    """Set ``metadata_props`` entries (replacing earlier values of the same keys)."""
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)
