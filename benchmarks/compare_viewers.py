"""Side by side with Google's Model Explorer and Netron (issue 11, item 10): the same models in each viewer,
screenshotted with Debian's Chromium, into test-artifacts/compare/. Also checks that Model Explorer opens the
workbench's node-data overlays (``workbench graph --model-explorer-data``).

The two viewers are not dependencies: install them into a throwaway virtualenv and pass its bin folder:

    python -m venv /tmp/cmpvenv && /tmp/cmpvenv/bin/pip install ai-edge-model-explorer model-explorer-onnx netron
    PYTHONPATH=. python benchmarks/compare_viewers.py /tmp/cmpvenv/bin
"""

import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-artifacts" / "compare"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _wait(url: str, seconds: float = 90) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(url)


def main(venv_bin: str) -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_graph_view import yolo_like_model

    from workbench.charts.graph_html import graph_html
    from workbench.engines import build_engine
    from workbench.graph import from_engine, from_onnx, write_model_explorer_node_data

    OUT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp())
    yolo = folder / "yolo_like.onnx"
    onnx.save(yolo_like_model(), yolo)
    built = build_engine("resnet_tiny")
    resnet = folder / "resnet_tiny.onnx"
    onnx.save(built.model.proto, resnet)
    overlays = write_model_explorer_node_data(built.model, from_engine(built.layers, model=built.model),
                                              folder / "resnet_tiny.json")
    ours = graph_html([from_onnx(yolo_like_model())], folder / "yolo_like.html")
    explorer = Path(venv_bin) / "model-explorer"
    servers = [subprocess.Popen([str(explorer), "--port", "8391", "--no_open_in_browser", "--skip_health_check",
                                 "--extensions", "model_explorer_onnx"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL),
               subprocess.Popen([str(Path(venv_bin) / "netron"), str(yolo), "--port", "8393", "--host", "127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait("http://127.0.0.1:8391/")
        _wait("http://127.0.0.1:8393/")

        def explorer_url(model, node_data=()):
            data = {"models": [{"url": str(model)}]}
            if node_data:
                data.update(nodeData=[str(p) for p in node_data], nodeDataTargets=[""] * len(node_data))
            return "http://127.0.0.1:8391/?data=" + urllib.parse.quote(json.dumps(data))

        pages = [("workbench_yolo_like", ours.as_uri()), ("model_explorer_yolo_like", explorer_url(yolo)),
                 ("model_explorer_resnet_tiny_tensorrt_overlay", explorer_url(resnet, overlays[:2])),
                 ("netron_yolo_like", "http://127.0.0.1:8393/")]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for name, url in pages:
                page = browser.new_page(viewport={"width": 1500, "height": 950})
                page.goto(url, timeout=120_000)
                page.wait_for_timeout(10_000)
                if name.startswith("netron"):
                    page.get_by_text("Accept").click()  # its cookie notice
                    page.wait_for_timeout(5_000)
                page.screenshot(path=str(OUT / f"{name}.png"))
                print("wrote", OUT / f"{name}.png")
                page.close()
            browser.close()
    finally:
        for server in servers:
            server.terminate()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/cmpvenv/bin")
