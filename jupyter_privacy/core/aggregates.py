"""The registry of aggregates: one public description per statistic.

Everything that names statistics is derived from ``AGGREGATES``: the plan grammar
(``plan.STATISTICS``), validation's rules (``validate.RULES``), what ``groupby().agg`` accepts,
the "supported" lists of refusals, the curator protocol's enum of statistics, and which frame
methods release what. The engine has one class per entry (``core/engine/aggregates``); tests check
that every entry has one, and a frame method, and that no other module spells out a list of
statistic names. Adding a statistic is one entry here and one engine class.

Public metadata only: no OpenDP, no data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jupyter_privacy.core.errors import InvalidArgumentError, UnsupportedOperationError
from jupyter_privacy.core.limits import MAX_CELLS, MAX_QUANTILES

Need = Literal["required", "optional", "none"]
#: A parameter's check: (value, operation, source) → the checked value, or a refusal.
ParamCheck = Callable[[Any, str, str], Any]
NON_NEGATIVE = (0.0, math.inf)


@dataclass(frozen=True)
class Aggregate:
    """What is public about one statistic: what it needs, what it releases, who calls it."""

    name: str
    summary: str
    column: Need
    numeric: bool = False  # the column must be a number with public bounds
    number: bool = False  # the column must be a number, with or without bounds
    condition: bool = False  # the column must be a condition (bool)
    grouped: bool = True  # may follow groupby
    ungrouped: bool = True
    params: Mapping[str, ParamCheck] = field(default_factory=dict)
    #: What no column means: the rows (``df.count()``) or each bounded column (``df.mean()``).
    without_column: Literal["rows", "columns"] = "rows"
    in_agg: bool = False  # may be named in ``groupby(...).agg({...})``
    composite: bool = False  # composes other statistics (not itself in the plan grammar's list)
    scalar: bool = True  # one cell, when ungrouped over one column with one level
    #: ``accuracy=`` works: the interval's half-width is known before any data is read.
    accuracy: bool = False
    #: What every released value can be; None when it follows from the column's bounds.
    feasible: tuple[float, float] | None = None
    keyed_by_column: bool = False  # cells keyed by the column's values or bins
    #: Frame-level methods that release it, as ``Class.method``.
    methods: tuple[str, ...] = ()
    #: Rank among the suggestions a refusal falls back to when its own cannot run (1 first).
    fallback: int | None = None
    #: The method a plan's text calls, where it is not the statistic's name.
    shown_as: str | None = None

    def is_scalar(self, column: str | None, by: tuple[str, ...], params: Mapping[str, Any]) -> bool:
        """Whether a plan of this statistic releases one value (a ``Release``, not a table)."""
        if by or not self.scalar:
            return False
        if column is None and self.without_column == "columns":
            return False
        return not any(isinstance(v, tuple) for v in params.values())  # several levels


# --- parameter checks ------------------------------------------------------------------------------


#: the levels ``describe`` releases between min and max, and the accuracy line judges
QUARTILES = (0.25, 0.5, 0.75)


def quantile_label(q: float) -> str:
    return f"{q * 100:.12g}%"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _levels(value: Any, op: str, source: str) -> float | tuple[float, ...]:
    levels = value if isinstance(value, tuple) else (value,)
    fix = [f"{source}.COLUMN.quantile(0.9)"]
    if not 1 <= len(levels) <= MAX_QUANTILES:
        raise InvalidArgumentError(
            op,
            source,
            f"quantile takes 1 to {MAX_QUANTILES} levels",
            [("given", str(len(levels)))],
            fix,
        )
    if not all(_is_number(q) and 0 <= q <= 1 for q in levels):
        raise InvalidArgumentError(
            op,
            source,
            "quantile levels must be numbers in [0, 1]",
            [("given", repr(value)[:80])],
            fix,
        )
    out = tuple(float(q) for q in levels)
    if len({quantile_label(q) for q in out}) != len(out):
        raise InvalidArgumentError(
            op, source, "quantile levels must be distinct", [("given", repr(value)[:80])], fix
        )
    return out if isinstance(value, tuple) else out[0]


def _bins(value: Any, op: str, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CELLS:
        raise InvalidArgumentError(
            op,
            source,
            f"bins must be an integer between 1 and {MAX_CELLS}",
            [("given", repr(value)[:80])],
            [f"{source}.COLUMN.hist(bins=10)"],
        )
    return value


def _spec(value: Any, op: str, source: str) -> tuple[tuple[str, Any], ...]:
    """``agg``'s column → statistic(s) pairs; each statistic is checked like its own query."""
    fix = [f"{source}.groupby('KEY').agg({{'income': 'mean'}})"]
    if not isinstance(value, tuple) or not value:
        raise InvalidArgumentError(op, source, "agg needs a dict of column → statistic", [], fix)
    pairs = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise InvalidArgumentError(
                op, source, "agg needs a dict of column → statistic", [], fix
            )
        col, stats = item
        for stat in stats if isinstance(stats, tuple) else (stats,):
            if stat not in AGG_STATISTICS:
                raise UnsupportedOperationError(
                    f"agg statistic {str(stat)[:40]!r}",
                    source,
                    "agg takes named statistics only",
                    [("supported", ", ".join(AGG_STATISTICS))],
                )
            pairs.append((col, stat))
    if len(set(pairs)) != len(pairs):
        raise InvalidArgumentError(op, source, "agg names a statistic twice", [], fix)
    return tuple(value)


# --- the registry ----------------------------------------------------------------------------------

_ENTRIES = (
    Aggregate(
        "count",
        "rows, or non-null values of a column",
        "optional",
        in_agg=True,
        accuracy=True,
        feasible=NON_NEGATIVE,
        methods=("DataFrame.count", "Series.count", "GroupedSeries.count"),
        fallback=3,
    ),
    Aggregate(
        "size",
        "rows of each group",
        "none",
        in_agg=True,
        accuracy=True,
        feasible=NON_NEGATIVE,
        methods=("GroupBy.size", "GroupBy.count", "GroupedSeries.size"),
    ),
    Aggregate(
        "sum",
        "sum of the clipped values",
        "optional",
        numeric=True,
        without_column="columns",
        in_agg=True,
        accuracy=True,
        methods=("DataFrame.sum", "Series.sum", "GroupedSeries.sum"),
    ),
    Aggregate(
        "mean",
        "mean of the clipped values",
        "optional",
        numeric=True,
        without_column="columns",
        in_agg=True,
        methods=("DataFrame.mean", "Series.mean", "GroupedSeries.mean"),
    ),
    Aggregate(
        "median",
        "the 0.5-quantile over public candidates",
        "required",
        numeric=True,
        in_agg=True,
        methods=("Series.median", "GroupedSeries.median"),
    ),
    Aggregate(
        "quantile",
        "quantiles at one or more levels over public candidates",
        "required",
        numeric=True,
        params={"q": _levels},
        methods=("Series.quantile", "GroupedSeries.quantile"),
    ),
    Aggregate(
        "var",
        "population variance (ddof=0) of the clipped values",
        "required",
        numeric=True,
        in_agg=True,
        methods=("Series.var", "GroupedSeries.var"),
    ),
    Aggregate(
        "std",
        "population standard deviation of the clipped values",
        "required",
        numeric=True,
        in_agg=True,
        methods=("Series.std", "GroupedSeries.std"),
    ),
    Aggregate(
        "min",
        "the 0-quantile over the public bounds",
        "required",
        numeric=True,
        in_agg=True,
        methods=("Series.min", "GroupedSeries.min"),
    ),
    Aggregate(
        "max",
        "the 1-quantile over the public bounds",
        "required",
        numeric=True,
        in_agg=True,
        methods=("Series.max", "GroupedSeries.max"),
    ),
    Aggregate(
        "value_counts",
        "rows per value of a column (declared keys, or thresholded unknown keys)",
        "required",
        grouped=False,
        scalar=False,
        accuracy=True,
        feasible=NON_NEGATIVE,
        keyed_by_column=True,
        methods=("DataFrame.value_counts", "Series.value_counts"),
        fallback=2,
    ),
    Aggregate(
        "hist",
        "rows per equal-width bin over the public bounds",
        "required",
        numeric=True,
        grouped=False,
        params={"bins": _bins},
        scalar=False,
        accuracy=True,
        feasible=NON_NEGATIVE,
        keyed_by_column=True,
        methods=("Series.hist",),
    ),
    Aggregate(
        "describe",
        "count, mean, std, min, quartiles and max, one budget split",
        "optional",
        numeric=True,
        grouped=False,
        without_column="columns",
        scalar=False,
        accuracy=True,  # in rows: the count's half-width and every quartile's rank error
        methods=("DataFrame.describe", "Series.describe"),
        fallback=1,
    ),
    Aggregate(
        "proportion",
        "share of rows meeting a condition, among rows where it is not null",
        "required",
        condition=True,
        feasible=(0.0, 1.0),
        methods=("Series.mean", "GroupedSeries.mean"),
        shown_as="mean",
    ),
    Aggregate(
        "bounds",
        "clipping bounds: the 2% and 98% points over a public grid (bounds='auto')",
        "required",
        number=True,
        grouped=False,
        scalar=False,
        methods=("Series.bounds",),
    ),
    Aggregate(
        "agg",
        "several statistics per group, one budget split",
        "none",
        ungrouped=False,
        params={"spec": _spec},
        composite=True,
        scalar=False,
        methods=("GroupBy.agg", "GroupBy.aggregate"),
    ),
)

AGGREGATES: dict[str, Aggregate] = {a.name: a for a in _ENTRIES}
#: The statistics of the plan grammar that are not compositions of others.
STATISTICS = tuple(a.name for a in _ENTRIES if not a.composite)
#: What ``groupby(...).agg({...})`` may ask for, per column.
AGG_STATISTICS = tuple(a.name for a in _ENTRIES if a.in_agg)
#: Statistics whose ``accuracy=`` is known in advance.
WITH_ACCURACY = tuple(a.name for a in _ENTRIES if a.accuracy)


def methods_of(owner: str) -> tuple[str, ...]:
    """The methods of ``owner`` (``DataFrame``, ``Series``, ``GroupBy``, ``GroupedSeries``) that
    release an aggregate, in registry order, each once."""
    names = (m.split(".", 1)[1] for a in _ENTRIES for m in a.methods if m.startswith(owner + "."))
    return tuple(dict.fromkeys(names))


def releasing(method: str) -> tuple[Aggregate, ...]:
    """The aggregates ``Class.method`` can release (``Series.mean``: a mean or a proportion)."""
    return tuple(a for a in _ENTRIES if method in a.methods)


def fallbacks(owner: str) -> tuple[str, ...]:
    """``owner``'s methods a refusal may suggest instead of one that cannot run, best first."""
    ranked = sorted((a for a in _ENTRIES if a.fallback is not None), key=lambda a: a.fallback or 0)
    names = (m.split(".", 1)[1] for a in ranked for m in a.methods if m.startswith(owner + "."))
    return tuple(dict.fromkeys(names))


__all__ = [
    "AGGREGATES",
    "AGG_STATISTICS",
    "STATISTICS",
    "WITH_ACCURACY",
    "Aggregate",
    "fallbacks",
    "methods_of",
    "quantile_label",
    "releasing",
]
