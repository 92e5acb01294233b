"""ModelPanel: choose a model — a bundled sample, a file path, or an uploaded .onnx file — and see its summary."""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets

from ..errors import ModelError
from ..model import list_samples, load_model
from .common import Panel


class ModelPanel(Panel):
    """``model`` is the loaded Model; functions given to ``on_model`` are called with each newly loaded model."""

    def __init__(self, model=None):
        self.model = None
        self._listeners: list[Callable] = []
        samples = list_samples()
        self.sample = widgets.Dropdown(options=list(samples["name"]), description="sample")
        self.load_sample = widgets.Button(description="Load sample", icon="cube")
        self.path = widgets.Text(placeholder="/path/to/model.onnx", description="file", continuous_update=False,
                                 layout=widgets.Layout(width="420px"))
        self.open_path = widgets.Button(description="Open", icon="folder-open")
        self.upload = widgets.FileUpload(accept=".onnx", multiple=False, description="Upload .onnx")
        self.summary = widgets.HTML()
        self.load_sample.on_click(self.guarded(lambda _: self.load(self.sample.value)))
        self.open_path.on_click(self.guarded(lambda _: self._open_path()))
        self.upload.observe(self.guarded(lambda change: self._uploaded(change["new"])), names="value")
        super().__init__([widgets.HBox([self.sample, self.load_sample]), widgets.HBox([self.path, self.open_path]),
                          self.upload, self.summary])
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

    def load(self, source, *, name: str | None = None) -> None:
        """Load ``source`` (anything ``load_model`` takes); the previous model stays if this one fails."""
        model = load_model(source, name=name)
        self.model = model
        self.summary.value = (f"<div style='display:flex;gap:24px'>{model.summary().to_html(index=False, border=0)}"
                              f"{model.op_table().head(20).to_html(index=False, border=0)}</div>")
        self.say(f"loaded {model.name} ({model.node_count} nodes)", "ok")
        for listener in self._listeners:
            listener(model)
