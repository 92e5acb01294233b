"""GraphPanel: the model's graphs — ONNX, TensorRT's network, the engine's layers, before/after fusion side by side,
ONNX Runtime's optimized graph — with a Build button (progress shown) for the TensorRT views."""

from __future__ import annotations

import html

import ipywidgets as widgets
from typing import Callable, TYPE_CHECKING

from ..engines import BuildConfig, inspect_network, onnxruntime_optimized, reduce
from ..engines.llm_views import describe_fused_attention, fused_attention, fusion_by_block
from ..errors import EngineBuildError, NetworkParseError
from ..graph import collapse, from_engine, from_network, from_onnx, layered_layout, with_fusion_reasons
from ..charts.graph_canvas import HIERARCHY_MIN_NODES
from ..charts.graph_html import CANVAS_MIN_NODES
from ..graph.layout import scope_depth
from ..model import load_model, parse_shapes
from .common import Panel, progress_bar
from .graph_canvas_view import GraphCanvas
from .graph_view import FusionView, GraphView

if TYPE_CHECKING:
    from ..model.sources import ModelSource
    import pandas as pd

    from ..model import Model
    from ..model.tensors import Shapes

VIEWS = (
    "ONNX graph",
    "before/after fusion",
    "engine layers",
    "per decoder block",
    "TensorRT network",
    "ONNX Runtime optimized",
)
AUTO_COLLAPSE = HIERARCHY_MIN_NODES  # nodes: larger graphs open grouped by name scope, as the exports do


class GraphPanel(Panel):
    """``model``: anything ``load_model`` takes (or set later with ``set_model``). After a build, ``result`` is the
    BuildResult; ``view`` is the widget on show (GraphView or FusionView)."""

    def __init__(self, model: ModelSource | None = None, *, build_config: BuildConfig | None = None):
        self.model = None
        self.result = None
        self.view = None
        self.build_config = build_config
        self.shapes_provider = None  # the App's Model panel: () -> {input: shape or (min, opt, max)}
        self.failure: Exception | None = None  # the last build failure (what "Reduce" shrinks)
        self.reduction = None
        self.choice = widgets.Dropdown(options=VIEWS, value="ONNX graph", description="view")
        self.collapse_depth = widgets.BoundedIntText(
            value=0, min=0, max=6, description="group depth", tooltip="group nodes by name scope (0: every node)"
        )
        self.shapes = widgets.Text(placeholder="input:1x3x224x224 (default: the model's)", description="shapes")
        self.build_button = widgets.Button(description="Build engine", button_style="primary", icon="cogs")
        self.run_button = self.build_button  # the Run/Stop pair of Panel.run_stoppable
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.stop_button.on_click(self.guarded(lambda _: self.stop()))
        self.layers = widgets.ToggleButton(
            description="Group layers",
            icon="object-group",
            tooltip="one click: collapse nodes by name scope (Model Explorer's layers); again: every node",
        )
        self.layers.observe(self.guarded(lambda change: self._toggle_layers(change["new"])), names="value")
        self.expanded: set[str] = set()  # groups opened by the user in a grouped view
        self._selected_group: str | None = None
        self.expand_button = widgets.Button(
            description="Expand group", icon="expand", disabled=True, tooltip="select a group node, then expand it"
        )
        self.expand_button.on_click(self.guarded(lambda _: self.expand()))
        self.reduce_button = widgets.Button(
            description="Reduce failure",
            icon="search-minus",
            disabled=True,
            tooltip="after a failed build: shrink the model to the smallest "
            "subgraph TensorRT still rejects, and highlight it",
        )
        self.reduce_button.on_click(self.guarded(lambda _: self.reduce()))
        self.progress = progress_bar("build")
        self.stage = widgets.Label()
        self.area = widgets.Box(layout=widgets.Layout(width="100%"))
        self.choice.observe(self.guarded(lambda _: self.show()), names="value")
        self.collapse_depth.observe(self.guarded(lambda _: self._regroup()), names="value")
        self.build_button.on_click(self.guarded(lambda _: self.build()))
        super().__init__(
            [
                widgets.HBox([self.choice, self.layers, self.collapse_depth, self.expand_button]),
                widgets.HBox(
                    [self.shapes, self.build_button, self.reduce_button, self.stop_button, self.progress, self.stage]
                ),
                self.area,
            ]
        )
        if model is not None:
            self.set_model(model)

    def set_model(self, model: ModelSource | None) -> None:
        self.model = load_model(model)
        self.result = self.failure = self.reduction = None
        self.reduce_button.disabled = True
        self.progress.value, self.stage.value = 0.0, ""
        self.expanded = set()
        depth = scope_depth(from_onnx(self.model)) if self.model.node_count > AUTO_COLLAPSE else 0
        if depth == self.collapse_depth.value:
            self.show()
        self.collapse_depth.value = depth  # shows it

    def _toggle_layers(self, on: bool) -> None:
        if self.model is None:
            return
        if not on:
            self.collapse_depth.value = 0
        elif not self.collapse_depth.value:
            self.collapse_depth.value = scope_depth(from_onnx(self.model))

    def _regroup(self) -> None:
        self.expanded = set()
        self.layers.value = bool(self.collapse_depth.value)
        self.show()

    def _group_selected(self, view, node_id: int) -> None:
        row = view.graph.nodes.loc[node_id]
        is_group = row["category"] == "group"
        self._selected_group = row["name"] if is_group else None
        self.expand_button.disabled = not is_group
        self.expand_button.description = f"Expand {row['name']}" if is_group else "Expand group"

    def expand(self, group: str | None = None) -> None:
        """Show the nodes of a group (the selected one by default); the rest stays grouped."""
        group = group or self._selected_group
        if not group:
            self.say("select a group node first", "warning")
            return
        self.expanded.add(group)
        self._selected_group = None
        self.expand_button.disabled, self.expand_button.description = True, "Expand group"
        self.show()

    def use_shapes_from(self, provider: Callable[[], Shapes]) -> None:
        """Build at the shapes ``provider()`` gives (the App's Model panel), instead of a shapes field here."""
        self.shapes_provider = provider
        self.shapes.layout.display = "none"

    def _config(self) -> BuildConfig:
        if self.shapes.value.strip():
            return BuildConfig(shapes=parse_shapes(self.shapes.value))
        if self.shapes_provider is not None:
            return BuildConfig(shapes=self.shapes_provider())
        return self.build_config or BuildConfig()

    def build(self, wait: bool = False) -> None:
        """Build the engine (background; ``wait=True`` blocks), then show the before/after fusion view."""
        if self.model is None:
            self.say("choose a model first", "warning")
            return
        config = self._config()
        self.failure = None
        self.reduce_button.disabled = True
        self.progress.value = 0.0
        self.say(f"building {self.model.name} …")

        def built(model, result):  # on the kernel's thread
            self.result = result
            self.progress.value = 1.0
            f = result.fusion
            self.say(
                f"{f.onnx_nodes} ONNX nodes → {f.network_layers} network layers → {f.engine_layers} engine "
                f"layers ({'engine cache' if result.cache_hit else f'built in {result.build_seconds:.1f} s'})",
                "ok",
            )
            if self.choice.value == "before/after fusion":
                self.show()
            else:
                self.choice.value = "before/after fusion"  # shows it

        model = self.model
        self.run_build(lambda: model, config, built, on_finish=self._after_build, wait=wait)

    def _after_build(self) -> None:
        """A build TensorRT rejected (not a stop, not a bad setting) is what "Reduce failure" shrinks."""
        failed = self.last_exception
        self.failure = (
            failed if isinstance(failed, (EngineBuildError, NetworkParseError)) and not self._cancel.is_set() else None
        )
        self.reduce_button.disabled = self.failure is None

    def reduce(self, wait: bool = False, time_limit: float = 180.0) -> None:
        """After a failed build: shrink the model to the smallest subgraph TensorRT still rejects (background,
        Stop-able), then show the ONNX graph with that subgraph highlighted."""
        if self.model is None or self.failure is None:
            self.say("build first: Reduce shrinks a model whose build failed", "warning")
            return
        config, model = self._config(), self.model
        self.build_button.disabled = True
        self.progress.value = 0.0
        self.say(f"reducing {model.name} to the smallest failing subgraph …")

        def work():
            shapes = {name: opt for name, (_, opt, _) in config.profiles(model).items()}
            self.reduction = reduce(
                model, shapes, time_limit=time_limit, cancel=self._cancel, on_progress=self.show_progress
            )
            self.on_ui(self.show_reduction)

        def finish():
            self.build_button.disabled = False
            self.reduce_button.disabled = self.failure is None

        self.run_stoppable(work, on_finish=finish, run_button=self.reduce_button, wait=wait)

    def show_reduction(self) -> None:
        """The ONNX graph with the reduced subgraph's nodes highlighted."""
        r = self.reduction
        if self.choice.value != "ONNX graph":
            self.choice.value = "ONNX graph"  # shows it
        nodes = set(r.nodes)
        ids = [
            int(i)
            for i, members, name in zip(
                self.view.graph.nodes["id"], self.view.graph.nodes["members"], self.view.graph.nodes["name"]
            )
            if nodes & {name, *members}
        ]
        self.view.set_highlight(ids, zoom=True)
        state = "" if r.complete else " (stopped early: the smallest found so far)"
        self.say(
            f"{len(r.nodes)} of {r.original_nodes} ONNX nodes still fail{state}, highlighted: "
            f"{', '.join(r.nodes[:8])}{' …' if len(r.nodes) > 8 else ''} — TensorRT: {r.error[:300]}",
            "warning",
        )

    def _onnx_graph(self, model, **kwargs):
        graph = from_onnx(model, **kwargs)
        if not self.collapse_depth.value:
            return graph
        return collapse(graph, self.collapse_depth.value, expanded=frozenset(self.expanded))

    def _canvas(self, choice: str) -> GraphCanvas:
        """A large model's graph on the canvas renderer, grouped by name scope there (Expand: double-click a group)."""
        graph = from_onnx(self.model)
        if choice == "ONNX graph":
            return GraphCanvas(graph)
        engine = from_engine(self.result.layers, model=self.model)
        return GraphCanvas([with_fusion_reasons(graph, self.result.fusion), engine])

    def show(self) -> None:
        """Draw the chosen view (TensorRT views need a build first)."""
        if self.model is None:
            return
        choice = self.choice.value
        if choice in ("before/after fusion", "engine layers", "per decoder block") and self.result is None:
            self.area.children = ()
            self.say("press “Build engine” to see TensorRT's layers after fusion", "info")
            return
        if self.model.node_count > CANVAS_MIN_NODES and choice in ("ONNX graph", "before/after fusion"):
            self.view = self._canvas(choice)
        elif choice == "ONNX graph":
            self.view = GraphView(layered_layout(self._onnx_graph(self.model)), on_select=self._group_selected)
        elif choice == "ONNX Runtime optimized":
            optimized = onnxruntime_optimized(self.model, "extended")
            self.view = GraphView(
                layered_layout(
                    self._onnx_graph(optimized, kind="onnxruntime", title=f"{self.model.name} after ONNX Runtime")
                ),
                on_select=self._group_selected,
            )
        elif choice == "TensorRT network":
            network = self.result.network if self.result is not None else inspect_network(self.model)
            self.view = GraphView(layered_layout(from_network(network)))
        elif choice == "engine layers":
            self.view = GraphView(layered_layout(from_engine(self.result.layers, model=self.model)))
        elif choice == "per decoder block":
            self.view = widgets.HTML(decoder_block_html(self.result.layers, self.model))
        else:
            # fusion_reason / fusion_reason_kind columns: why a node has no engine layer, for colouring by reason
            onnx_graph = with_fusion_reasons(self._onnx_graph(self.model), self.result.fusion)
            self.view = FusionView(
                layered_layout(onnx_graph),
                layered_layout(from_engine(self.result.layers, model=self.model)),
                fusion=self.result.fusion,
                color_onnx_by="fusion_reason_kind",
            )
            sync = self.view.onnx_view.on_select

            def both(view, node_id):  # keep the fusion sync, and offer to expand a selected group
                sync(view, node_id)
                self._group_selected(view, node_id)

            self.view.onnx_view.on_select = both
        self.area.children = (self.view,)


def decoder_block_html(layers: pd.DataFrame, model: Model) -> str:
    """The LLM views of a build: engine layers per decoder block, and the fused attention's ONNX nodes."""
    blocks, attention = fusion_by_block(layers, model), fused_attention(layers, model)
    parts = [
        "<b>Engine layers per decoder block</b>",
        blocks.to_html(index=False, border=0, formatters={"work_share": "{:.1%}".format})
        if len(blocks)
        else "<i>no numbered decoder blocks in the ONNX node names (such as /model/layers.3/...)</i>",
    ]
    parts.append("<b>Attention fused by TensorRT</b>")
    if len(attention):
        parts += [f"<div>{html.escape(line)}</div>" for line in describe_fused_attention(attention)]
        share = {"share_of_region": "{:.1%}".format, "share_of_model": "{:.1%}".format}
        parts.append(attention.to_html(index=False, border=0, formatters=share))
    else:
        parts.append("<i>no Myelin region holds an attention (QKᵀ, softmax, PV) in this engine</i>")
    return "<div>" + "".join(parts) + "</div>"
