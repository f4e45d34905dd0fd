"""What a newcomer sees in the notebook itself, in JupyterLab and in Notebook 7, in the light and
the dark theme, with the network off: the budget meter reads (its text has room and contrast),
refusals are error outputs whose "Try:" names the cell's own variable and runs, a release
table shows its chart, an Altair chart made in the notebook draws, and nothing tries to leave
127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.lab import ARTIFACTS, LOAD, ROOT, LabServer, Notebook, readable

OUTPUTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell-outputArea"
#: WCAG AA for normal text.
MIN_CONTRAST = 4.5

CASES = [("lab", "light"), ("lab", "dark"), ("notebook", "light"), ("notebook", "dark")]


@pytest.fixture
def themed(lab: LabServer) -> Iterator[LabServer]:
    """The server; the theme a test sets goes back to light afterwards."""
    try:
        yield lab
    finally:
        lab.set_theme(False)


def _theme_applied(page: Any, dark: bool) -> None:
    page.wait_for_function(
        "(dark) => document.body.dataset.jpThemeLight === (dark ? 'false' : 'true')", arg=dark
    )
    page.wait_for_timeout(300)  # the theme's stylesheet applies


def _chart_background_luminance(chart: Any) -> float:
    """The luminance (0 black – 1 white) of a drawn chart's background, canvas or SVG."""
    return float(
        chart.evaluate(
            """(el) => {
                const lum = (r, g, b) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
                const canvas = el.querySelector('canvas');
                if (canvas) {
                    const [r, g, b, a] = canvas.getContext('2d').getImageData(2, 2, 1, 1).data;
                    if (a > 0) return lum(r, g, b);
                }
                let n = el;
                for (; n; n = n.parentElement) {
                    const c = getComputedStyle(n).backgroundColor.match(/[\\d.]+/g).map(Number);
                    if (c.length < 4 || c[3] > 0) return lum(c[0], c[1], c[2]);
                }
                return 1;
            }"""
        )
    )


def _shot(page: Any, at: Any, name: str, docs: str | None = None, block: str = "start") -> None:
    """A picture of the page scrolled to ``at``, into the artifacts; with
    JUPYTER_PRIVACY_UPDATE_SCREENSHOTS=1 also into docs/images (the README's pictures)."""
    for _ in range(2):  # the notebook renders cells lazily: scroll, let it draw, scroll again
        at.evaluate("(el, block) => el.scrollIntoView({block})", block)
        page.wait_for_timeout(600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs and os.environ.get("JUPYTER_PRIVACY_UPDATE_SCREENSHOTS"):
        target = ROOT / "docs" / "images" / docs
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


@pytest.mark.parametrize(("ui", "theme"), CASES)
def test_the_meter_refusals_tables_and_charts_read_offline(
    themed: LabServer, page: Any, ui: str, theme: str
) -> None:
    dark = theme == "dark"
    themed.set_theme(dark)
    themed.workspace(f"first-{ui}-{theme}", "patients", epsilon=3.0)
    nb = Notebook(page, themed, f"first-{ui}-{theme}/analysis.ipynb", ui)
    nb.open()
    _theme_applied(page, dark)
    nb.run(
        "import jupyter_privacy as jp\n"
        "jp.use_workspace('.jupyter_privacy')  # this folder's own ledger, as in the workshop\n"
        + LOAD
        + "\ndf = pd.read_csv('data/patients.csv')"  # the cell's own name for it: df
    )

    # The meter: one readable row per source; it is redrawn in place by later releases.
    nb.run("jp.budget()")
    meter = page.locator(f"{OUTPUTS} .jpp-budget").first
    meter.wait_for(state="visible")
    for part in (".jpp-meter-source", ".jpp-meter-numbers", ".jpp-meter-notes"):
        seen = readable(meter.locator(part).first)
        assert seen["box"]["height"] >= seen["font_px"] and seen["box"]["width"] > 20, seen
        assert not seen["clipped"], seen
        assert seen["contrast"] >= MIN_CONTRAST, (part, seen)
    assert "spent ε = 0 of 3" in (meter.text_content() or "")
    bar = meter.locator("[role=meter]").first.bounding_box()
    assert bar is not None and bar["height"] >= 6 and bar["width"] > 150

    # A refusal: a real error output, with the fix written for this cell; the fix runs.
    out = nb.run("df.head()")
    assert "RowAccessError: Refused to access rows with head on" in out, out
    assert "Try: df.describe()" in out, out
    error = page.locator(f"{OUTPUTS} [data-mime-type='application/vnd.jupyter.stderr']").last
    assert readable(error)["contrast"] >= MIN_CONTRAST
    fixed = nb.run("df.describe()")
    assert "Refused" not in fixed and "released values" in fixed

    # A grouped release: its table, then its chart, drawn by the notebook's own renderer.
    table = nb.run("df.groupby('state').income.mean(epsilon=0.3)")
    assert "patients.groupby('state').income.mean(epsilon=0.3)" in table
    assert "quantiles carry a rank bound" not in table
    chart = page.locator(f"{OUTPUTS} .vega-embed").last
    chart.wait_for(state="visible", timeout=30_000)
    drawn = chart.locator("canvas, svg").first
    drawn.wait_for(state="visible")
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 150
    luminance = _chart_background_luminance(chart)
    assert (luminance < 0.35) if dark else (luminance > 0.8), luminance
    assert "spent ε = 0.400 of 3" in (meter.text_content() or "")  # describe 0.1 + mean 0.3

    # An Altair chart the notebook makes itself.
    nb.run(
        "import altair as alt\n"
        "alt.Chart(pd.DataFrame({'x': list('abc'), 'y': [3, 1, 2]})).mark_bar()"
        ".encode(x='x:N', y='y:Q').properties(title='own chart')"
    )
    own = page.locator(f"{OUTPUTS} .vega-embed").last
    own.locator("canvas, svg").first.wait_for(state="visible", timeout=30_000)
    assert own.bounding_box()["height"] > 100  # type: ignore[index]
    assert page.locator(f"{OUTPUTS} :text('Javascript Error')").count() == 0

    assert page.blocked_urls == [], page.blocked_urls  # nothing even tried to leave
    cells = nb.cells()
    name = f"{'lab' if ui == 'lab' else 'notebook7'}-{theme}"
    _shot(page, cells.nth(1), f"meter-refusal-{name}", docs=f"meter-refusal-{name}.png")
    page.set_viewport_size({"width": 1440, "height": 1300})  # the table and its chart, whole
    _shot(page, cells.nth(4), f"table-chart-{name}", docs=f"table-chart-{name}.png")
