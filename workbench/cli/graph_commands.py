"""`workbench graph`: the graph (and the engine after fusion) as one self-contained interactive HTML file."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .engine_commands import add_build_options, build_config_from_args
from .main import CONFIGURE, command


def _configure_graph(p):
    p.add_argument("model", help="an .onnx model or a bundled sample name")
    p.add_argument(
        "--engine",
        action="store_true",
        help="build the TensorRT engine and show it beside the graph, with synced selection and the fusion table",
    )
    p.add_argument("--onnxruntime", action="store_true", help="show ONNX Runtime's optimized graph instead")
    p.add_argument("--collapse", type=int, default=0, help="group nodes by name scope to this depth (large models)")
    p.add_argument(
        "--color-by",
        default="category",
        choices=["category", "precision", "stream"],
        help="engine layer colours (default category)",
    )
    p.add_argument(
        "--model-explorer-data",
        metavar="OUT.json",
        help="also write the engine mapping (each ONNX node's engine layer, precision, stream) as Google "
        "Model Explorer node data: OUT.json, OUT.precision.json, OUT.stream.json (builds the engine)",
    )
    p.add_argument("-o", "--output", help="the .html file to write")
    add_build_options(p)


@command("graph", "write the graph (and with --engine, the engine after fusion) as a self-contained HTML file")
def cmd_graph(args: argparse.Namespace) -> tuple[str, dict]:
    from ..charts.graph_html import graph_html
    from ..graph import collapse, from_engine, from_onnx, write_model_explorer_node_data
    from ..model import load_model, parse_shapes

    if not args.output and not args.model_explorer_data:
        raise ConfigError("workbench graph needs -o OUT.html, --model-explorer-data OUT.json, or both")
    if args.model_explorer_data and args.onnxruntime:
        raise ConfigError("--model-explorer-data annotates the ONNX graph; it cannot be combined with --onnxruntime")
    if args.output:
        from ..files import check_output_path

        check_output_path(args.output, "the graph page", inputs=[args.model])
    model = load_model(args.model)
    if args.onnxruntime:
        from ..engines import onnxruntime_optimized

        graph = from_onnx(
            onnxruntime_optimized(model, "extended"),
            kind="onnxruntime",
            title=f"{model.name} after ONNX Runtime's optimizations",
        )
    else:
        shapes = parse_shapes(args.shapes) if args.shapes else None
        graph = from_onnx(model, shapes)
    if args.collapse:
        graph = collapse(graph, args.collapse)
    graphs, fusion, info = [graph], None, {}
    if args.engine or args.model_explorer_data:
        from ..engines import build_engine
        from ..graph import with_fusion_reasons

        result = build_engine(model, build_config_from_args(args), cache=not args.no_cache)
        engine = from_engine(result.layers, model=model)
        fusion = result.fusion
        graphs = [with_fusion_reasons(graph, fusion), engine]  # why each unmapped node has no engine layer
        info["engine"] = {"flavor": result.flavor, "version": result.version, **engine.counts}
        info["fusion"] = {
            "onnx_nodes": fusion.onnx_nodes,
            "network_layers": fusion.network_layers,
            "engine_layers": fusion.engine_layers,
            "unmapped_by_kind": fusion.to_dict()["unmapped_by_kind"],
        }
    lines = []
    if args.model_explorer_data:
        reasons = {node["name"]: node["reason"] for node in fusion.to_dict()["unmapped_onnx_nodes"]}
        written = write_model_explorer_node_data(model, engine, args.model_explorer_data, unmapped_reason=reasons)
        info["model_explorer_data"] = [str(p) for p in written]
        lines.append(
            f"wrote Model Explorer node data {', '.join(map(str, written))} (open {model.name} in Model "
            "Explorer with the ONNX adapter, then add these files as node data)"
        )
    if args.output:
        path = graph_html(
            graphs,
            args.output,
            fusion=fusion,
            engine_color_by=args.color_by,
            title=f"{model.name}: graph" + (" before and after TensorRT fusion" if len(graphs) > 1 else ""),
        )
        info = {"output": str(path), "bytes": path.stat().st_size, **info}  # type: ignore[dict-item]
        text = (
            f"wrote {path} ({info['bytes'] / 2**20:.1f} MiB): {graph.counts['nodes']} nodes, "  # type: ignore[operator]
            f"{graph.counts['edges']} edges, {graph.counts['groups']} groups"
        )
        if len(graphs) > 1:
            text += f"; engine: {info['engine']['nodes']} layers"
        lines.insert(0, text)
    info = {"graph": graph.counts, **info}
    return "\n".join(lines), info


CONFIGURE.update({"graph": _configure_graph})
