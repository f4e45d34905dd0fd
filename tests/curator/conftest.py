"""A curator site on disk (data, policy, token) and curators started for real on it.

Sockets live in a short temporary folder: a Unix socket path must stay under 108 bytes.
Every process started here is stopped by its own pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.policy import load_policy
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator import protocol
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.curator.server import CuratorServer, Limits, build
from tests.conftest import make_patients

REPO = Path(__file__).resolve().parents[2]
POLICY = """
[defaults]
epsilon = 0.1

[sources.patients]
path = "data/patients.csv"
privacy_unit = "patient_id"
budget = {{ epsilon = {epsilon} }}
bounds = {{ age = [18, 90], income = [0, 250000] }}
keys = {{ state = ["CA", "NY", "TX", "WA"] }}

[sources.visits]
path = "data/patients.csv"
privacy_unit = "patient_id"
budget = {{ epsilon = 3.0, delta = 1e-6 }}
bounds = {{ age = [18, 90], income = [0, 250000] }}

[curator]
socket = "c.sock"
token_file = "client.token"
"""


@dataclass
class Site:
    root: Path
    policy: Path
    home: Path
    data: Path
    token_file: Path

    def socket(self) -> str:
        return str(self.root / "c.sock")


def make_site(epsilon: float = 10.0) -> Site:
    root = Path(tempfile.mkdtemp(prefix="jpc-"))
    (root / "data").mkdir()
    data = root / "data" / "patients.csv"
    make_patients(400).to_csv(data, index=False)
    os.chmod(data, 0o600)
    policy = root / "privacy.toml"
    policy.write_text(POLICY.format(epsilon=epsilon))
    return Site(root, policy, root / "home", data, root / "client.token")


@pytest.fixture
def site() -> Iterator[Site]:
    s = make_site()
    yield s
    shutil.rmtree(s.root, ignore_errors=True)


def start(site: Site, transport: str, limits: Limits | None = None) -> CuratorServer:
    target = site.socket() if transport == "unix" else f"{transport}://127.0.0.1:0"
    return build(
        site.policy, home=site.home, target=target, token_file=site.token_file, limits=limits
    ).start()


@pytest.fixture(params=["unix", "tcp", "http"])
def curator(request: pytest.FixtureRequest, site: Site) -> Iterator[CuratorServer]:
    server = start(site, request.param)
    yield server
    server.stop()


@pytest.fixture
def local(tmp_path: Path, site: Site) -> Iterator[Workspace]:
    """The same sources in-process, for side-by-side comparisons."""
    ws = Workspace(tmp_path / "local")
    for source in load_policy(site.policy).sources:
        ws.add_source(source.path, source.declaration)
    yield ws
    ws.close()


@pytest.fixture
def remote(home: Path, curator: CuratorServer, site: Site) -> CuratorService:
    """The process-wide workspace is the curator's (``home`` restores a local one afterwards)."""
    ws: CuratorService = jp.connect(curator.address, token_file=site.token_file)
    return ws


# --- curators in their own process ---------------------------------------------------------------
class Process:
    """A curator subprocess; ``address`` is read from its first line of output."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, **popen: Any) -> None:
        """``popen``: more ``subprocess.Popen`` keywords (``user=``, ``group=``, ...)."""
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            **popen,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "curator on" not in line:
            self.proc.kill()
            raise RuntimeError(f"curator did not start: {line!r} {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        self.address = line.split("curator on ", 1)[1].split(";", 1)[0]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def serve_argv(site: Site, target: str | None = None, *extra: str) -> list[str]:
    """The command line of ``jupyter-privacy serve`` for ``site``."""
    return [
        sys.executable,
        "-m",
        "jupyter_privacy.cli",
        "--home",
        str(site.home),
        "serve",
        "--policy",
        str(site.policy),
        *(["--url", target] if target and "://" in target else []),
        *(["--socket", target] if target and "://" not in target else []),
        *extra,
    ]


def serve_process(site: Site, target: str | None = None, *extra: str) -> Process:
    """``jupyter-privacy serve`` for real."""
    return Process(serve_argv(site, target, *extra))


# --- raw protocol ---------------------------------------------------------------------------------
class Raw:
    """A bare protocol connection, for the tests that must send what no client would."""

    def __init__(self, address: str) -> None:
        if address.startswith("tcp://"):
            host, _, port = address[6:].rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=60)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(60)
            self.sock.connect(address)
        self.rfile = self.sock.makefile("rb")

    def send_line(self, line: bytes) -> None:
        self.sock.sendall(line if line.endswith(b"\n") else line + b"\n")

    def send(self, message: dict[str, Any]) -> None:
        self.send_line(json.dumps(message).encode())

    def receive(self) -> dict[str, Any] | None:
        line = self.rfile.readline()
        return protocol.decode_response(line) if line else None

    def ask(self, message: dict[str, Any]) -> dict[str, Any] | None:
        self.send(message)
        return self.receive()

    def hello(self, token: str) -> dict[str, Any] | None:
        return self.ask(
            {"v": 1, "id": "h", "op": "hello", "protocol": protocol.PROTOCOL, "token": token}
        )

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def read_token(site: Site) -> str:
    return site.token_file.read_text().strip()


def run_message(request_id: str, epsilon: float = 0.5, statistic: str = "count") -> dict[str, Any]:
    return {
        "v": 1,
        "id": "m" + request_id[:20],
        "op": "run",
        "request_id": request_id,
        "plan": {
            "version": 1,
            "source": "patients",
            "steps": [],
            "statistic": statistic,
            "column": "age" if statistic != "count" else None,
            "by": [],
            "params": {},
        },
        "options": {"epsilon": epsilon, "dry_run": False},
    }
