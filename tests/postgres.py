"""A real PostgreSQL server for the shared-store tests, started from Debian's `postgresql` package binaries.

Why Debian's server: it is one `apt-get install -y postgresql` on a fresh machine (.ci/run does it) and needs no
download at test time; pip-installable servers fetch binaries at run time. The server runs as an unprivileged user
(PostgreSQL refuses to run as root: under root the server is started as `nobody` through `runuser`), in a temporary
data folder, on a free loopback port, with password authentication so that masking of credentials is tested.
Skipped only when the binaries are absent and CI is not set; under CI=true their absence is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

PASSWORD = "s3cret-Pw-4-tests"
USER = "workbench"


def server_binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, folder: Path):
        binaries = server_binaries()
        if binaries is None:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are missing; install Debian's postgresql")
            pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql); CI=true makes "
                        "this a failure")
        self.bin = binaries
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(folder, "nobody")
            os.chmod(folder, 0o700)
        pwfile = folder / "pw"
        pwfile.write_text(PASSWORD)
        if self.as_user:
            shutil.chown(pwfile, "nobody")
        self._run("initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile, "-A", "scram-sha-256",
                  "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool, *args, check=True):
        return subprocess.run([*self.as_user, str(self.bin / tool), *map(str, args)], check=check,
                              capture_output=True, text=True, timeout=120, cwd=self.folder)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=100")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.folder / "log", "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def url(self, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/postgres"

    def fresh_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres():
    # Directly in the system temp folder: pytest's tmp_path is private to root, which `nobody` cannot enter.
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="workbench-postgres-"))
    server = PostgresServer(folder)
    yield server
    server.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)
