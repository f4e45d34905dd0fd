"""The sidebar when there is more than one notebook, or no data: releases are listed by the
notebook that made them, a rename and ``jp.use_workspace`` are followed, replay mode says so
(with the published values), and Notebook 7 has the same sidebar, status item and command."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

from tests.browser.lab import ARTIFACTS, LOAD, ROOT, LabServer, Notebook, wait_text
from tests.browser.test_sidebar import (
    SIDEBAR,
    STATUS,
    open_sidebar,
    release_rows,
    sidebar_text,
    wait_sidebar,
    wait_status,
)

ACTIVE_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _open_from_path(page: Any, path: str) -> None:
    page.click(".lm-MenuBar-item:has-text('File')")
    page.click(".lm-Menu-item:has-text('Open from Path…')")
    page.fill(".jp-Dialog input", path)
    page.keyboard.press("Enter")
    page.wait_for_selector(f".lm-TabBar-tab:has-text('{path.split('/')[-1]}').lm-mod-current")


def _scope(page: Any, scope: str) -> None:
    page.click(f"{SIDEBAR} .jp-privacy-scope-button[data-scope='{scope}']")
    page.wait_for_selector(
        f"{SIDEBAR} .jp-privacy-scope-button[data-scope='{scope}'][aria-pressed='true']"
    )


def test_the_history_lists_this_notebooks_releases_and_opens_another_notebooks(
    lab: LabServer, page: Any
) -> None:
    folder = lab.workspace("two", "shared")
    shutil.copy(folder / "analysis.ipynb", folder / "second.ipynb")
    first = Notebook(page, lab, "two/analysis.ipynb").open()
    first.run(LOAD + "\nshared = pd.read_csv('data/patients.csv')")
    first.run("shared.count(epsilon=0.2)")
    _open_from_path(page, "two/second.ipynb")
    second = Notebook(page, lab, "two/second.ipynb")
    second.wait_idle()
    wait_status(
        page, r"^Privacy: not loaded$"
    )  # its own kernel is connected, without the extension
    second.run(LOAD + "\nshared = pd.read_csv('data/patients.csv')")
    second.run("shared.age.mean(epsilon=0.3)")
    open_sidebar(page)
    wait_status(page, r"^shared ε 0\.500 / 3\.00$")  # one ledger: both notebooks' spending

    # This notebook's releases only, by default; every notebook's on request.
    wait_sidebar(page, r"This notebook \(1\)")
    rows = release_rows(page)
    assert len(rows) == 1 and "shared.age.mean(epsilon=0.3)" in rows[0]
    assert "All notebooks (2)" in sidebar_text(page)
    _scope(page, "all")
    rows = release_rows(page)
    assert len(rows) == 2 and "shared.count(epsilon=0.2)" in rows[1]
    assert "in analysis.ipynb [2]" in rows[1]  # made elsewhere: named, not a cell number here

    # A release of the other notebook opens that notebook at its cell, not a cell of this one.
    page.click(f"{SIDEBAR} .jp-privacy-release:has-text('shared.count(epsilon=0.2)')")
    page.wait_for_selector(".lm-TabBar-tab:has-text('analysis.ipynb').lm-mod-current")
    active = page.locator(f"{ACTIVE_PANEL} .jp-Notebook .jp-Cell.jp-mod-active")
    assert "shared.count(epsilon=0.2)" in active.inner_text()
    wait_status(page, r"^shared ε 0\.500 / 3\.00$")
    wait_sidebar(page, r"This notebook \(1\)")


def test_a_rename_and_use_workspace_are_followed_and_replay_mode_is_shown(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("review", "trial")
    nb = Notebook(page, lab, "review/analysis.ipynb").open()
    nb.run(LOAD + "\ntrial = pd.read_csv('data/patients.csv')")
    nb.run("m = trial.age.mean(epsilon=0.3)\nfloat(m)")
    open_sidebar(page)
    wait_sidebar(page, r"This notebook \(1\)")

    # A rename: the releases made before it stay this notebook's; new ones record the new name.
    page.click(".lm-MenuBar-item:has-text('File')")
    page.click(".lm-Menu-item:has-text('Rename Notebook…')")
    page.fill(".jp-Dialog input", "study.ipynb")
    page.keyboard.press("Enter")
    page.wait_for_selector(".lm-TabBar-tab:has-text('study.ipynb').lm-mod-current")
    out = nb.run(
        "trial.count(epsilon=0.1)\nprint(jp.workspace().releases()[-1].context['notebook'])"
    )
    assert out.strip().endswith("review/study.ipynb"), out
    wait_sidebar(page, r"This notebook \(2\)")

    # The reviewer: another (empty) ledger, and the manifest this notebook published.
    out = nb.run(
        "jp.export_releases('releases.json')\n"
        "import tempfile\n"
        "jp.use_workspace(tempfile.mkdtemp(prefix='reviewer-'))\n"
        "jp.replay('releases.json')\n"
        "trial = pd.read_csv('data/patients.csv')\n"
        "r = trial.age.mean(epsilon=0.3)\n"
        "print(r.replayed, float(r) == float(m))"
    )
    assert "True True" in out, out
    wait_status(page, r"^Replay · trial ε 0\.00 / 3\.00$")  # the reviewer's ledger: nothing spent
    assert "Replay mode" in (page.get_attribute(STATUS, "title") or "")
    wait_sidebar(page, r"Replay mode")
    rows = release_rows(page)
    assert len(rows) == 1 and "published" in rows[0] and "trial.age.mean(epsilon=0.3)" in rows[0]
    value = nb.run("print(f'{float(m):.4g}')").strip()
    assert value in rows[0] or value.rstrip("0").rstrip(".") in rows[0], (value, rows[0])
    shot = ARTIFACTS / "sidebar-replay.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    if os.environ.get("JUPYTER_PRIVACY_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "images" / "sidebar-replay.png")


def test_notebook_7_has_the_sidebar_the_status_item_and_the_command(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("nb7", "clinic7")
    nb = Notebook(page, lab, "nb7/analysis.ipynb", ui="notebook").open()
    wait_status(page, r"^Privacy: not loaded$")  # in the top bar: Notebook 7 has no status bar
    nb.run(LOAD + "\nclinic7 = pd.read_csv('data/patients.csv')")
    nb.run("clinic7.age.mean(epsilon=0.4)")
    nb.run("clinic7.groupby('state').size(epsilon=0.2)")
    wait_status(page, r"^clinic7 ε 0\.600 / 3\.00$")

    # The command palette finds the command by "Privacy".
    nb.cells().first.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+c")
    page.wait_for_selector(".lm-CommandPalette-input")
    page.keyboard.type("Privacy")
    item = page.locator(".lm-CommandPalette-item", has_text="Privacy: open sidebar")
    item.wait_for(state="visible")
    item.click()
    page.wait_for_selector(f"{SIDEBAR}:not(.lm-mod-hidden)", state="visible")
    wait_text(page, SIDEBAR, r"clinic7", prop="innerText")
    rows = release_rows(page)
    assert len(rows) == 2 and "clinic7.age.mean(epsilon=0.4)" in rows[1]
    assert re.search(r"ε 0\.600 spent of 3\.00", sidebar_text(page))
    box = page.locator(SIDEBAR).bounding_box()
    assert box is not None and box["x"] > 700 and box["width"] > 200  # the right panel
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "sidebar-notebook7.png"
    page.screenshot(path=str(shot))
    if os.environ.get("JUPYTER_PRIVACY_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "images" / "sidebar-notebook7.png")
