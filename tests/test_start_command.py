"""The README's start command, `bash scripts/lab`: JupyterLab on the quickstart, sidebar included."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.browser.lab import free_port

ROOT = Path(__file__).resolve().parents[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(url: str) -> tuple[int, str, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Location", ""), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", ""), ""


def test_the_start_command_opens_jupyterlab_on_the_quickstart_with_the_sidebar(
    tmp_path: Path,
) -> None:
    port, token = free_port(), secrets.token_hex(8)
    env = dict(
        os.environ,
        JUPYTER_PRIVACY_HOME=str(tmp_path / "home"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(
        ["bash", "scripts/lab", "--no-browser", f"--port={port}", f"--ServerApp.token={token}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
            try:
                status, location, _ = _get(f"{base}/?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "JupyterLab did not start within 120 s"
                time.sleep(0.5)
        assert status == 302
        assert location.startswith("/lab/tree/01-quickstart.ipynb"), location
        status, _, page = _get(f"{base}/lab/tree/01-quickstart.ipynb?token={token}")
        assert status == 200
        assert '"name": "jupyter-privacy"' in page or '"name":"jupyter-privacy"' in page
        status, _, _ = _get(f"{base}/api/contents/01-quickstart.ipynb?token={token}")
        assert status == 200  # the notebook folder is notebooks/
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
