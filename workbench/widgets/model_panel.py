"""ModelPanel: choose a model — a bundled sample, a file path, or an uploaded .onnx file — see its summary, and set
the shape of every input (pre-filled with the model's defaults and where they came from; a min/opt/max range on
request). The Graph and Build panels of the App build at these shapes."""

from __future__ import annotations

from typing import Callable, Sequence, TYPE_CHECKING

import ipywidgets as widgets

from ..errors import ConfigError, ModelError
from ..model import list_samples, load_model
from ..model.tensors import check_against_spec, dims_text, format_shape, parse_shapes
from .common import Panel

if TYPE_CHECKING:
    from ..model import TensorSpec
    from ..model.sources import ModelSource


class InputShapeRow(widgets.HBox):
    """One input: its declared shape, an editable shape (and min/max when ``range`` is ticked), its sources."""

    def __init__(self, spec: TensorSpec, default: Sequence[int], sources: str):
        self.spec = spec
        self.declared = widgets.HTML(
            f"<code>{spec.name}</code> {spec.dtype} {format_shape(spec.shape)}", layout=widgets.Layout(width="300px")
        )
        fixed = not spec.is_dynamic
        self.opt = widgets.Text(
            value=dims_text(default),
            description="shape",
            disabled=fixed,
            continuous_update=False,
            layout=widgets.Layout(width="220px"),
        )
        self.use_range = widgets.Checkbox(
            value=False, description="range", indent=False, disabled=fixed, layout=widgets.Layout(width="70px")
        )
        self.min = widgets.Text(
            value=dims_text(default),
            description="min",
            continuous_update=False,
            layout=widgets.Layout(width="180px", display="none"),
        )
        self.max = widgets.Text(
            value=dims_text(default),
            description="max",
            continuous_update=False,
            layout=widgets.Layout(width="180px", display="none"),
        )
        self.sources = widgets.HTML(f"<i>{sources}</i>" if sources else "")
        self.use_range.observe(lambda change: self._show_range(change["new"]), names="value")
        super().__init__([self.declared, self.opt, self.use_range, self.min, self.max, self.sources])

    def _show_range(self, on: bool) -> None:
        self.opt.description = "opt" if on else "shape"
        self.min.layout.display = self.max.layout.display = None if on else "none"

    def _dims(self, text: str, what: str) -> tuple[int, ...]:
        try:
            dims = parse_shapes(f"{self.spec.name}:{text.strip()}")[self.spec.name]
        except ConfigError as exc:
            raise ConfigError(f"input '{self.spec.name}' {what} '{text}': {exc}") from None
        check_against_spec(self.spec, dims, what)
        return dims

    def value(self) -> tuple[int, ...] | tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """One shape, or (min, opt, max) when a range is asked for."""
        opt = self._dims(self.opt.value, "opt shape" if self.use_range.value else "shape")
        if not self.use_range.value:
            return opt
        return self._dims(self.min.value, "min shape"), opt, self._dims(self.max.value, "max shape")


class ModelPanel(Panel):
    """``model`` is the loaded Model; functions given to ``on_model`` are called with each newly loaded model."""

    def __init__(self, model: ModelSource | None = None):
        self.model = None
        self._listeners: list[Callable] = []
        samples = list_samples()
        self.sample = widgets.Dropdown(options=list(samples["name"]), description="sample")
        self.load_sample = widgets.Button(description="Load sample", icon="cube")
        self.path = widgets.Text(
            placeholder="/path/to/model.onnx",
            description="file",
            continuous_update=False,
            layout=widgets.Layout(width="420px"),
        )
        self.open_path = widgets.Button(description="Open", icon="folder-open")
        self.upload = widgets.FileUpload(accept=".onnx", multiple=False, description="Upload .onnx")
        self.summary = widgets.HTML()
        self.shape_rows: dict[str, InputShapeRow] = {}
        self.shapes_box = widgets.VBox()
        self.apply_shapes = widgets.Button(
            description="Apply shapes",
            icon="check",
            tooltip="re-estimate the model at these shapes; the Graph and Build panels build at them",
        )
        self.apply_shapes.on_click(self.guarded(lambda _: self._shapes_changed()))
        self.load_sample.on_click(self.guarded(lambda _: self.load(self.sample.value)))
        self.open_path.on_click(self.guarded(lambda _: self._open_path()))
        self.upload.observe(self.guarded(lambda change: self._uploaded(change["new"])), names="value")
        super().__init__(
            [
                widgets.HBox([self.sample, self.load_sample]),
                widgets.HBox([self.path, self.open_path]),
                self.upload,
                widgets.HTML("<b>Input shapes</b>"),
                self.shapes_box,
                self.summary,
            ]
        )
        if model is not None:
            self.load(model)

    def on_model(self, listener: Callable) -> None:
        self._listeners.append(listener)

    def _open_path(self) -> None:
        if not self.path.value.strip():
            raise ModelError("type the path of an .onnx file first")
        self.load(self.path.value.strip())

    def _uploaded(self, files) -> None:
        if not files:
            return
        upload = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = upload["name"] if isinstance(upload, dict) else upload.name
        content = upload["content"] if isinstance(upload, dict) else upload.content
        self.load(bytes(content), name=name.rsplit(".", 1)[0])

    def load(self, source: ModelSource, *, name: str | None = None) -> None:
        """Load ``source`` (anything ``load_model`` takes); the previous model stays if this one fails."""
        model = load_model(source, name=name)
        try:
            defaults = model.shapes.default
            estimates, problem = model.shapes.dimensions(), None
        except ModelError as exc:  # a metadata entry that is no shape: pre-fill without the model's metadata
            # The same rules as the library (channels from the Conv weight, relations, presets), without that entry.
            estimates, problem = model.shapes.dimensions(shape_metadata=False), str(exc)
            defaults = model.shapes.fill(estimates)
            self.say(f"{problem}. The fields below are pre-filled without it.", "warning")
        self.model = model
        by_input = {}
        for d in estimates:
            by_input.setdefault(d.input, []).append(f"{d.dim} = {d.value}: {d.detail}")
        self.shape_rows = {
            s.name: InputShapeRow(s, defaults.get(s.name, ()), "; ".join(by_input.get(s.name, [])))
            for s in model.inputs
            if s.shape is not None
        }
        self.shapes_box.children = (*self.shape_rows.values(), self.apply_shapes) if self.shape_rows else ()
        self._summarize()
        if problem is None:
            self.say(f"loaded {model.name} ({model.node_count} nodes)", "ok")
        for listener in self._listeners:
            listener(model)

    def shapes(self) -> dict:
        """The shapes the user set: ``{name: dims}`` or ``{name: (min, opt, max)}``; inputs left at their
        pre-filled defaults are left out (a build then says which dimensions were defaulted if TensorRT rejects
        them). Every field is checked: a bad value is a ConfigError naming the input."""
        out = {}
        for name, row in self.shape_rows.items():
            value = row.value()
            if row.use_range.value or row.opt.value.strip() != dims_text(self._defaults.get(name, ())):
                out[name] = value
        if self.model is not None and out:  # the same checks as a build: rank, fixed dimensions, min <= opt <= max
            from ..engines.config import BuildConfig

            BuildConfig(shapes=out).profiles(self.model)
        return out

    def opt_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: value[1] if isinstance(value[0], tuple) else value for name, value in self.shapes().items()}

    def estimated_at(self) -> str:
        """``images:1x3x320x320 (height, width from the model's metadata)`` for the shapes in the fields."""
        shapes = self.opt_shapes()
        return self.model.shapes.describe(shapes)

    @property
    def _defaults(self) -> dict:
        try:
            return self.model.shapes.default
        except ModelError:
            return {}

    def _summarize(self) -> None:
        model = self.model
        try:
            table = model.stats.summary(self.opt_shapes()).to_html(index=False, border=0)
        except (ModelError, ConfigError) as exc:
            table = f"<i>{exc}</i>"
        self.summary.value = (
            f"<div style='display:flex;gap:24px'>{table}"
            f"{model.stats.op_table().head(20).to_html(index=False, border=0)}</div>"
        )

    def _shapes_changed(self) -> None:
        self.shapes()  # validated first: a bad value is a message and the previous summary stays
        self._summarize()
        self.say(f"estimated at {self.estimated_at()}", "ok")
