"""Model keeps a small surface: shapes in ``model.shapes``, counts and work in ``model.stats`` (issue 24 item 6)."""

import inspect

from workbench.model import load_model
from workbench.model.model_shapes import ModelShapes
from workbench.model.statistics import ModelStatistics

MOVED = ("dimension_defaults", "shape_sources", "default_shapes", "resolve_shapes", "concrete_tensor_shapes",
         "tensor_shapes", "op_histogram", "parameter_count", "parameter_bytes", "estimate_flops", "macs", "io_table",
         "op_table", "to_dict")


def test_model_delegates_shapes_and_statistics():
    model = load_model("resnet_tiny")
    assert isinstance(model.shapes, ModelShapes) and isinstance(model.stats, ModelStatistics)
    public = [name for name, _ in inspect.getmembers(type(model)) if not name.startswith("_")]
    assert not set(MOVED) & set(public)
    assert len(public) <= 25, public
    # the two the lessons call stay, as thin delegates
    assert model.summary().equals(model.stats.summary())
    assert model.estimated_at() == model.shapes.describe()
    # fixed shapes travel with at_shapes and leave the original untouched
    fixed = model.at_shapes("input:2x3x32x32")
    assert fixed.shapes.default == {"input": (2, 3, 32, 32)} and model.shapes.default == {"input": (1, 3, 32, 32)}
    assert fixed.stats.macs() == 2 * model.stats.macs() and fixed.fingerprint == model.fingerprint
