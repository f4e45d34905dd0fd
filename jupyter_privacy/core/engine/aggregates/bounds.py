"""Clipping bounds from the data (``bounds="auto"``): OpenDP's exponential-mechanism quantiles at
the two public levels of ``core/auto_bounds.py`` over its public grid, so neither the candidates
nor the column's declared bounds (it has none) depend on a person's value. The loss is split
evenly over the two levels; sorting and widening equal picks are post-processing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl

from jupyter_privacy.core import auto_bounds
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Prepared,
    Statistic,
    cell,
    column,
)
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss, total
from jupyter_privacy.core.release import Cell

MECHANISM = "exponential (bounds)"
_FIXED: list[tuple[float, float]] = []  # test-only: the pair released instead of the picks


@contextmanager
def fixed_bounds(pair: tuple[float, float]) -> Iterator[None]:
    """Test-only: a bounds release runs its mechanisms (their inputs are observed) but releases
    ``pair``, so that the neighbour fuzzer compares the releases that clip to them under the same
    public bounds (bounds are a released value: the fair comparison conditions on it)."""
    _FIXED.append(pair)
    try:
        yield
    finally:
        _FIXED.pop()


def sorted_numbers(ctx: Context, name: str) -> np.ndarray[Any, Any]:
    """The column's non-null, non-NaN values as floats, sorted: no clipping (there are no bounds
    yet); values beyond the grid only count as below or above every candidate."""
    frame = prepared_frame(ctx.spec, ctx.query.steps)
    values = pl.col(name).cast(pl.Float64)
    out = frame.select(values.drop_nulls().drop_nans().sort()).collect()
    return out.to_series().to_numpy()


class Bounds(Statistic):
    """The ``lower`` and ``upper`` cells, each with its rank error."""

    name = "bounds"

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        name, info = column(ctx)
        cands = auto_bounds.grid(info.kind)
        share = loss.scaled(SAFETY).split(len(auto_bounds.LEVELS))
        mechs = [
            mech.quantile(cands, q, ctx.d_in, share.value, share.measure)
            for q in auto_bounds.LEVELS
        ]
        spent = total([loss.like(m.loss) for m in mechs], loss.measure)

        def run() -> list[Cell]:
            ranks = mech.ranks(cands, sorted_numbers(ctx, name))
            picked = mech.release_quantiles([(m, ranks) for m in mechs])
            pair = auto_bounds.widen(picked[0], picked[1], cands)
            pair = _FIXED[-1] if _FIXED else pair
            return [
                cell((), label, v, None, m.rank_error(ctx.alpha), MECHANISM)
                for label, v, m in zip(auto_bounds.LABELS, pair, mechs, strict=True)
            ]

        return Prepared(spent, 0.0, MECHANISM, None, run)


__all__ = ["Bounds", "sorted_numbers"]
