"""The README's pictures of the five notebooks, taken the way a newcomer meets them.

    .venv/bin/python -m tests.browser.screenshots            # all five, into docs/images/

A real JupyterLab server (which also serves Notebook 7) on a copy of ``notebooks/``, Debian's
Chromium with the network off (every request that leaves 127.0.0.1 is aborted), each notebook
run from top to bottom with Run All Cells, in JupyterLab or Notebook 7, light or dark. It checks
what it photographs: only the cells tagged ``raises-exception`` show an error, every chart is
drawn, every meter is there, and nothing tried to reach the network. Not part of the test run
(five notebooks take a few minutes); the browser tests check the same things on small notebooks.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, ROOT, LabServer, block_the_network

IMAGES = ROOT / "docs" / "images"
#: notebook, user interface, theme, and the cells (by the start of their source) to show.
TOUR = [
    (
        "01-quickstart.ipynb",
        "lab",
        "light",
        ["patients.head()", "by_state.chart()", "patients.describe(epsilon=0.5, dry"],
    ),
    ("02-workshop-dp-basics.ipynb", "lab", "dark", ["points = alt.Chart", "jp.budget()"]),
    (
        "03-accuracy-first.ipynb",
        "notebook",
        "light",
        ["print(patients[[", "patients.income.mean(acc"],
    ),
    ("04-reviewer-replay.ipynb", "notebook", "dark", ["def analysis", "patients = jp.source"]),
    ("05-user-level-privacy.ipynb", "lab", "light", ["import altair", '"customer_id").amount']),
]
IDLE = """() => { const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
                  return el && el.getAttribute('data-status') === 'idle'; }"""
RUNNING = """() => Array.from(document.querySelectorAll('.jp-InputArea-prompt'))
                   .some(p => p.textContent.includes('*'))"""


def _run_all(page: Any) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_timeout(2000)
    page.wait_for_function(f"() => !({RUNNING})()", timeout=600_000)
    page.wait_for_timeout(2000)


def _check(page: Any, name: str) -> list[str]:
    """What a newcomer would call broken, in words (empty when all is well)."""
    problems = []
    cells = page.locator(".jp-Notebook .jp-Cell.jp-CodeCell")
    for i in range(cells.count()):
        cell = cells.nth(i)
        failed = cell.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() > 0
        text = cell.locator(".jp-Cell-outputArea").text_content() or ""
        if failed and "Refused to" not in text:
            problems.append(f"{name}: cell {i} failed without a refusal")
    for chart in page.locator(".vega-embed").all():
        if chart.locator("canvas, svg").count() == 0:
            problems.append(f"{name}: a chart is blank")
    return problems


def _shoot(page: Any, starts: str, path: Path) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell", has_text=starts).first
    for _ in range(3):
        cell.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(700)
    page.screenshot(path=str(path))


def main() -> int:
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jp-shots-") as base:
        server = LabServer(Path(base))
        server.start()
        try:
            shutil.copytree(
                ROOT / "notebooks",
                server.notebooks / "notebooks",
                ignore=shutil.ignore_patterns(".jupyter_privacy", ".ipynb_*", "releases.json"),
            )
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for notebook, ui, theme, cells in TOUR:
                    server.set_theme(theme == "dark")
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    blocked = block_the_network(context)
                    page = context.new_page()
                    page.set_default_timeout(60_000)
                    path = f"notebooks/{notebook}"
                    url = f"/notebooks/{path}" if ui == "notebook" else f"/lab/tree/{path}?reset"
                    page.goto(f"{server.url}{url}{'&' if '?' in url else '?'}token={server.token}")
                    page.wait_for_selector(".jp-Notebook .jp-Cell")
                    page.wait_for_function(IDLE, timeout=120_000)
                    page.wait_for_timeout(1500)
                    started = time.monotonic()
                    _run_all(page)
                    page.click(".jp-privacy-status-button")  # the sidebar, as a person opens it
                    page.wait_for_timeout(1500)
                    problems += _check(page, notebook)
                    problems += [f"{notebook}: tried to reach {u}" for u in blocked]
                    label = "notebook7" if ui == "notebook" else "lab"
                    for i, starts in enumerate(cells, start=1):
                        _shoot(page, starts, IMAGES / f"{notebook[:2]}-{label}-{theme}-{i}.png")
                    print(
                        f"{notebook} in {label}, {theme}: ran in {time.monotonic() - started:.0f} s"
                    )
                    context.close()
                browser.close()
        finally:
            server.set_theme(False)
            server.stop()
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
