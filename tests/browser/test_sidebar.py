"""What a person sees in JupyterLab: the Privacy sidebar and the status-bar budget.

A real JupyterLab server on 127.0.0.1, Debian's Chromium driven by Playwright, the bundled
synthetic patients table. Each test works in its own folder with its own source name, so the
budgets in the shared temporary ledger never mix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.browser.lab import ARTIFACTS, LOAD, ROOT, LabServer, Notebook, wait_text

SIDEBAR = "#jupyter-privacy-sidebar"
STATUS = ".jp-privacy-status-button"


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sidebar_text(page: Any) -> str:
    return str(page.inner_text(SIDEBAR))


def status_text(page: Any) -> str:
    return str(page.inner_text(STATUS))


def wait_status(page: Any, pattern: str, timeout: float = 20_000) -> None:
    """Wait until the status-bar item's text matches ``pattern`` (a regular expression)."""
    wait_text(page, STATUS, pattern, timeout)


def wait_sidebar(page: Any, pattern: str, timeout: float = 20_000) -> None:
    wait_text(page, SIDEBAR, pattern, timeout, prop="innerText")


def open_sidebar(page: Any) -> None:
    """The way a person does it: click the budget in the status bar."""
    page.click(STATUS)
    page.wait_for_selector(f"{SIDEBAR}:not(.lm-mod-hidden)", state="visible")


def release_rows(page: Any) -> list[str]:
    return [str(t) for t in page.locator(f"{SIDEBAR} .jp-privacy-release").all_inner_texts()]


def test_a_newcomer_is_told_to_load_the_extension_and_then_sees_every_release_live(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("live", "patients_live")
    nb = Notebook(page, lab, "live/analysis.ipynb").open()

    # Before the extension is loaded: the status bar and the sidebar say what to do.
    wait_status(page, r"^Privacy: not loaded$")
    open_sidebar(page)
    assert "%load_ext jupyter_privacy" in sidebar_text(page)
    assert "not loaded" in sidebar_text(page)
    shot(page, "empty-state")

    nb.run(LOAD + "\npatients = pd.read_csv('data/patients.csv')")
    wait_status(page, r"^patients_live ε 0\.00 / 3\.00$")
    meter = page.locator(f"{SIDEBAR} [role=meter]")
    assert meter.get_attribute("aria-valuetext") == "ε 0.00 of 3.00 spent, 3.00 left (0% spent)"
    assert "No release yet" in sidebar_text(page)

    # Live: the release shows up while its cell is still running (the comm, not a poll after
    # the cell): this cell sleeps after the release, and the sidebar already has it.
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    editor = cells.nth(cells.count() - 1).locator(".cm-content")
    editor.click()
    page.keyboard.insert_text("m = patients.age.mean(epsilon=0.5)\nimport time; time.sleep(4)\nm")
    page.keyboard.press("Shift+Enter")
    wait_status(page, r"^patients_live ε 0\.500 / 3\.00$")
    page.wait_for_selector(f"{SIDEBAR} .jp-privacy-release")
    running = cells.nth(cells.count() - 2).locator(".jp-InputArea-prompt").inner_text()
    assert "*" in running, f"the sidebar should update before the cell ends, prompt {running!r}"
    rows = release_rows(page)
    assert len(rows) == 1 and "patients_live.age.mean(epsilon=0.5)" in rows[0]
    assert re.search(r"\d+(\.\d+)? ± \d", rows[0]), rows[0]  # value ± half-width
    assert "95% CI [" in rows[0] and "ε 0.500" in rows[0]
    nb.wait_idle()
    count_mean = nb.execution_count(cells.count() - 2)
    assert f"cell [{count_mean}]" in rows[0]

    nb.run("patients.groupby('state').size(epsilon=0.3)")
    nb.run("patients[patients.age >= 65].visits.mean(epsilon=0.2)")
    nb.run("patients.age.mean(epsilon=0.5)")  # the same query again: replayed, free
    wait_status(page, r"^patients_live ε 1\.00 / 3\.00$")
    rows = release_rows(page)
    assert len(rows) == 4
    assert "patients_live.age.mean(epsilon=0.5)" in rows[0] and "replayed" in rows[0]
    assert "not charged again" in rows[0]
    assert "age >= 65" in rows[1] and "visits.mean(epsilon=0.2)" in rows[1]
    assert "14 values" in rows[2] and "groupby('state')" in rows[2]
    assert "replayed" not in " ".join(rows[1:])
    wait_sidebar(page, r"patients_live \(3 releases\)")  # the lineage arrives after the cell
    lineage = page.locator(f"{SIDEBAR} .jp-privacy-lineage-svg")
    assert lineage.get_attribute("aria-label") == "Lineage: 1 source, 2 transforms, 3 releases"
    assert page.locator(f"{SIDEBAR} .jp-privacy-lineage-release").count() == 3
    shot(page, "live-releases")


def test_clicking_or_pressing_enter_on_a_release_goes_to_its_cell(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("reveal", "clinic")
    nb = Notebook(page, lab, "reveal/analysis.ipynb").open()
    nb.run(LOAD + "\nclinic = pd.read_csv('data/patients.csv')")
    nb.run("clinic.income.mean(epsilon=0.2)")
    for i in range(12):  # push the release's cell out of view
        nb.run(f"print({i})\n" + "\n".join(f"# filler {j}" for j in range(6)))
    nb.run("clinic.count(epsilon=0.1)")
    open_sidebar(page)
    wait_status(page, r"^clinic ε 0\.300 / 3\.00$")
    target = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(1)
    assert not target.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }"
    )
    income = page.locator(
        f"{SIDEBAR} .jp-privacy-release", has_text="clinic.income.mean(epsilon=0.2)"
    )
    income.click()
    page.wait_for_function(
        "el => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }",
        arg=target.element_handle(),
    )
    assert "jp-mod-active" in (target.get_attribute("class") or "")

    # By keyboard: focus the other release and press Enter.
    last = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(14)
    count_release = page.locator(
        f"{SIDEBAR} .jp-privacy-release", has_text="clinic.count(epsilon=0.1)"
    )
    assert count_release.get_attribute("aria-label").startswith("clinic.count(epsilon=0.1) = ")
    count_release.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "el => el.classList.contains('jp-mod-active')", arg=last.element_handle()
    )


def test_a_refusal_leaves_the_budget_and_the_status_bar_says_so_in_words(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("refusal", "registry", epsilon=1.0)
    nb = Notebook(page, lab, "refusal/analysis.ipynb").open()
    nb.run(LOAD + "\nregistry = pd.read_csv('data/patients.csv')")
    open_sidebar(page)
    nb.run("registry.age.mean(epsilon=0.85)")
    wait_status(page, r"^registry ε 0\.850 / 1\.00 · 85% spent$")
    assert page.get_attribute(STATUS, "data-level") == "warn"
    assert "⚠ 85% spent" in sidebar_text(page)

    out = nb.run("registry.income.mean(epsilon=0.5)")
    assert "Refused to" in out and "registry" in out
    assert "remaining" in out
    assert status_text(page) == "registry ε 0.850 / 1.00 · 85% spent"
    assert len(release_rows(page)) == 1

    nb.run("registry.count(epsilon=0.15)")
    wait_status(page, r"^registry ε 1\.00 / 1\.00 · exhausted$")
    assert page.get_attribute(STATUS, "data-level") == "exhausted"
    assert "✕ exhausted" in sidebar_text(page)
    out = nb.run("registry.count(epsilon=0.1)")
    assert "Refused to" in out and "spent" in out
    assert len(release_rows(page)) == 2
    shot(page, "refusal-exhausted")


def test_the_budget_survives_a_kernel_restart_and_a_page_reload(lab: LabServer, page: Any) -> None:
    lab.workspace("restart", "survey")
    nb = Notebook(page, lab, "restart/analysis.ipynb").open()
    nb.run(LOAD + "\nsurvey = pd.read_csv('data/patients.csv')")
    nb.run("survey.age.mean(epsilon=0.7)")
    open_sidebar(page)
    wait_status(page, r"^survey ε 0\.700 / 3\.00$")

    # A page reload: the kernel already has the extension; the sidebar reattaches by itself.
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    wait_status(page, r"^survey ε 0\.700 / 3\.00$", timeout=60_000)

    # A kernel restart: the sidebar says so, and the ledger keeps what was spent.
    page.click(".lm-MenuBar-item:has-text('Kernel')")
    page.click(".lm-Menu-item:has-text('Restart Kernel…')")
    page.click(".jp-Dialog .jp-mod-accept")
    wait_status(page, r"^Privacy: (kernel restarting|not loaded)$", timeout=60_000)
    nb.wait_idle()
    wait_status(page, r"^Privacy: not loaded$")
    open_sidebar(page)
    assert "%load_ext jupyter_privacy" in sidebar_text(page)
    nb.run(LOAD)
    wait_status(page, r"^survey ε 0\.700 / 3\.00$")
    assert "ε 0.700 spent of 3.00" in sidebar_text(page)

    # A shutdown: the status bar stops claiming a budget.
    page.click(".lm-MenuBar-item:has-text('Kernel')")
    page.click(".lm-Menu-item:has-text('Shut Down Kernel')")
    wait_status(page, r"^Privacy: (kernel stopped|no kernel)$", timeout=30_000)


def test_the_sidebar_follows_the_current_notebook(lab: LabServer, page: Any) -> None:
    lab.workspace("switch", "cohort")
    shutil.copy(
        lab.notebooks / "switch" / "analysis.ipynb", lab.notebooks / "switch" / "other.ipynb"
    )
    first = Notebook(page, lab, "switch/analysis.ipynb").open()
    first.run(LOAD + "\ncohort = pd.read_csv('data/patients.csv')")
    first.run("cohort.count(epsilon=0.4)")
    wait_status(page, r"^cohort ε 0\.400 / 3\.00$")
    open_sidebar(page)

    # Open the other notebook (its own kernel, extension not loaded) in a new tab.
    page.click(".lm-MenuBar-item:has-text('File')")
    page.click(".lm-Menu-item:has-text('Open from Path…')")
    page.fill(".jp-Dialog input", "switch/other.ipynb")
    page.keyboard.press("Enter")
    page.wait_for_selector(".lm-TabBar-tab:has-text('other.ipynb').lm-mod-current")
    Notebook(page, lab, "switch/other.ipynb").wait_idle()
    wait_status(page, r"^Privacy: not loaded$")
    assert "%load_ext jupyter_privacy" in sidebar_text(page)

    page.click(".lm-TabBar-tab:has-text('analysis.ipynb')")
    wait_status(page, r"^cohort ε 0\.400 / 3\.00$")
    assert "cohort.count(epsilon=0.4)" in sidebar_text(page)


def test_the_dark_theme_keeps_the_sidebar_readable(lab: LabServer, page: Any) -> None:
    lab.workspace("dark", "patients_dark", epsilon=1.0)
    nb = Notebook(page, lab, "dark/analysis.ipynb").open()
    nb.run(LOAD + "\np = pd.read_csv('data/patients.csv')")
    nb.run("p.age.mean(epsilon=0.9)")
    open_sidebar(page)
    page.click(".lm-MenuBar-item:has-text('Settings')")
    page.click(".lm-Menu-item:has-text('Theme')")
    page.click(".lm-Menu-item:has-text('JupyterLab Dark')")
    try:
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(500)  # the theme's stylesheet applies
        colors = page.evaluate(
            """(sel) => {
                const lum = c => { const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).map(Number);
                                   return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
                const side = getComputedStyle(document.querySelector(sel));
                const q = getComputedStyle(document.querySelector(sel + ' .jp-privacy-budget-text'));
                return {background: lum(side.backgroundColor), text: lum(q.color)};
            }""",
            SIDEBAR,
        )
        assert colors["background"] < 0.3, colors
        assert colors["text"] > 0.6, colors
        assert "⚠ 90% spent" in sidebar_text(page)  # the words, not only the amber
        wait_status(page, r"^patients_dark ε 0\.900 / 1\.00 · 90% spent$")
        shot(page, "dark-theme")
    finally:
        page.click(".lm-MenuBar-item:has-text('Settings')")
        page.click(".lm-Menu-item:has-text('Theme')")
        page.click(".lm-Menu-item:has-text('JupyterLab Light')")
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'")


def test_readme_screenshot_of_the_sidebar_next_to_a_notebook(lab: LabServer, page: Any) -> None:
    """The README's picture (docs/images/sidebar.png), from a real session; refreshed with
    JUPYTER_PRIVACY_UPDATE_SCREENSHOTS=1."""
    lab.workspace("readme", "patients")
    nb = Notebook(page, lab, "readme/analysis.ipynb").open()
    nb.run(LOAD + "\npatients = pd.read_csv('data/patients.csv')")
    nb.run("patients.age.mean(epsilon=0.5)")
    nb.run("patients.groupby('state').income.mean(epsilon=0.6)")
    nb.run("patients[patients.age >= 65].visits.mean(epsilon=0.4)")
    nb.run("patients.age.median(epsilon=0.3)")
    nb.run("patients.age.mean(epsilon=0.5)")
    open_sidebar(page)
    wait_sidebar(page, r"patients \(4 releases\)")
    assert len(release_rows(page)) == 5
    page.click(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")  # fold the file browser
    # Widen the sidebar so the lineage reads in the picture.
    handle = page.locator(".lm-SplitPanel-handle:visible").last
    box = handle.bounding_box()
    if box:
        page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] - 160, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").first.click()
    path = shot(page, "readme-sidebar")
    assert path.stat().st_size > 10_000
    if os.environ.get("JUPYTER_PRIVACY_UPDATE_SCREENSHOTS"):  # refresh the committed picture
        target = ROOT / "docs" / "images" / "sidebar.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def test_pip_install_is_the_whole_install_the_extension_is_listed_enabled() -> None:
    """`pip install .` put the prebuilt extension in the environment's share/jupyter."""
    jupyter = Path(sys.executable).with_name("jupyter")
    listed = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    line = next((x for x in text.splitlines() if "jupyter-privacy" in x), "")
    assert "enabled" in line and "OK" in line, text
    shared = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-privacy"
    assert (shared / "package.json").is_file()
    assert list((shared / "static").glob("remoteEntry.*.js"))
