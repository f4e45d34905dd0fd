"""Released values: public by construction, so post-processing them is free."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from jupyter_privacy.core.budget import fmt


def number_text(v: float | None) -> str:
    """Four significant digits, thousands separated: how every display spells a number."""
    if v is None or not math.isfinite(v):
        return "—" if v is None else str(v)
    if v == 0 or 1e-3 <= abs(v) < 1e7:
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return f"{v:.4g}"


@dataclass(frozen=True)
class Cell:
    """One released number as stored in the ledger (keys and values are public)."""

    key: tuple[Any, ...]
    statistic: str
    value: float
    ci_low: float | None
    ci_high: float | None
    rank_error: float | None
    mechanism: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "statistic": self.statistic,
            "value": self.value,
            "ci": [self.ci_low, self.ci_high] if self.ci_low is not None else None,
            "rank_error": self.rank_error,
            "mechanism": self.mechanism,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Cell:
        ci = d.get("ci") or [None, None]
        return Cell(
            tuple(d["key"]),
            d["statistic"],
            float(d["value"]),
            ci[0],
            ci[1],
            d.get("rank_error"),
            d["mechanism"],
        )


@dataclass(frozen=True)
class Meta:
    """What every release says about how it was made."""

    id: str
    source: str
    query: str
    alpha: float
    epsilon: float
    delta: float
    rho: float
    mechanism: str
    replayed: bool
    created: str
    by: tuple[str, ...] = ()

    def cost_text(self) -> str:
        text = fmt(self.epsilon)
        if self.delta:
            text += f", {fmt(self.delta, 'δ')}"
        return text


class Release(float):
    """A released scalar. Behaves as a float; carries its interval, cost and provenance."""

    cell: Cell
    meta: Meta

    def __new__(cls, cell: Cell, meta: Meta) -> Release:
        obj = super().__new__(cls, cell.value)
        obj.cell, obj.meta = cell, meta
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Release, (self.cell, self.meta))

    value = property(lambda self: float(self))
    ci = property(lambda self: (self.cell.ci_low, self.cell.ci_high))
    rank_error = property(lambda self: self.cell.rank_error)
    alpha = property(lambda self: self.meta.alpha)
    epsilon = property(lambda self: self.meta.epsilon)
    delta = property(lambda self: self.meta.delta)
    rho = property(lambda self: self.meta.rho)
    mechanism = property(lambda self: self.cell.mechanism)
    query = property(lambda self: self.meta.query)
    id = property(lambda self: self.meta.id)
    replayed = property(lambda self: self.meta.replayed)
    statistic = property(lambda self: self.cell.statistic)
    source = property(lambda self: self.meta.source)

    def interval_text(self) -> str:
        level = f"{(1 - self.alpha) * 100:g}%"
        if self.cell.ci_low is not None and self.cell.ci_high is not None:
            return f"{level} CI [{number_text(self.cell.ci_low)}, {number_text(self.cell.ci_high)}]"
        if self.rank_error is not None:
            return f"rank within ±{math.ceil(self.rank_error):,} rows at {level}"
        return "no interval"

    def __repr__(self) -> str:
        tags = "noised" + (", replayed" if self.replayed else "")
        return (
            f"{self.statistic} = {number_text(self.value)}  ({self.interval_text()})\n"
            f"  {self.query}   cost {self.meta.cost_text()}   {self.mechanism}   [{tags}]"
        )

    __str__ = __repr__


class ReleaseTable:
    """A grouped or multi-statistic release."""

    def __init__(self, cells: list[Cell], meta: Meta) -> None:
        self.cells = list(cells)
        self.meta = meta

    id = property(lambda self: self.meta.id)
    replayed = property(lambda self: self.meta.replayed)
    epsilon = property(lambda self: self.meta.epsilon)
    alpha = property(lambda self: self.meta.alpha)
    query = property(lambda self: self.meta.query)
    mechanism = property(lambda self: self.meta.mechanism)

    @property
    def statistics(self) -> list[str]:
        return list(dict.fromkeys(c.statistic for c in self.cells))

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, key: Any) -> Release:
        """The release for one key (and statistic, when there are several)."""
        wanted = key if isinstance(key, tuple) else (key,)
        matches = [c for c in self.cells if c.key == wanted or (*c.key, c.statistic) == wanted]
        if len(matches) != 1:
            raise KeyError(key)
        return Release(matches[0], self.meta)

    def to_pandas(self) -> pd.DataFrame:
        """value, ci_low, ci_high (and rank_error for quantiles), indexed by key (and statistic)."""
        by = list(self.meta.by) or ["column"]
        multi = len(self.statistics) > 1
        rows = []
        for c in self.cells:
            row: dict[str, Any] = dict(zip(by, c.key, strict=False))
            if multi:
                row["statistic"] = c.statistic
            row.update(value=c.value, ci_low=c.ci_low, ci_high=c.ci_high)
            if c.rank_error is not None:
                row["rank_error"] = c.rank_error
            rows.append(row)
        frame = pd.DataFrame(rows)
        index = [b for b in by if b in frame.columns] + (["statistic"] if multi else [])
        if "ci_low" in frame:
            frame["ci_low"] = frame["ci_low"].astype(float)
            frame["ci_high"] = frame["ci_high"].astype(float)
        return frame.set_index(index) if index and not frame.empty else frame

    def chart(self) -> Any:
        """Bars of each released value with its interval as an error bar (post-processing: free).

        Several statistics get one panel each with its own scale (a count and a mean do not
        share an axis); quantiles carry a rank bound, not an interval, so they are bars alone.
        """
        import altair as alt  # lazily: core must import without the plotting stack

        by = list(self.meta.by) or ["column"]
        keyed = any(c.key for c in self.cells)
        rows = [
            {
                "key": " / ".join(str(k) for k in c.key) if keyed else c.statistic,
                "statistic": c.statistic,
                "value": c.value if math.isfinite(c.value) else None,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "rank_error": c.rank_error,
            }
            for c in self.cells
        ]
        data = pd.DataFrame(
            rows, columns=["key", "statistic", "value", "ci_low", "ci_high", "rank_error"]
        )
        x_title = ", ".join(by[: max(len(c.key) for c in self.cells)]) if keyed else "statistic"
        level = f"{(1 - self.alpha) * 100:g}%"
        x = alt.X("key:N", title=x_title, sort=None)
        tooltip = [
            alt.Tooltip("key:N", title=x_title),
            alt.Tooltip("statistic:N"),
            alt.Tooltip("value:Q", format=",.4~g"),
            alt.Tooltip("ci_low:Q", title=f"{level} CI low", format=",.4~g"),
            alt.Tooltip("ci_high:Q", title=f"{level} CI high", format=",.4~g"),
            alt.Tooltip("rank_error:Q", title="rank bound (± rows)", format=",.0f"),
        ]
        bars = (
            alt.Chart().mark_bar().encode(x=x, y=alt.Y("value:Q", title="value"), tooltip=tooltip)
        )
        errors = (
            alt.Chart()
            .transform_filter("isValid(datum.ci_low) && isValid(datum.ci_high)")
            .mark_errorbar(ticks=True)
            .encode(
                x=x,
                y=alt.Y("ci_low:Q", title="value"),
                y2=alt.Y2("ci_high:Q"),
            )
        )
        has_ci = any(c.ci_low is not None and c.ci_high is not None for c in self.cells)
        note = f"error bars: {level} confidence intervals" if has_ci else "rank bounds in tooltips"
        title = alt.TitleParams(self.query, subtitle=f"cost {self.meta.cost_text()} · {note}")
        layered = alt.layer(bars, errors, data=data) if has_ci else alt.layer(bars, data=data)
        if keyed and len(self.statistics) > 1:
            return (
                layered.properties(width=180, height=160)
                .facet(facet=alt.Facet("statistic:N", title=None, sort=self.statistics), columns=4)
                .resolve_scale(y="independent")
                .properties(title=title)
            )
        return layered.properties(title=title)

    def __repr__(self) -> str:
        tags = "noised" + (", replayed" if self.replayed else "")
        head = f"{self.query}   cost {self.meta.cost_text()}   [{tags}]"
        body = self.to_pandas().to_string() if self.cells else "(no rows released)"
        level = f"{(1 - self.alpha) * 100:g}%"
        ranked = any(c.rank_error is not None for c in self.cells)
        note = "; quantiles carry a rank bound (rank_error, in rows)" if ranked else ""
        return f"{head}\n{body}\n({level} intervals{note})"

    __str__ = __repr__


@dataclass(frozen=True)
class Estimate:
    """What a query would cost and how accurate it would be; reads no data, spends nothing."""

    query: str
    epsilon: float
    delta: float
    rho: float
    alpha: float
    halfwidth: float | None
    mechanism: str
    remaining_epsilon: float

    def __repr__(self) -> str:
        acc = (
            f"± {number_text(self.halfwidth)}"
            if self.halfwidth is not None
            else "interval depends on data"
        )
        cost = fmt(self.epsilon) + (f", {fmt(self.delta, 'δ')}" if self.delta else "")
        return (
            f"Estimate for {self.query}: cost {cost}, expected {acc} at "
            f"{(1 - self.alpha) * 100:g}%, {self.mechanism}; {fmt(self.remaining_epsilon)} remaining"
        )
