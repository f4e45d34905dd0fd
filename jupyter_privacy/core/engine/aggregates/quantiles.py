"""Quantiles by OpenDP's exponential mechanism over a public grid of candidates: ``median``,
``min`` and ``max`` are quantiles at one fixed level, ``quantile`` at the levels it is given.
Several levels split the loss evenly; the released values are sorted (post-processing)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl

from jupyter_privacy.core.aggregates import quantile_label
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    cell,
)
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    Numeric,
    bounded_numeric,
    candidates_for,
)
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss, total
from jupyter_privacy.core.release import Cell

MECHANISM = "exponential"


def sorted_values(ctx: Context, num: Numeric) -> np.ndarray[Any, Any]:
    """The clamped non-null values, sorted (by polars, in parallel) for ``Quantile.release``."""
    frame = prepared_frame(ctx.spec, ctx.query.steps)
    out = frame.select(num.clipped().drop_nulls().sort()).collect()
    return out.to_series().to_numpy()


class Quantiles(Statistic):
    """Quantiles at ``levels``; the loss is split evenly over them."""

    level: ClassVar[float | None] = None  # the one level of median, min and max

    def levels(self, ctx: Context) -> tuple[float, ...]:
        if self.level is not None:
            return (self.level,)
        q = ctx.query.param("q", 0.5)
        return tuple(float(v) for v in (q if isinstance(q, tuple) else (q,)))

    def label(self, ctx: Context, q: float) -> str:
        """One level is labelled by the statistic; several by their percentages."""
        single = self.level is not None or not isinstance(ctx.query.param("q"), tuple)
        return ctx.query.statistic if single else quantile_label(q)

    def _mechanisms(
        self, ctx: Context, num: Numeric, loss: PrivacyLoss
    ) -> tuple[tuple[float, ...], tuple[float, ...], list[mech.Quantile], PrivacyLoss]:
        levels = self.levels(ctx)
        cands = candidates_for(ctx.schema[num.name])
        share = loss.scaled(SAFETY).split(len(levels))
        mechs = [mech.quantile(cands, q, ctx.d_in, share.value, share.measure) for q in levels]
        return levels, cands, mechs, total([loss.like(m.loss) for m in mechs], loss.measure)

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        levels, cands, mechs, spent = self._mechanisms(ctx, num, loss)

        def run() -> list[Cell]:
            ranks = mech.ranks(cands, sorted_values(ctx, num))
            released = sorted(mech.release_quantiles([(m, ranks) for m in mechs]))
            return [
                cell((), self.label(ctx, q), v, None, m.rank_error(ctx.alpha), MECHANISM)
                for q, v, m in zip(levels, released, mechs, strict=True)
            ]

        return Prepared(spent, 0.0, MECHANISM, None, run)

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        levels, cands, mechs, spent = self._mechanisms(ctx, num, loss)

        def run() -> list[Cell]:
            lf = prepared_frame(ctx.spec, ctx.query.steps).filter(pl.col(num.name).is_not_null())
            by = list(ctx.query.by)
            grouped = lf.group_by(by).agg(num.clipped().sort().alias("__v__")).collect()
            values = {tuple(r[:-1]): r[-1] for r in grouped.select([*by, "__v__"]).iter_rows()}
            cells = []
            for k in keys:
                ranks = mech.ranks(cands, np.asarray(values.get(k, []), dtype=np.float64))
                released = sorted(mech.release_quantiles([(m, ranks) for m in mechs]))
                for q, v, m in zip(levels, released, mechs, strict=True):
                    cells.append(
                        cell(k, self.label(ctx, q), v, None, m.rank_error(ctx.alpha), MECHANISM)
                    )
            return cells

        return Prepared(spent, 0.0, MECHANISM, None, run)


class Median(Quantiles):
    name = "median"
    level = 0.5


class Quantile(Quantiles):
    name = "quantile"


class Min(Quantiles):
    """The 0-quantile: the smallest candidate with no value below it, give or take noise."""

    name = "min"
    level = 0.0


class Max(Quantiles):
    name = "max"
    level = 1.0


__all__ = ["Max", "Median", "Min", "Quantile", "Quantiles", "sorted_values"]
