"""A real JupyterLab server and Debian's Chromium, driven by Playwright (never a downloaded browser)."""

import os
import shutil
from contextlib import contextmanager
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "workbench-browser-test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


REQUIRE_BROWSER = "WORKBENCH_REQUIRE_BROWSER"  # CI sets it (.ci/run): there a missing browser is a failure
ENABLE_HINT = ("apt-get install chromium (Debian's; .ci/run installs it) or set WORKBENCH_CHROMIUM to a Chromium "
               "binary")


def _chromium() -> str | None:
    """The Chromium to drive: ``$WORKBENCH_CHROMIUM`` when set (and only it), else Debian's; None when absent."""
    chosen = os.environ.get("WORKBENCH_CHROMIUM")
    candidates = (chosen,) if chosen else ("/usr/bin/chromium", shutil.which("chromium"))
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="session", autouse=True)
def _needs_chromium():
    """Without Chromium the browser tests are skipped with one reason (pytest folds identical skips into one
    summary line); with ``WORKBENCH_REQUIRE_BROWSER=1`` (CI) they fail instead."""
    if _chromium() is not None:
        return
    where = os.environ.get("WORKBENCH_CHROMIUM") or "/usr/bin/chromium"
    message = f"browser tests need Chromium ({where} not found); to run them: {ENABLE_HINT}"
    if os.environ.get(REQUIRE_BROWSER, "") not in ("", "0"):
        pytest.fail(f"{message} [{REQUIRE_BROWSER} is set, so a missing browser is a failure]", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every browser test skipped for want of Chromium is reported at one place, so ``-ra`` folds them into one
    line ("SKIPPED [4] tests/browser/conftest.py: ... to run them: apt-get install chromium ...")."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and ENABLE_HINT in str(report.longrepr[2]):
        report.longrepr = (__file__, None, report.longrepr[2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a fresh folder; yields (base url, folder). One server per test
    module, so notebooks another module left open (and their plots) never confuse a test's page."""
    folder = tmp_path_factory.mktemp("lab")
    port = _free_port()
    settings = folder / ".settings"
    (settings / "overrides").mkdir(parents=True)
    # No news or update checks: they fetch from the internet and pop a toast over the notebook.
    (settings / "overrides" / "overrides.json").write_text(
        '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}')
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings / "user"))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
               "--LabApp.extension_manager=readonly", f"--LabServerApp.app_settings_dir={settings / 'overrides'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    with serve(command, f"http://127.0.0.1:{port}", f"/api/status?token={TOKEN}", folder / "jupyterlab.log",
               env=env, what="JupyterLab") as base:
        yield base, folder


@contextmanager
def serve(command, base: str, probe: str, log_path: Path, *, env=None, cwd=None, what: str, timeout: float = 90):
    """Start a server process, wait until ``base + probe`` answers, yield ``base``; stop it afterwards."""
    log = open(log_path, "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(base + probe, timeout=2).close()
                break
            except urllib.error.HTTPError:  # it answered (a 403 or 404 for the probe): it is serving
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"{what} exited: {log_path.read_text()[-2000:]}")
                if time.time() > deadline:
                    pytest.fail(f"{what} did not start within {timeout:.0f} s")
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1700, "height": 1100})
    page = context.new_page()
    page.outside_requests = []
    page.on("request", lambda r: page.outside_requests.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:", "file:")) else None)
    yield page
    context.close()


def save_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path
