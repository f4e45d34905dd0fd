"""What a release looks like in a JupyterLab notebook: the card, and a table with its chart.

The machine running these tests reaches no CDN, so a chart that appears here was drawn by
JupyterLab's own Vega-Lite renderer: it works offline too.
"""

from __future__ import annotations

from typing import Any

from tests.browser.lab import ARTIFACTS, LOAD, LabServer, Notebook

OUTPUTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell-outputArea"


def test_a_grouped_mean_shows_a_table_and_a_chart_drawn_without_a_cdn(
    lab: LabServer, page: Any
) -> None:
    lab.workspace("chart", "charted")
    nb = Notebook(page, lab, "chart/analysis.ipynb").open()
    nb.run(LOAD + "\ncharted = pd.read_csv('data/patients.csv')")
    card = nb.run("charted.age.mean(epsilon=0.3)")
    assert "95% CI" in card and "noised" in card and "cost ε = 0.300" in card

    out = nb.run("charted.groupby('state').income.mean(epsilon=0.5)")
    assert "charted.groupby('state').income.mean(epsilon=0.5)" in out
    assert "CA" in out and "NY" in out  # the table's declared keys
    chart = page.locator(f"{OUTPUTS} .vega-embed").last
    chart.wait_for(state="visible", timeout=30_000)
    drawn = chart.locator("canvas, svg").first
    drawn.wait_for(state="visible")
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    assert (
        page.locator(f"{OUTPUTS} .jp-RenderedHTMLCommon", has_text="Javascript Error").count() == 0
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "grouped-mean-chart.png"))
