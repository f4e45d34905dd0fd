"""One engine class per registered statistic (``core/aggregates.py``), looked up by name.

Each module holds one family: counts, sums, moments (mean, var, std), quantiles (median,
quantile, min, max), histograms, describe, proportion, bounds, agg. Adding a statistic is one registry entry and
one class here; a test checks that every registry entry has its class.
"""

from __future__ import annotations

from jupyter_privacy.core.engine.aggregates.agg import Agg
from jupyter_privacy.core.engine.aggregates.base import Context, Prepared, Statistic
from jupyter_privacy.core.engine.aggregates.bounds import Bounds
from jupyter_privacy.core.engine.aggregates.counts import Count, Size, ValueCounts
from jupyter_privacy.core.engine.aggregates.describe import Describe
from jupyter_privacy.core.engine.aggregates.histograms import Histogram
from jupyter_privacy.core.engine.aggregates.moments import Mean, Std, Var
from jupyter_privacy.core.engine.aggregates.proportion import Proportion
from jupyter_privacy.core.engine.aggregates.quantiles import Max, Median, Min, Quantile
from jupyter_privacy.core.engine.aggregates.sums import Sum

CLASSES: tuple[type[Statistic], ...] = (
    Count,
    Size,
    Sum,
    Mean,
    Median,
    Quantile,
    Var,
    Std,
    Min,
    Max,
    ValueCounts,
    Histogram,
    Describe,
    Proportion,
    Bounds,
    Agg,
)
ENGINES: dict[str, Statistic] = {cls.name: cls() for cls in CLASSES}


def engine_for(statistic: str) -> Statistic:
    """The engine of a registered statistic (validation has checked the name)."""
    return ENGINES[statistic]


__all__ = ["CLASSES", "ENGINES", "Context", "Prepared", "Statistic", "engine_for"]
