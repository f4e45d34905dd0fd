"""Fixtures for the browser tests: one JupyterLab server and one Chromium per session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    block_the_network,
    lab_server,
)


def _require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `bash scripts/test` installs Debian's chromium "
            "(apt-get install -y chromium); Playwright's own browsers are never downloaded."
        )
    labextension = Path(__file__).resolve().parents[2] / "jupyter_privacy" / "labextension"
    if not (labextension / "package.json").exists():
        pytest.fail("the JupyterLab extension is not built: run `bash scripts/test`")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    _require_browser()
    with lab_server(tmp_path_factory.mktemp("lab")) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def lab(server: LabServer) -> Iterator[LabServer]:
    """The server, with every kernel a test started shut down after it."""
    yield server
    for session in server.api("GET", "/api/sessions"):
        server.api("DELETE", f"/api/sessions/{session['id']}")


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page with the network off: every request that does not go to 127.0.0.1 is aborted and
    listed in ``page.blocked_urls`` (so a chart that needs a CDN stays blank, and a test can
    say that nothing even tried)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    blocked = block_the_network(context)
    page = context.new_page()
    page.blocked_urls = blocked
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):  # the page may be gone; the test result says why
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"))
        context.close()
