"""Every chart draws offline: Vega-Lite for the live notebook, SVG where no script runs, words in
text/plain; a release table shows its table, then its chart. No form loads anything."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.jupyter import charts
from tests.conftest import STATES, extension_loaded, make_patients

VEGA_LITE = "application/vnd.vegalite.v5+json"
SVG = "image/svg+xml"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def shell(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with extension_loaded(tmp_path, monkeypatch) as ip:
        ip.user_ns["raw"] = make_patients(500, seed=4)
        ip.run_cell(
            "import pandas as pd\nimport altair as alt\nimport jupyter_privacy as jp\n"
            "p = jp.register(raw, name='p', budget=jp.Budget(epsilon=5.0),\n"
            f"    bounds={{'age': (18, 90), 'income': (0, 250000)}}, keys={{'state': {STATES!r}}})\n"
            "del raw"
        )
        yield ip


def _shown(ip: InteractiveShell, code: str) -> list[dict[str, Any]]:
    """The bundles a cell displayed (display calls and its result), in order."""
    with capture_output() as out:
        result = ip.run_cell(code)
    assert result.success, result.error_in_exec
    bundles = [o.data for o in out.outputs]
    if result.result is not None:
        bundles.append(ip.display_formatter.format(result.result)[0])
    return [b for b in bundles if b]


def _contrast(a: str, b: str) -> float:
    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _loads_nothing(bundle: dict[str, Any]) -> None:
    blob = repr(bundle)
    assert "<script" not in blob and "cdn" not in blob.lower() and "jsdelivr" not in blob
    assert "require.js" not in blob and "import(" not in blob


def _svg(bundle: dict[str, Any]) -> ET.Element:
    root = ET.fromstring(bundle[SVG])
    assert root.tag == f"{SVG_NS}svg" and "jpp-chart" in root.get("class", "")
    return root


def test_an_altair_chart_made_in_the_notebook_has_three_offline_forms(
    shell: InteractiveShell,
) -> None:
    (bundle,) = _shown(
        shell,
        "df = pd.DataFrame({'epsilon': [0.1, 0.5, 1.0] * 20, 'release': range(60)})\n"
        "alt.Chart(df).mark_circle().encode(x='epsilon:O', y='release:Q')"
        ".properties(title='60 releases')",
    )
    assert set(bundle) == {VEGA_LITE, SVG, "text/plain"}
    assert bundle[VEGA_LITE]["$schema"].endswith("/vega-lite/v5.json")
    assert bundle["text/plain"].startswith("<chart: 60 releases (circle)")
    _svg(bundle)
    assert bundle[SVG].count('aria-roledescription="circle"') == 60  # every point is drawn
    _loads_nothing(bundle)


def test_the_static_svg_follows_the_jupyter_theme_where_it_can(shell: InteractiveShell) -> None:
    (bundle,) = _shown(shell, "alt.Chart(pd.DataFrame({'a': [1, 2]})).mark_bar().encode(y='a:Q')")
    style = _svg(bundle).find(f"{SVG_NS}style")
    assert style is not None and style.text == charts.THEME_CSS
    assert "var(--jp-ui-font-color1,#000)" in style.text  # dark theme: light text
    assert "var(--jp-layout-color0,white)" in style.text  # ... on the page's background
    assert 'fill="#000"' in bundle[SVG]  # the fallback: Vega's light colours, readable on white


def test_a_grouped_release_shows_its_table_then_its_chart(shell: InteractiveShell) -> None:
    table, chart = _shown(shell, "by_state = p.groupby('state').income.mean(epsilon=0.5)\nby_state")
    assert set(table) == {"text/html", "text/plain"}
    assert "p.groupby(&#x27;state&#x27;).income.mean(epsilon=0.5)" in table["text/html"]
    assert "ci_low" in table["text/plain"] and "(95% intervals)" in table["text/plain"]
    assert "rank bound" not in table["text/html"] + table["text/plain"]  # a mean has none
    assert set(chart) == {VEGA_LITE, SVG, "text/plain"}
    bars = [
        e
        for e in _svg(chart).iter()
        if (e.get("aria-roledescription") or "") == "bar" and e.tag == f"{SVG_NS}path"
    ]
    assert len(bars) == len(STATES)
    assert chart[VEGA_LITE]["title"]["text"] == "p.groupby('state').income.mean(epsilon=0.5)"
    (errorbar,) = [
        layer["mark"] for layer in chart[VEGA_LITE]["layer"] if layer["mark"]["type"] == "errorbar"
    ]
    assert errorbar["color"] == charts.ERROR_BAR_COLOR  # not black: it must show on dark too
    assert (
        _contrast(errorbar["color"], "#ffffff") >= 3
        and _contrast(errorbar["color"], "#333333") >= 3
    )
    _loads_nothing(chart)
    (again,) = _shown(shell, "by_state.chart()")  # .chart() takes the same path
    assert set(again) == {VEGA_LITE, SVG, "text/plain"}


def test_quantile_tables_say_they_carry_rank_bounds(shell: InteractiveShell) -> None:
    table, _ = _shown(shell, "p.age.quantile([0.25, 0.75], epsilon=0.4)")
    assert "quantiles carry a rank bound" in table["text/plain"]


def test_a_histogram_table_is_indexed_by_its_column(shell: InteractiveShell) -> None:
    table, _ = _shown(shell, "p.age.hist(bins=4, epsilon=0.3)")
    first = table["text/plain"].splitlines()[1]
    assert first.split()[0] == "value" and "column" not in table["text/plain"]
    assert re.search(r"^age\s*$", table["text/plain"], re.M), table["text/plain"]
    counts, _ = _shown(shell, "p.state.value_counts(epsilon=0.3)")
    assert re.search(r"^state\s*$", counts["text/plain"], re.M)
    assert "<th>state</th>" in counts["text/html"]


def test_a_table_with_no_released_rows_has_no_chart(shell: InteractiveShell) -> None:
    shell.user_ns["empty"] = jp.ReleaseTable([], _meta())
    shown = _shown(shell, "empty")
    assert len(shown) == 1 and "(no rows released)" in shown[0]["text/plain"]


def _meta() -> Any:
    from jupyter_privacy.core.release import Meta

    return Meta("r0", "p", "p.groupby('state').size()", 0.05, 0.1, 1e-7, 0.0, "m", False, "now")


def test_unloading_gives_altair_its_own_renderer_back(shell: InteractiveShell) -> None:
    chart = alt.Chart(pd.DataFrame({"a": [1]})).mark_bar().encode(y="a:Q")
    assert VEGA_LITE in shell.display_formatter.format(chart)[0]
    shell.run_line_magic("unload_ext", "jupyter_privacy")
    try:
        assert VEGA_LITE not in shell.display_formatter.format(chart)[0]
    finally:
        shell.run_line_magic("load_ext", "jupyter_privacy")


def test_an_invalid_spec_still_shows_live_and_in_words() -> None:
    bundle = charts.bundle({"mark": "no-such-mark", "title": "broken"})
    assert set(bundle) == {VEGA_LITE, "text/plain"} and "broken" in bundle["text/plain"]
