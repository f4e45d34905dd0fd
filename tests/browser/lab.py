"""A real JupyterLab server on 127.0.0.1 and a page of it in Debian's Chromium.

The server is started here (random free port, a token, a temporary notebook folder and
``JUPYTER_PRIVACY_HOME``) and stopped here, by its pid. Chromium is the system one
(``/usr/bin/chromium``); Playwright never downloads a browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("JUPYTER_PRIVACY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PATIENTS_CSV = ROOT / "notebooks" / "data" / "patients.csv"
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
#: A notebook's first cell, as the README and the bundled notebooks write it.
LOAD = "%load_ext jupyter_privacy\nimport pandas as pd\nimport jupyter_privacy as jp"

# What a newcomer's policy file looks like; each test names its own source so that budgets in
# the shared temporary ledger never mix.
POLICY = """\
[defaults]
epsilon = 0.1
alpha = 0.05

[sources.{name}]
path = "data/patients.csv"
privacy_unit = "patient_id"
max_rows_per_unit = 1
budget = {{ epsilon = {epsilon} }}
bounds = {{ age = [0, 110], income = [0, 250000], visits = [0, 20] }}
keys = {{ state = ["AL", "AK", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "NY", "OH", "PA", "TX", "WA"] }}
"""

EMPTY_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c0",
            "metadata": {},
            "outputs": [],
            "source": "",
        }
    ],
    "metadata": {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def wait_text(
    page: Any, selector: str, pattern: str, timeout: float = 20_000, prop: str = "textContent"
) -> None:
    """Wait until the element's ``prop`` (``textContent`` or ``innerText``) matches ``pattern``
    (a regular expression)."""
    page.wait_for_function(
        "([sel, pat, prop]) => { const el = document.querySelector(sel);"
        " return !!el && new RegExp(pat).test(el[prop]); }",
        arg=[selector, pattern, prop],
        timeout=timeout,
    )


def block_the_network(context: Any) -> list[str]:
    """Abort every request of ``context`` that leaves this machine; return the list of their
    URLs (the machine running the tests may have a network: the browser must not use it)."""
    blocked: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "file:", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    return blocked


#: WCAG contrast ratio of an element's text against what is really behind it: the backgrounds
#: of the element and its ancestors composited from the page down.
CONTRAST_JS = """(el) => {
    const parse = c => { const m = (c.match(/[\\d.]+/g) || ['0', '0', '0', '0']).map(Number);
                         return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
    const over = (fg, bg) => ({r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a),
                               b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1});
    const chain = []; for (let n = el; n; n = n.parentElement) chain.push(n);
    let bg = {r: 255, g: 255, b: 255, a: 1};
    for (const n of chain.reverse()) { const c = parse(getComputedStyle(n).backgroundColor);
                                       if (c.a > 0) bg = over(c, bg); }
    const fg = over(parse(getComputedStyle(el).color), bg);
    const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92
                                                  : Math.pow((v + 0.055) / 1.055, 2.4); };
                       return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    const a = lum(fg), b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def readable(locator: Any) -> dict[str, Any]:
    """How a piece of text reads on screen: its box, whether it is cut off, its contrast."""
    box = locator.bounding_box()
    clipped = locator.evaluate(
        "el => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1"
    )
    size = locator.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    return {
        "box": box,
        "clipped": clipped,
        "font_px": size,
        "contrast": locator.evaluate(CONTRAST_JS),
        "text": locator.inner_text(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """``jupyter lab`` in a temporary folder; ``stop`` ends only the process it started."""

    def __init__(self, base: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.extra_args = list(extra_args)
        self.notebooks = base / "notebooks"
        self.home = base / "privacy-home"
        self.notebooks.mkdir(parents=True)
        self.home.mkdir()
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 90.0) -> None:
        env = dict(os.environ)  # keep NODE_EXTRA_CA_CERTS and friends
        env.update(
            JUPYTER_PRIVACY_HOME=str(self.home),
            JUPYTERLAB_SETTINGS_DIR=str(self.base / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.base / "lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
        )
        env.pop("JUPYTER_PRIVACY_POLICY", None)
        settings = self.base / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)  # no "get notified about news?" toast
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        jupyter = Path(sys.executable).with_name("jupyter")
        log = self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(jupyter),
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--port-retries=0",
                "--allow-root",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={self.notebooks}",
                "--ServerApp.disable_check_xsrf=False",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *self.extra_args,
            ],
            cwd=self.notebooks,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels share its process group, which stop() ends
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            if self._log is not None:
                self._log.close()

    def _stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        # a kernel the server could not stop is still in the process group we created
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def set_theme(self, dark: bool) -> None:
        """JupyterLab's and Notebook 7's theme, for the pages opened from now on."""
        theme = "JupyterLab Dark" if dark else "JupyterLab Light"
        self.api(
            "PUT",
            "/lab/api/settings/@jupyterlab/apputils-extension:themes",
            {"raw": json.dumps({"theme": theme})},
        )

    def workspace(self, name: str, source: str, epsilon: float = 3.0) -> Path:
        """A notebook folder with the bundled data and a policy declaring ``source``."""
        folder = self.notebooks / name
        (folder / "data").mkdir(parents=True)
        shutil.copy(PATIENTS_CSV, folder / "data" / "patients.csv")
        (folder / "privacy.toml").write_text(POLICY.format(name=source, epsilon=epsilon))
        (folder / "analysis.ipynb").write_text(json.dumps(EMPTY_NOTEBOOK))
        return folder


@contextmanager
def lab_server(base: Path, extra_args: tuple[str, ...] = ()) -> Iterator[LabServer]:
    server = LabServer(base, extra_args)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Notebook:
    """A notebook open in JupyterLab (``ui="lab"``) or Notebook 7 (``ui="notebook"``), used the
    way a person would: type, Shift+Enter, look."""

    def __init__(self, page: Any, server: LabServer, path: str, ui: str = "lab") -> None:
        self.page = page
        self.server = server
        self.path = path
        self.ui = ui

    def open(self) -> Notebook:
        if self.ui == "notebook":
            url = f"{self.server.url}/notebooks/{self.path}?token={self.server.token}"
        else:  # ?reset: a fresh layout, not the tabs that an earlier test left open
            url = f"{self.server.url}/lab/tree/{self.path}?reset&token={self.server.token}"
        self.page.goto(url)
        self.page.wait_for_selector(
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell", timeout=60_000
        )
        self.wait_idle()
        # The sidebar has asked the kernel about the extension: the kernel connection is live
        # (a cell sent before that can be dropped).
        self.page.wait_for_function(
            "() => /not loaded/.test(document.querySelector('.jp-privacy-status-button')"
            "?.textContent ?? '')",
            timeout=60_000,
        )
        return self

    def wait_idle(self, timeout: float = 60_000) -> None:
        # The toolbar's kernel status reads "Kernel status: Idle" when the kernel can run cells.
        self.page.wait_for_function(
            """() => {
                const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                const el = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
                return el && el.getAttribute('data-status') === 'idle';
            }""",
            timeout=timeout,
        )

    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def run(self, code: str, timeout: float = 60_000) -> str:
        """Type ``code`` into the last cell, run it, wait for it, return its output text."""
        page = self.page
        cells = self.cells()
        count = cells.count()
        cell = cells.nth(count - 1)
        editor = cell.locator(".jp-InputArea-editor .cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(code)
        page.keyboard.press("Shift+Enter")
        prompt = cell.locator(".jp-InputArea-prompt")
        page.wait_for_function(
            """(el) => /\\[\\d+\\]/.test(el.textContent)""",
            arg=prompt.element_handle(),
            timeout=timeout,
        )
        self.wait_idle(timeout)
        return str(cell.locator(".jp-Cell-outputArea").first.inner_text())

    def execution_count(self, index: int) -> int:
        text = (
            self.page.locator(
                ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell .jp-InputArea-prompt"
            )
            .nth(index)
            .inner_text()
        )
        match = re.search(r"\[(\d+)\]", text)
        assert match, text
        return int(match.group(1))
