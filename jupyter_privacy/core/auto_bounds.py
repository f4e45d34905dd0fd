"""``bounds="auto"``: clipping bounds estimated from the data by a charged DP release.

A column declared ``"auto"`` has no public bounds until a release needs them. The workspace then
makes (or replays, free, from the ledger) the ``bounds`` release of that column: OpenDP's
exponential-mechanism quantiles at ``LEVELS`` over ``grid``, a public ladder of candidates that
does not depend on the data. The released pair is used as if declared, and every release that
used it names it (its cost key, mechanism text and context), so a changed estimate never
replays an old answer and lineage can point at it. See ``docs/bounds.md``.

Public metadata only: no OpenDP, no data.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.schema import ColumnInfo

AUTO = "auto"
STATISTIC = "bounds"
#: The levels of the lower and upper bound: 2% of the rows may be clipped at each end. (At 1%
#: the mechanism confuses the candidates just beyond the data with those far beyond it more often:
#: they all leave the same number of rows outside; see docs/bounds.md.)
LEVELS = (0.02, 0.98)
LABELS = ("lower", "upper")
#: The ε of an automatic bounds release, as a share of the source's ``default_epsilon``
#: (``bounds_epsilon=`` at registration overrides it).
EPSILON_SHARE = 1.0
#: The ladder's magnitudes: 10^(j / STEPS_PER_DECADE), 4 significant digits, from 10⁻² to 10¹².
STEPS_PER_DECADE = 500
DECADES = (-2, 12)


@lru_cache(maxsize=4)
def grid(kind: str) -> tuple[float, ...]:
    """The public candidates: 0 and ± a geometric ladder (ratio 10^(1/500), under 0.5% apart,
    so a candidate falls inside the data's outer 2% on most columns); whole numbers only for an
    int column."""
    lo, hi = (d * STEPS_PER_DECADE for d in DECADES)
    ladder = {float(f"{10 ** (j / STEPS_PER_DECADE):.4g}") for j in range(lo, hi + 1)}
    if kind == "int":
        ladder = {float(round(v)) for v in ladder if v >= 1}
    mags = sorted(ladder)
    return (*(-v for v in reversed(mags)), 0.0, *mags)


def widen(lower: float, upper: float, candidates: tuple[float, ...]) -> tuple[float, float]:
    """Sorted, and strictly increasing: equal picks become their neighbouring candidates
    (post-processing, free)."""
    lower, upper = sorted((lower, upper))
    if lower < upper:
        return lower, upper
    i = candidates.index(lower)
    return candidates[max(i - 1, 0)], candidates[min(i + 1, len(candidates) - 1)]


def default_epsilon(source_default: float) -> float:
    return source_default * EPSILON_SHARE


def needed(query: Query, auto: tuple[str, ...], schema: Mapping[str, ColumnInfo]) -> list[str]:
    """The auto columns whose bounds ``query`` needs, in schema order: its numeric column (or
    every auto column for ``df.mean()``), ``agg``'s numeric columns, and auto columns a derived
    column reads. Filters read no bounds. A bounds release needs none."""
    if not auto or query.statistic == STATISTIC or query.statistic not in AGGREGATES:
        return []
    rule = AGGREGATES[query.statistic]
    wanted: set[str] = set()
    if rule.numeric and query.column is None and rule.without_column == "columns":
        wanted |= set(auto)
    elif rule.numeric and isinstance(query.column, str):
        wanted.add(query.column)
    for col, stats in dict(query.params).get("spec", ()) if query.statistic == "agg" else ():
        named = stats if isinstance(stats, tuple) else (stats,)
        if any(s in AGGREGATES and AGGREGATES[s].numeric for s in named):
            wanted.add(col)
    for step in query.steps:
        if step.kind == "assign" and step.expr is not None:
            wanted |= step.expr.columns()
    return [c for c in schema if c in auto and c in wanted]


#: Stand-in bounds while no bounds are released: the grid's extent (so a plan refused for any
#: bounds the grid could release is refused before anything is spent), and pairs that differ in
#: the upper end, the lower end and both, to see whether the plan's answer reads a column's
#: bounds at all (``abs`` of a pair that spans 0 sees only the larger magnitude).
STAND_IN = (-(10.0 ** DECADES[1]), 10.0 ** DECADES[1])
STAND_IN_OTHERS = (
    (STAND_IN[0], STAND_IN[1] / 10),
    (STAND_IN[0] / 10, STAND_IN[1]),
    (STAND_IN[0] / 10, STAND_IN[1] / 10),
)


def reads(query: Query, schema: Mapping[str, ColumnInfo]) -> list[str]:
    """The columns of the plan's final ``schema`` whose bounds its statistic reads."""
    rule = AGGREGATES.get(query.statistic)
    if rule is None or (not rule.numeric and query.statistic != "agg"):
        return []
    if query.statistic == "agg":
        return [str(col) for col, _ in dict(query.params).get("spec", ())]
    if query.column is None and rule.without_column == "columns":
        return [c for c, i in schema.items() if i.numeric]
    return [str(query.column)] if isinstance(query.column, str) else []


def cost_suffix(used: Mapping[str, str]) -> str:
    """Appended to a release's cost key: the bounds releases it used, by column."""
    return "".join(f";bounds:{c}={i}" for c, i in sorted(used.items()))


def used_in(cost_key: str) -> dict[str, str]:
    """The bounds releases a release used, by column, read back from its cost key."""
    found = (part.split("=", 1) for part in cost_key.split(";") if part.startswith("bounds:"))
    return {col.removeprefix("bounds:"): rid for col, rid in found}


__all__ = [
    "AUTO",
    "EPSILON_SHARE",
    "LABELS",
    "LEVELS",
    "STAND_IN",
    "STAND_IN_OTHERS",
    "STATISTIC",
    "STEPS_PER_DECADE",
    "cost_suffix",
    "default_epsilon",
    "grid",
    "needed",
    "reads",
    "used_in",
    "widen",
]
