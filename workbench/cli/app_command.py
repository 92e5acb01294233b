"""`workbench app`: the one-window app as a standalone page, served by Voila with an offline template."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError
from .main import CONFIGURE, command

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "app_template"  # holds voila/templates/workbench-offline


def app_notebook() -> Path:
    """The App notebook: notebooks/app.ipynb in a checkout."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `workbench app` from a checkout of the workbench")
    return path


def voila_command(notebook: Path, port: int, browser: bool, extra=()) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATE_ROOT), env.get("JUPYTER_PATH", "")) if p)
    cmd = [sys.executable, "-m", "voila", str(notebook), "--template=workbench-offline", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--show_tracebacks=False",
           # one kernel per browser tab: cull idle ones so a workshop room does not exhaust the machine
           "--MappingKernelManager.cull_interval=60", "--MappingKernelManager.cull_idle_timeout=1800"]
    if not browser:
        cmd.append("--no-browser")
    return cmd + list(extra), env


def _configure_app(p):
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")


@command("app", "serve the workbench app as a standalone page (Voila, offline)")
def cmd_app(args):
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise ConfigError("the app page needs Voila: pip install voila (make app installs it)")
    cmd, env = voila_command(app_notebook(), args.port, not args.no_browser)
    code = subprocess.call(cmd, env=env)
    return f"voila exited with {code}", {"exit_code": code}


CONFIGURE.update({"app": _configure_app})
