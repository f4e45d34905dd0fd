"""Every chart, offline: Vega-Lite for the live notebook, a static SVG for everything else.

One path for all charts: a release table's error bars, ``table.chart()`` and any Altair chart the
notebook draws itself. Each is shown as one output with three forms:

- ``application/vnd.vegalite.v5+json``: JupyterLab, Notebook 7 and VS Code draw it with the
  renderer they ship (no script from a CDN), interactive, in the light or dark theme;
- ``image/svg+xml``: the same chart drawn by ``vl-convert`` (a Python wheel bundling Vega) for
  the places where no script runs: HTML exported by nbconvert, nbviewer, a saved notebook opened
  elsewhere. Its colours follow the page's theme when the page is a Jupyter one (a small
  stylesheet inside the SVG maps Vega's default black, grey and white onto JupyterLab's CSS
  variables) and keep Vega's light defaults anywhere else;
- ``text/plain``: what the chart shows, in words.

Altair's own default renderer loads Vega from a CDN and draws nothing offline; ``%load_ext``
puts this one in front of it (by type, without importing Altair before the notebook does).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

VEGA_LITE_MIME = "application/vnd.vegalite.v5+json"
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
SVG_MIME = "image/svg+xml"
#: Altair's charts all derive from this class (looked up by name: Altair is not imported here).
ALTAIR_CHART = ("altair.vegalite.v6.api", "TopLevelMixin")

#: Vega's default (light) colours, mapped onto JupyterLab's theme variables, with the original
#: colour as the fallback where those variables do not exist.
THEME_CSS = (
    "svg.jpp-chart{color-scheme:light dark}"
    "svg.jpp-chart>rect:first-child{fill:var(--jp-layout-color0,white)}"
    'svg.jpp-chart [fill="#000"],svg.jpp-chart [fill="black"]'
    "{fill:var(--jp-ui-font-color1,#000)}"
    'svg.jpp-chart [stroke="#000"],svg.jpp-chart [stroke="black"]'
    "{stroke:var(--jp-ui-font-color1,#000)}"
    'svg.jpp-chart [stroke="#888"]{stroke:var(--jp-ui-font-color2,#888)}'
    'svg.jpp-chart [stroke="#ddd"]{stroke:var(--jp-border-color2,#ddd)}'
)


def _title(spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title) if title else "untitled"


def _marks(spec: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            mark = node.get("mark")
            if mark is not None:
                found.append(mark.get("type", "?") if isinstance(mark, dict) else str(mark))
            for key in ("layer", "hconcat", "vconcat", "concat"):
                for child in node.get(key) or []:
                    walk(child)
            if isinstance(node.get("spec"), dict):
                walk(node["spec"])

    walk(spec)
    return list(dict.fromkeys(found))


def describe(spec: dict[str, Any]) -> str:
    """A line of plain text for the chart: its title and marks."""
    marks = ", ".join(_marks(spec)) or "chart"
    return f"<chart: {_title(spec)} ({marks}); drawn as Vega-Lite, or as SVG where no script runs>"


@lru_cache(maxsize=1)
def _converter() -> Any:
    try:
        import vl_convert
    except ImportError:  # a static image is a courtesy: the live chart does not need it
        return None
    return vl_convert


def static_svg(spec: dict[str, Any]) -> str | None:
    """The chart as an SVG drawn by vl-convert (no network, no browser), themed; None if the
    converter is missing or cannot draw this spec."""
    converter = _converter()
    if converter is None:
        return None
    try:
        svg = str(converter.vegalite_to_svg(spec))
    except Exception:  # an invalid or unsupported spec: the live forms still show it
        return None
    svg = re.sub(r'^<svg ([^>]*?)class="marks"', r'<svg \1class="marks jpp-chart"', svg, count=1)
    if "jpp-chart" not in svg:
        svg = svg.replace("<svg ", '<svg class="jpp-chart" ', 1)
    return re.sub(r"(<svg [^>]*>)", rf"\1<style>{THEME_CSS}</style>", svg, count=1)


def bundle(spec: dict[str, Any]) -> dict[str, Any]:
    """The display bundle of a Vega-Lite spec (a dict as Altair's ``to_dict()`` makes it)."""
    live = dict(spec)
    # The notebook frontends' renderer speaks Vega-Lite 5; the charts drawn here use nothing
    # newer, so Altair's spec is labelled as such.
    live["$schema"] = VEGA_LITE_SCHEMA
    out: dict[str, Any] = {VEGA_LITE_MIME: live, "text/plain": describe(spec)}
    svg = static_svg(spec)
    if svg is not None:
        out[SVG_MIME] = svg
    return out


def altair_bundle(chart: Any, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The mimebundle formatter for any Altair chart (registered by type name)."""
    return bundle(chart.to_dict())


#: Error bars in a colour that stands out from the bars and reads on a light and a dark
#: background alike (Vega-Lite's default black disappears in the dark theme).
ERROR_BAR_COLOR = "#e45756"


def _colour_error_bars(node: Any) -> None:
    if isinstance(node, dict):
        mark = node.get("mark")
        if isinstance(mark, dict) and mark.get("type") == "errorbar":
            mark.setdefault("color", ERROR_BAR_COLOR)
            mark.setdefault("thickness", 1.5)
        for value in node.values():
            _colour_error_bars(value)
    elif isinstance(node, list):
        for value in node:
            _colour_error_bars(value)


def table_chart_bundle(table: Any, title: str | None = None) -> dict[str, Any]:
    """A release table's bars with their intervals as error bars, titled ``title`` (the query
    with the options that change its answer)."""
    spec = table.chart().to_dict()
    if title is not None and isinstance(spec.get("title"), dict):
        spec["title"] = {**spec["title"], "text": title}
    _colour_error_bars({k: v for k, v in spec.items() if k != "datasets"})
    return bundle(spec)


__all__ = ["ALTAIR_CHART", "VEGA_LITE_MIME", "altair_bundle", "bundle", "static_svg"]
