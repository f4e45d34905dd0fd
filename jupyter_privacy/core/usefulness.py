"""Whether a multi-statistic release is accurate enough to use, judged from released numbers only.

A table of noisy numbers can look precise and be useless. Every release table states, from its
own intervals, whether it meets the workbench's accuracy target and, if not, which statistics
miss it, by how much, and the call that would meet it:

- counts (``count``, ``size``, ``value_counts``, ``hist``): 95% half-width at most 10% of the
  typical (median) released count;
- quartiles in ``describe``: rank error at most 5% of the column's released row count (the 25%
  could then be anywhere between the 20% and the 30% points), also shown in the column's units,
  approximately, from the released quartiles' spacing. Min and max are not held to it: beyond
  the data every candidate ties at the best score, and their rank errors are wider by design;
- means, sums, variances and standard deviations: half-width at most 10% of the column's
  released std in ``describe``, of the typical |value| elsewhere.

Everything here is post-processing of public numbers: it reads no data and spends nothing.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from jupyter_privacy.core.aggregates import AGGREGATES, NON_NEGATIVE, QUARTILES, quantile_label
from jupyter_privacy.core.release import Cell, number_text

COUNT_SHARE = 0.10
RANK_SHARE = 0.05
QUARTILE_LABELS = frozenset(quantile_label(q) for q in QUARTILES)
SPREAD_SHARE = 0.10
MIN_ACCURACY = 2.0  # rows: below this no ε meets a describe's accuracy= (rank errors add 1)
#: statistics whose cells count rows (and so never go below zero)
COUNTS = tuple(a.name for a in AGGREGATES.values() if a.feasible == NON_NEGATIVE)


@dataclass(frozen=True)
class Shortfall:
    """One statistic that misses its target: ``ratio`` = achieved / target (> 1)."""

    what: str
    achieved: str
    ratio: float
    accuracy: float | None  # the ``accuracy=`` that meets it, where the statistic takes one


def _half(c: Cell) -> float | None:
    if c.ci_low is None or c.ci_high is None:
        return None
    return (c.ci_high - c.ci_low) / 2


def _column(c: Cell) -> str:
    return str(c.key[0]) if c.key else ""


def _describe_shortfalls(cells: Sequence[Cell]) -> list[Shortfall] | None:
    found: list[Shortfall] = []
    judged = False
    for column in dict.fromkeys(_column(c) for c in cells):
        mine = {c.statistic: c for c in cells if _column(c) == column}
        count, std = mine.get("count"), mine.get("std")
        of = f" of {column}" if column else ""
        if count is None or count.value < 1:
            continue
        judged = True
        ranked = [c for c in mine.values() if c.rank_error is not None]
        quartiles = [c for c in ranked if c.statistic in QUARTILE_LABELS] or ranked
        rank = max((c.rank_error or 0.0) for c in quartiles) if quartiles else 0.0
        target = RANK_SHARE * count.value
        if rank > target:
            values = f"{number_text(rank)} rows, {_share(rank / count.value)} of {count.value:,.0f}"
            if "25%" in mine and "75%" in mine and count.value > 2:
                per_row = (mine["75%"].value - mine["25%"].value) / (count.value / 2)
                values += f"; ≈ ± {number_text(rank * per_row)} in value"
            # the call asks for the target at the count's lower end, so it holds on a re-run
            floor = RANK_SHARE * max(1.0, count.ci_low if count.ci_low is not None else 0.0)
            ask = floor if floor >= MIN_ACCURACY else None  # a rank error is never under 1 row
            found.append(Shortfall(f"quartiles{of}", f"± {values}", rank / target, ask))
        scale = std.value if std is not None else 0.0
        for name, cell in mine.items():  # the mean's and std's value intervals
            half = _half(cell) if cell is not count else None
            if half is not None and scale > 0 and half > SPREAD_SHARE * scale:
                achieved = f"± {number_text(half)}, {_share(half / scale)} of its std"
                found.append(
                    Shortfall(f"{name}{of}", achieved, half / (SPREAD_SHARE * scale), None)
                )
    return found if judged else None


def _typical(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _table_shortfalls(cells: Sequence[Cell], statistic: str) -> list[Shortfall] | None:
    found: list[Shortfall] = []
    judged = False
    counts = [c for c in cells if c.statistic in COUNTS or statistic in COUNTS]
    halves = [h for h in map(_half, counts) if h is not None]
    typical = _typical([c.value for c in counts])
    judged |= bool(halves) and typical > 0
    if halves and typical > 0 and max(halves) > COUNT_SHARE * typical:
        target = COUNT_SHARE * typical
        achieved = (
            f"± {number_text(max(halves))} rows, {_share(max(halves) / typical)} of {typical:,.0f}"
        )
        found.append(Shortfall("counts", achieved, max(halves) / target, target))
    for name in dict.fromkeys(c.statistic for c in cells if c not in counts):
        mine = [c for c in cells if c.statistic == name and c not in counts]
        halves = [h for h in map(_half, mine) if h is not None]
        typical = _typical([abs(c.value) for c in mine])
        judged |= bool(halves) and typical > 0
        if halves and typical > 0 and max(halves) > SPREAD_SHARE * typical:
            achieved = f"± {number_text(max(halves))}, {_share(max(halves) / typical)} of |{name}|"
            found.append(Shortfall(name, achieved, max(halves) / (SPREAD_SHARE * typical), None))
    return found if judged else None


def is_summary(cells: Sequence[Cell]) -> bool:
    """A ``describe``: quantiles (with rank errors) beside a row count of the same column."""
    ranked = {_column(c) for c in cells if c.rank_error is not None}
    return any(c.statistic in COUNTS and _column(c) in ranked for c in cells)


def shortfalls(cells: Sequence[Cell], statistic: str | None = None) -> list[Shortfall] | None:
    """The statistics of one release that miss the accuracy target (empty when it meets it;
    None when nothing in it can be judged: quantiles without a released row count, a count of
    zero)."""
    if statistic == "describe" or (statistic is None and is_summary(cells)):
        return _describe_shortfalls(cells)
    return _table_shortfalls(cells, statistic or "")


def with_option(call: str, option: str) -> str:
    """``call`` with its ``epsilon=`` / ``accuracy=`` replaced by ``option``."""
    head, _, args = call.rpartition("(")
    kept = [a.strip() for a in args.rstrip(")").split(",") if a.strip()]
    kept = [a for a in kept if not re.match(r"(epsilon|accuracy)\s*=", a)]
    return f"{head}({', '.join([*kept, option])})"


def accuracy_note(
    cells: Sequence[Cell], epsilon: float, call: str, statistic: str | None = None
) -> str:
    """One sentence for the release's card: meets the target, or what misses it and the call
    that would meet it (``accuracy=`` where the statistic takes it, else about how much ε)."""
    missed = shortfalls(cells, statistic)
    if missed is None:
        return f"accuracy not judged at ε {epsilon:g}: no row count or interval to judge it by"
    if not missed:
        return f"meets the accuracy target at ε {epsilon:g}"
    parts = "; ".join(f"{s.what} {s.achieved}" for s in missed)
    priced = [s for s in missed if s.accuracy is not None]
    accurate = (
        with_option(call, f"accuracy={max(1, math.floor(min(s.accuracy or 0 for s in priced)))}")
        if priced
        else ""
    )
    if len(priced) == len(missed):
        return f"below the accuracy target at ε {epsilon:g}: {parts}. To meet it: {accurate}"
    worst = max(s.ratio for s in missed)
    if not math.isfinite(epsilon * worst):
        return f"below the accuracy target at ε {epsilon:g}: {parts}"
    more = f"about {with_option(call, f'epsilon={_round_up(epsilon * worst)}')}"
    if priced:
        what = " and ".join(dict.fromkeys(s.what.split(" of ")[0] for s in priced))
        more = f"{accurate} for the {what}, {more} for everything"
    return f"below the accuracy target at ε {epsilon:g}: {parts}. To meet it: {more}"


def _share(x: float) -> str:
    """A percentage that tells 5.1% from 5% (the targets' own size)."""
    return f"{x:.1%}" if x < 0.2 else f"{x:.0%}"


def _round_up(value: float) -> str:
    digits = 1 - math.floor(math.log10(value))
    return f"{math.ceil(round(value * 10**digits, 9)) / 10**digits:g}"


__all__ = ["Shortfall", "accuracy_note", "is_summary", "shortfalls", "with_option"]
