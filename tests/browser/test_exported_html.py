"""What a reviewer opens: a notebook run headless and exported to HTML (as nbviewer renders it),
read in Chromium with the network off. The meter, the release table and its chart, an Altair
chart and a refusal are all there, readable, in the light and the dark export themes."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from tests.browser.lab import ARTIFACTS, ROOT, readable

NOTEBOOKS = ROOT / "notebooks"
CELLS = [
    "%load_ext jupyter_privacy\nimport pandas as pd\nimport jupyter_privacy as jp\n"
    "df = pd.read_csv('data/patients.csv')",
    "jp.budget()",
    "df.groupby('state').income.mean(epsilon=0.3)",
    "import altair as alt\nalt.Chart(pd.DataFrame({'x': list('abc'), 'y': [3, 1, 2]}))"
    ".mark_bar().encode(x='x:N', y='y:Q')",
    "df.head()",
    "df.age.mean(epsilon=0.2)",
]
MIN_CONTRAST = 4.5


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The notebook, run once headless the way nbconvert --execute runs it (no frontend)."""
    work = tmp_path_factory.mktemp("export")
    (work / "data").mkdir()
    shutil.copy(NOTEBOOKS / "privacy.toml", work / "privacy.toml")
    for name in ("patients.csv", "transactions.csv"):
        shutil.copy(NOTEBOOKS / "data" / name, work / "data" / name)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for source in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if source == "df.head()":
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PRIVACY_HOME", str(work / "home"))
    mp.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    try:
        NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(work)}}).execute()
    finally:
        mp.undo()
    return nb


def _export(nb: nbformat.NotebookNode, theme: str, folder: Path) -> Path:
    html, _ = HTMLExporter(template_name="lab", theme=theme).from_notebook_node(nb)
    path = folder / f"analysis-{theme}.html"
    path.write_text(html)
    return path


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_an_exported_notebook_shows_the_meter_tables_charts_and_refusals_offline(
    executed: nbformat.NotebookNode, page: Any, theme: str, tmp_path: Path
) -> None:
    path = _export(executed, theme, tmp_path)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    meter = page.locator(".jpp-budget").first
    meter.wait_for(state="visible")
    # the meter shows the budget as it was at the end of the run (redrawn in place)
    assert "spent ε = 0.500 of 4" in (meter.text_content() or "")
    for part in (".jpp-meter-source", ".jpp-meter-numbers", ".jpp-meter-notes"):
        seen = readable(meter.locator(part).first)
        assert not seen["clipped"] and seen["box"]["height"] >= seen["font_px"], seen
        assert seen["contrast"] >= MIN_CONTRAST, (part, seen)

    table = page.locator(".jpp-release-table").first
    assert "patients.groupby('state').income.mean(epsilon=0.3)" in (table.text_content() or "")
    # nbconvert shows each chart's static SVG as an image: the table's, and the notebook's own
    charts = page.locator(".jp-RenderedSVG img[src^='data:image/svg+xml']")
    assert charts.count() == 2
    for i in range(2):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100
        # drawn on its own opaque light background, so it reads on a light or a dark page
        corner = charts.nth(i).evaluate(
            """img => { const c = document.createElement('canvas');
                        c.width = img.naturalWidth; c.height = img.naturalHeight;
                        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                        return Array.from(g.getImageData(1, 1, 1, 1).data); }"""
        )
        assert corner == [255, 255, 255, 255], corner
    svg = base64.b64decode(charts.first.get_attribute("src").split(",", 1)[1]).decode()
    assert svg.count('aria-roledescription="bar"') == 14  # one bar per declared state
    assert "error bars: 95% confidence intervals" in svg

    refusal = page.get_by_text("RowAccessError", exact=False).first
    assert refusal.is_visible()
    assert "Try: df.describe()" in (page.text_content("body") or "")
    assert page.locator(".jupyter-widgets").count() == 0  # no output waits for a widget

    # Only the page template may reach for the network (MathJax, require.js); no output does.
    assert not [u for u in page.blocked_urls if "vega" in u or "widget" in u], page.blocked_urls
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"exported-{theme}.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("JUPYTER_PRIVACY_UPDATE_SCREENSHOTS"):
        target = ROOT / "docs" / "images" / f"exported-html-{theme}.png"
        page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1440, "height": 1300})
