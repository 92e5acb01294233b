"""`workbench graph`: the graph (and the engine after fusion) as one self-contained interactive HTML file."""

from __future__ import annotations

from .engine_commands import add_build_options, build_config_from_args
from .main import CONFIGURE, command


def _configure_graph(p):
    p.add_argument("model", help="an .onnx model or a bundled sample name")
    p.add_argument("--engine", action="store_true", help="build the TensorRT engine and show it beside the graph, "
                                                          "with synced selection and the fusion table")
    p.add_argument("--onnxruntime", action="store_true", help="show ONNX Runtime's optimized graph instead")
    p.add_argument("--collapse", type=int, default=0, help="group nodes by name scope to this depth (large models)")
    p.add_argument("--color-by", default="category", choices=["category", "precision", "stream"],
                   help="engine layer colours (default category)")
    p.add_argument("-o", "--output", required=True, help="the .html file to write")
    add_build_options(p)


@command("graph", "write the graph (and with --engine, the engine after fusion) as a self-contained HTML file")
def cmd_graph(args):
    from ..charts.graph_html import graph_html
    from ..graph import collapse, from_engine, from_onnx
    from ..model import load_model, parse_shapes

    model = load_model(args.model)
    if args.onnxruntime:
        from ..engines import onnxruntime_optimized

        graph = from_onnx(onnxruntime_optimized(model, "extended"), kind="onnxruntime",
                          title=f"{model.name} after ONNX Runtime's optimizations")
    else:
        shapes = parse_shapes(args.shapes) if args.shapes else None
        graph = from_onnx(model, shapes)
    if args.collapse:
        graph = collapse(graph, args.collapse)
    graphs, fusion, info = [graph], None, {}
    if args.engine:
        from ..engines import build_engine
        from ..graph import with_fusion_reasons

        result = build_engine(model, build_config_from_args(args), cache=not args.no_cache)
        engine = from_engine(result.layers, model=model)
        fusion = result.fusion
        graphs = [with_fusion_reasons(graph, fusion), engine]  # why each unmapped node has no engine layer
        info["engine"] = {"flavor": result.flavor, "version": result.version, **engine.counts}
        info["fusion"] = {"onnx_nodes": fusion.onnx_nodes, "network_layers": fusion.network_layers,
                          "engine_layers": fusion.engine_layers,
                          "unmapped_by_kind": fusion.to_dict()["unmapped_by_kind"]}
    path = graph_html(graphs, args.output, fusion=fusion, engine_color_by=args.color_by,
                      title=f"{model.name}: graph" + (" before and after TensorRT fusion" if args.engine else ""))
    info = {"output": str(path), "bytes": path.stat().st_size, "graph": graph.counts, **info}
    text = (f"wrote {path} ({info['bytes'] / 2**20:.1f} MiB): {graph.counts['nodes']} nodes, "
            f"{graph.counts['edges']} edges, {graph.counts['groups']} groups")
    if args.engine:
        text += f"; engine: {info['engine']['nodes']} layers"
    return text, info


CONFIGURE.update({"graph": _configure_graph})
