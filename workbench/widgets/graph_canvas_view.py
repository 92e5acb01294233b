"""GraphCanvas: the graph at scale in Jupyter and Voilà — the bundled canvas renderer (``charts/graph_canvas.js``)
as an anywidget, the same code and look as the offline HTML export. Large graphs open grouped by name scope; a
click reports the node (or group) to Python; ``find`` searches from Python as the search box does."""

from __future__ import annotations

import json
from typing import Callable

import anywidget
import traitlets

from ..charts.graph_canvas import renderer_js
from ..charts.graph_html import canvas_payload
from ..graph import GraphData

# The renderer defines mountWorkbenchGraph on window; the module part wires it to the widget's model. No import of
# anything outside this string: nothing is fetched (anywidget's docs suggest CDN imports, the research notes say no).
_ESM_TAIL = """
export default {
  render({ model, el }) {
    let app = null;
    const mount = () => {
      // the payload arrives as one binary buffer of JSON text (see GraphCanvas.payload_json)
      const data = JSON.parse(new TextDecoder().decode(model.get("payload_json")));
      app = window.mountWorkbenchGraph(el, data);
      app.onSelect = (view, ref) => { model.set("selected", {view, ref}); model.save_changes(); };
    };
    mount();
    model.on("change:payload_json", mount);
    model.on("msg:custom", msg => { if (msg && msg.find !== undefined) app.find(msg.find); });
    return () => {  // a closed view: forget its app
      const apps = window.workbenchGraphs || [], i = apps.indexOf(app);
      if (i >= 0) apps.splice(i, 1);
    };
  }
};
"""


class GraphCanvas(anywidget.AnyWidget):
    """``graphs``: one GraphData, or the ONNX graph and the engine's (synced selection through the fusion map).
    ``on_select(widget, view_index, name)`` is called on clicks with the node's (or the group's) name."""

    _esm = renderer_js() + _ESM_TAIL
    # The payload travels as JSON text in one binary buffer, not as a synced dict: ipywidgets walks a dict's every
    # value looking for buffers before sending it (0.84 s of 2.6 s for the 50,000-node chain) and the browser then
    # parses it inside the message; a bytes trait is one buffer, encoded once here and parsed once by the renderer.
    payload_json = traitlets.Bytes().tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        graphs: GraphData | list[GraphData],
        *,
        engine_color_by: str = "category",
        height: int = 640,
        on_select: Callable[["GraphCanvas", int, str], None] | None = None,
    ):
        graphs = [graphs] if isinstance(graphs, GraphData) else list(graphs)
        payload = canvas_payload(graphs, engine_color_by=engine_color_by)
        payload["height"] = height
        super().__init__(payload_json=json.dumps(payload, separators=(",", ":")).encode())
        self.payload = payload  # what the renderer draws, kept in Python for name_of
        self.graphs = graphs
        self.on_select = on_select
        self.observe(self._selected, names="selected")

    def name_of(self, view: int, ref: int) -> str:
        """The name of a node (``ref`` >= 0, its row) or a group (``ref`` < 0) of pane ``view``."""
        v = self.payload["views"][view]
        return v["groups"][-ref - 1]["name"] if ref < 0 else v["names"][ref]

    def _selected(self, change) -> None:
        chosen = change["new"]
        if self.on_select is not None and chosen:
            self.on_select(self, int(chosen["view"]), self.name_of(int(chosen["view"]), int(chosen["ref"])))

    def find(self, query: str) -> None:
        """Search in the browser (opens the group holding the node, selects and centres it)."""
        self.send({"find": str(query)})
