"""`workbench app` serves a live kernel: token required, Host checked, ports checked, the Voila server stops with
`workbench app` (SIGTERM, SIGINT, the parent killed)."""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.cli.app_command import check_port, voila_command
from workbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, host: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    status = conn.getresponse().status
    conn.close()
    return status


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start(port: int, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "app", "--no-browser", f"--port={port}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
    first = proc.stdout.readline()
    deadline = time.time() + 120
    while not _listening(port):
        assert proc.poll() is None, first + proc.stdout.read()
        assert time.time() < deadline, "voila did not start"
        time.sleep(0.3)
    return proc, first


def _gone(port: int, timeout=20) -> bool:
    deadline = time.time() + timeout
    while _listening(port) and time.time() < deadline:
        time.sleep(0.2)
    return not _listening(port)


@pytest.fixture(scope="module")
def served():
    port = _free_port()
    proc, first = _start(port)
    yield port, proc, first
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def test_the_app_needs_its_token_and_a_local_host(served):
    port, proc, first = served
    token = re.search(r"\?token=([\w-]+)", first).group(1)  # printed in the URL, as Jupyter does
    assert first.startswith(f"workbench app: serving on http://127.0.0.1:{port}/?token=")
    assert _get(port, "/") in (302, 403)  # no token: the login page or a refusal, never the app
    assert _get(port, "/api/kernels") in (302, 403)
    assert _get(port, "/?token=wrong") in (302, 403)
    assert _get(port, f"/?token={token}") == 200
    # DNS rebinding: the right token cannot help a page whose Host is another site's name
    assert _get(port, f"/?token={token}", host=f"evil.example:{port}") == 403
    assert _get(port, f"/?token={token}", host=f"localhost:{port}") == 200


def test_sigterm_to_workbench_app_stops_voila(served):
    port, proc, _ = served
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert _gone(port)


def test_voila_stops_when_workbench_app_is_killed():
    port = _free_port()
    proc, _ = _start(port, "--no-token")
    assert _get(port, "/") == 200  # the explicit opt-out serves without a token
    proc.kill()  # SIGKILL: no handler runs; the kernel's parent-death signal stops Voila
    proc.wait(30)
    assert _gone(port)


def test_sigint_stops_voila():
    port = _free_port()
    proc, _ = _start(port)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert _gone(port)


@pytest.mark.parametrize("port", [0, -1, 65536, 99999])
def test_ports_outside_the_range_are_refused(port):
    with pytest.raises(ConfigError, match="1 to 65535"):
        check_port(port)
    result = subprocess.run([sys.executable, "-m", "workbench", "app", "--no-browser", f"--port={port}"],
                            capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            timeout=60)
    assert result.returncode == 1 and "1 to 65535" in result.stderr and "Traceback" not in result.stderr


def test_the_token_is_not_on_the_command_line():
    cmd, env = voila_command(ROOT / "notebooks" / "app.ipynb", 8866, False)
    assert env["JUPYTER_TOKEN"] and not any(env["JUPYTER_TOKEN"] in part for part in cmd)
    assert "--Voila.ip=127.0.0.1" in cmd and "--Voila.port_retries=0" in cmd


def test_the_lab_settings_keep_jupyters_token_and_host_checks():
    """`make lab`/`make app` and the installed JupyterLab settings never switch Jupyter's own checks off."""
    texts = [(ROOT / "Makefile").read_text()] + [p.read_text() for p in (ROOT / "etc").rglob("*") if p.is_file()]
    for text in texts:
        for weakening in ("token=''", 'token=""', "token= ", "allow_remote_access", "disable_check_xsrf",
                          "allow_origin", "--no-token", "password=''"):
            assert weakening not in text
    assert "LAB_IP ?= 127.0.0.1" in texts[0]
