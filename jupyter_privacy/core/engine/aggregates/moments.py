"""Means and variances from a noisy count, a noisy centred sum and (for a variance) a noisy
centred sum of squares, with intervals by a union bound over the parts' intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import polars as pl

from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    aligned,
    cell,
    collect_row,
    count_noise,
    count_sensitivity,
    grouped_frame,
)
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    Numeric,
    SumKind,
    bounded_numeric,
    bounded_numeric_columns,
)
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss, total
from jupyter_privacy.core.release import Cell

MEAN_WEIGHTS = (0.3, 0.7)  # count, centred sum: the sum carries most of a mean's error
VAR_WEIGHTS = (0.2, 0.3, 0.5)  # count, centred sum, centred sum of squares


def verified(
    ctx: Context,
    loss: PrivacyLoss,
    count: mech.Noise | None,
    sums: Sequence[tuple[mech.Noise, SumKind, Numeric]],
) -> PrivacyLoss:
    """Basic composition of a scalar count's (if any) and sums' OpenDP maps (what
    ``make_composition`` would report)."""
    value = 0.0 if count is None else count.loss_at(mech.count_sensitivity(ctx.d_in))
    for noise, kind, num in sums:
        value += noise.loss_at(num.sensitivity(kind))
    return loss.like(value)


# Estimators from noisy integer aggregates -----------------------------------------------------------


def mean_from(
    num: Numeric, n: int, s: int, a_n: float, a_s: float
) -> tuple[float, tuple[float, float]]:
    """Mean and interval from noisy count and centred sum (union bound over their intervals)."""
    width = num.hi - num.lo
    half_lo, half_hi = num.lo - num.center, num.hi - num.center
    est = num.center + (s / num.scale) / n if n > 0 else num.center
    est = min(max(est, num.lo), num.hi)
    n_lo, n_hi = n - a_n, n + a_n
    if n_lo <= 0 or width == 0:
        return est, (num.lo, num.hi)
    s_lo, s_hi = (s - a_s) / num.scale, (s + a_s) / num.scale
    low = min(s_lo / n_lo, s_lo / n_hi)
    high = max(s_hi / n_lo, s_hi / n_hi)
    grid = 1 / num.scale  # fixed-point rounding of each value is at most half a grid step
    # Noise on little data can put either end past the other or outside the bounds: clipped
    # into the bounds and kept in order, the interval stays one.
    low = min(max(low - grid, half_lo), half_hi)
    high = max(min(high + grid, half_hi), half_lo)
    low = min(low, high)
    return est, (num.center + low, num.center + high)


def var_from(
    num: Numeric, n: int, s: int, q: int, a_n: float, a_s: float, a_q: float
) -> tuple[float, tuple[float, float]]:
    r2 = num.sq_hi / num.scale2
    if n <= 0:
        return 0.0, (0.0, r2)
    m = (s / num.scale) / n
    est = min(max((q / num.scale2) / n - m * m, 0.0), r2)
    n_lo, n_hi = n - a_n, n + a_n
    if n_lo <= 0:
        return est, (0.0, r2)
    e2_lo = max((q - a_q) / num.scale2, 0.0) / n_hi
    e2_hi = ((q + a_q) / num.scale2) / n_lo
    s_lo, s_hi = (s - a_s) / num.scale, (s + a_s) / num.scale
    means = [s_lo / n_lo, s_lo / n_hi, s_hi / n_lo, s_hi / n_hi]
    m2_hi = max(v * v for v in means)
    m2_lo = 0.0 if min(means) <= 0 <= max(means) else min(v * v for v in means)
    slack = 2 * (num.hi - num.lo) / num.scale + 1 / num.scale2
    # Noise can push either end outside [0, r2] (even past the other end, on little data):
    # clipped there, the interval stays an interval and its square root is defined.
    high = min(r2, max(0.0, e2_hi - m2_lo + slack))
    return est, (min(max(0.0, e2_lo - m2_hi - slack), high), high)


class Moments(Statistic):
    """A statistic of the first two moments, from noisy integer aggregates."""

    weights: ClassVar[tuple[float, ...]]

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        label = ctx.query.statistic
        with_squares = len(self.weights) == 3
        n_noise = count_noise(ctx, loss.scaled(self.weights[0]).scaled(SAFETY), True)
        s_noise = num.noise("csum", loss.scaled(self.weights[1]).scaled(SAFETY), True)
        q_noise = (
            num.noise("csq", loss.scaled(VAR_WEIGHTS[2]).scaled(SAFETY), True)
            if with_squares
            else None
        )
        sums: list[tuple[mech.Noise, SumKind]] = [(s_noise, "csum")]
        if q_noise is not None:
            sums.append((q_noise, "csq"))
        value = n_noise.loss_at(count_sensitivity(ctx, loss, vector=True)) + sum(
            x.loss_at(num.sensitivity(kind)) for x, kind in sums
        )

        def run() -> list[Cell]:
            aggs = [pl.len().alias("__n__"), num.centred_sum().alias("__s__")]
            if q_noise is not None:
                aggs.append(num.centred_squares().alias("__q__"))
            frame = grouped_frame(ctx, aggs, value_column=num.name)
            if not keys:
                return []
            by = ctx.query.by
            ns = n_noise.release(aligned(frame, by, keys, "__n__"), keys)
            ss = s_noise.release(aligned(frame, by, keys, "__s__"), keys)
            qs = (
                q_noise.release(aligned(frame, by, keys, "__q__"), keys)
                if q_noise
                else [0] * len(keys)
            )
            cells = []
            for k, n, s, q in zip(keys, ns, ss, qs, strict=True):
                if q_noise is None:
                    a_n, a_s = n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
                    est, ci = mean_from(num, n, s, a_n, a_s)
                else:
                    a = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
                    est, ci = self.estimate(*var_from(num, n, s, q, *a))
                cells.append(cell(k, label, est, ci, None, s_noise.name))
            return cells

        return Prepared(loss.like(value), 0.0, s_noise.name, None, run)

    def estimate(self, value: float, ci: tuple[float, float]) -> tuple[float, tuple[float, float]]:
        """The released statistic from the variance and its interval (``std`` takes roots)."""
        return value, ci


class Mean(Moments):
    """Noisy centred sum over noisy count; centring halves the sum's sensitivity."""

    name = "mean"
    weights = MEAN_WEIGHTS

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        wc, ws = self.weights
        n_noise = count_noise(ctx, loss.scaled(wc).scaled(SAFETY), False)
        s_noise = num.noise("csum", loss.scaled(ws).scaled(SAFETY), False)

        def run() -> list[Cell]:
            exprs = [pl.col(num.name).count().alias("n"), num.centred_sum().alias("s")]
            row = collect_row(ctx, exprs)
            n, s = n_noise.release(int(row["n"])), s_noise.release(int(row["s"] or 0))
            a_n, a_s = n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
            est, ci = mean_from(num, n, s, a_n, a_s)
            return [cell((), "mean", est, ci, None, s_noise.name)]

        spent = verified(ctx, loss, n_noise, [(s_noise, "csum", num)])
        return Prepared(spent, 0.0, s_noise.name, None, run)

    def each_column(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        cols = bounded_numeric_columns(ctx)
        per_col = loss.scaled(SAFETY).split(len(cols))
        parts: list[tuple[str, Numeric, mech.Noise, mech.Noise]] = []
        spent = []
        for name, num, _info in cols:
            n_noise = count_noise(ctx, per_col.scaled(self.weights[0]), False)
            s_noise = num.noise("csum", per_col.scaled(self.weights[1]), False)
            spent.append(verified(ctx, loss, n_noise, [(s_noise, "csum", num)]))
            parts.append((name, num, n_noise, s_noise))

        def run() -> list[Cell]:
            lf = prepared_frame(ctx.spec, ctx.query.steps)
            cells = []
            for name, num, n_noise, s_noise in parts:
                col = lf.filter(pl.col(name).is_not_null())
                row = (
                    col.select(pl.len().alias("n"), num.centred_sum().alias("s"))
                    .collect()
                    .row(0, named=True)
                )
                n, s = n_noise.release(int(row["n"])), s_noise.release(int(row["s"] or 0))
                a_n, a_s = n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
                est, ci = mean_from(num, n, s, a_n, a_s)
                cells.append(cell((name,), "mean", est, ci, None, s_noise.name))
            return cells

        return Prepared(total(spent, loss.measure), 0.0, "composition", None, run)


class Var(Moments):
    """Population variance (ddof=0) from the centred sums of values and of their squares."""

    name = "var"
    weights = VAR_WEIGHTS

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        wc, ws, wq = self.weights
        n_noise = count_noise(ctx, loss.scaled(wc).scaled(SAFETY), False)
        s_noise = num.noise("csum", loss.scaled(ws).scaled(SAFETY), False)
        q_noise = num.noise("csq", loss.scaled(wq).scaled(SAFETY), False)
        stat = ctx.query.statistic

        def run() -> list[Cell]:
            exprs = [
                pl.len().alias("n"),
                num.centred_sum().alias("s"),
                num.centred_squares().alias("q"),
            ]
            row = collect_row(ctx, exprs, num.name)
            n = n_noise.release(int(row["n"]))
            s, q = s_noise.release(int(row["s"] or 0)), q_noise.release(int(row["q"] or 0))
            a = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
            est, ci = self.estimate(*var_from(num, n, s, q, *a))
            return [cell((), stat, est, ci, None, q_noise.name)]

        spent = verified(ctx, loss, n_noise, [(s_noise, "csum", num), (q_noise, "csq", num)])
        return Prepared(spent, 0.0, q_noise.name, None, run)


class Std(Var):
    """The root of the variance and of its interval's ends."""

    name = "std"

    def estimate(self, value: float, ci: tuple[float, float]) -> tuple[float, tuple[float, float]]:
        return math.sqrt(value), (math.sqrt(ci[0]), math.sqrt(ci[1]))


__all__ = ["MEAN_WEIGHTS", "VAR_WEIGHTS", "Mean", "Std", "Var", "mean_from", "var_from"]
