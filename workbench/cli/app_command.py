"""`workbench app`: the one-window app as a standalone page, served by Voila with an offline template.

The page drives a live kernel, so it is served like JupyterLab serves one: on 127.0.0.1 only, behind a token that is
printed in the URL (unless the user opts out with --no-token), with the Host header checked against an allow-list
(Voila turns jupyter_server's check off; a DNS-rebinding page presents its own host name), and the Voila server
stops with `workbench app`: on SIGTERM/SIGINT, and when `workbench app` itself dies (PR_SET_PDEATHSIG on Linux)."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .main import CONFIGURE, command

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "app_template"  # holds voila/templates/workbench-offline
LOCAL_HOSTNAMES = ("localhost", "127.0.0.1")  # loopback addresses pass jupyter_server's check by themselves


def app_notebook() -> Path:
    """The App notebook: notebooks/app.ipynb in a checkout."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `workbench app` from a checkout of the workbench")
    return path


def check_port(port: int) -> int:
    """A TCP port the server can listen on: 1-65535 (Voila would wrap 99999 to 34463 and crash on -1)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"--port {port!r}: a port is a whole number from 1 to 65535")
    return port


def app_url(port: int, token: str) -> str:
    """The URL to open: the token rides in the query string, as Jupyter prints it."""
    return f"http://127.0.0.1:{port}/" + (f"?token={token}" if token else "")


def voila_command(
    notebook: Path,
    port: int,
    browser: bool,
    extra: Sequence[str] = (),
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] = (),
) -> tuple[list[str], dict]:
    """Voila's command line and environment. ``token``: None makes a fresh one, "" serves without (an explicit
    opt-out); it travels in the environment (JUPYTER_TOKEN), never on the command line other users can read.
    ``allowed_hosts``: host names accepted in the Host header besides localhost and loopback addresses."""
    check_port(port)
    token = secrets.token_urlsafe(32) if token is None else token
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATE_ROOT), env.get("JUPYTER_PATH", "")) if p)
    env.pop("JUPYTER_TOKEN_FILE", None)
    if token:
        env["JUPYTER_TOKEN"] = token
    else:
        env.pop("JUPYTER_TOKEN", None)
    hostnames = list(dict.fromkeys([*LOCAL_HOSTNAMES, *allowed_hosts]))
    tornado = {"allow_remote_access": False, "local_hostnames": hostnames}
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--template=workbench-offline",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--show_tracebacks=False",
        f"--Voila.tornado_settings={tornado!r}",
        # one kernel per browser tab: cull idle ones so a workshop room does not exhaust the machine
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_idle_timeout=1800",
        # Voila's own browser opening drops the token: `workbench app` opens the page itself
        "--no-browser",
    ]
    if token:
        cmd.append("--Voila.auto_token=True")
    return cmd + list(extra), env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the kernel sends SIGTERM when the parent dies
    except (OSError, AttributeError):  # not Linux: SIGTERM/SIGINT forwarding below still stops it
        pass


def serve_app(cmd: list[str], env: dict, url: str | None = None, open_browser: bool = False) -> int:
    """Run Voila until it exits or this process gets SIGTERM/SIGINT (then Voila is stopped too); its exit code."""
    server = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent if os.name == "posix" else None)

    def stop(signum, _frame):
        server.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if open_browser and url:
            import webbrowser

            webbrowser.open(url)
        try:
            return server.wait()
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _configure_app(p):
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1, 1-65535 (default 8866)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument(
        "--no-token",
        action="store_true",
        help="serve without a token: anyone who can reach 127.0.0.1 drives the kernel (not recommended)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this name in the Host header (e.g. behind a proxy); repeatable",
    )


@command("app", "serve the workbench app as a standalone page (Voila, offline)")
def cmd_app(args: argparse.Namespace) -> tuple[str, dict]:
    import importlib.util

    check_port(args.port)
    if importlib.util.find_spec("voila") is None:
        raise ConfigError("the app page needs Voila: pip install voila (make app installs it)")
    token = "" if args.no_token else secrets.token_urlsafe(32)
    cmd, env = voila_command(app_notebook(), args.port, False, token=token, allowed_hosts=args.allow_host)
    url = app_url(args.port, token)
    print(f"workbench app: serving on {url}" + ("" if token else " (no token: --no-token)"), flush=True)
    code = serve_app(cmd, env, url, open_browser=not args.no_browser)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGINT):
        raise ConfigError(f"the app server (voila) stopped with exit code {code}: see its messages above")
    return "app server stopped", {"exit_code": code, "url": url}


CONFIGURE.update({"app": _configure_app})
