"""Fixed-point integer views of a bounded column, and the noise for their sums.

Pre-noise aggregates are computed by polars on integers (fixed-point, clamped to public bounds,
no overflow below 2^32 rows), which is the same function as OpenDP's integer sum; tests compare
the two on random data. Sensitivities come from OpenDP stability maps.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import polars as pl

from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import Context, column
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.core.validate import bounded_columns, require_bounds

SumKind = Literal["sum", "csum", "csq"]  # plain sum, centred sum, centred sum of squares


def fixed_point_bits(lo: float, hi: float) -> int:
    """Binary digits kept after the point so that every scaled value is below 2^30 in
    magnitude. Validation keeps bounds within ±BOUND_MAX (squares within its square), so 2^p is
    a normal float; and a polars frame has fewer than 2^32 rows, so no sum of such values
    reaches 2^62: the int64 sums below are exact, never saturate and never wrap."""
    m = max(abs(lo), abs(hi), 2.0**-20)
    return 30 - math.frexp(m)[1]  # m < 2^e, so m·2^(30-e) < 2^30


def candidates_for(info: ColumnInfo) -> tuple[float, ...]:
    """A public grid of quantile candidates over the bounds."""
    assert info.bounds is not None
    lo, hi = info.bounds
    if info.kind == "int" and hi - lo <= 2000:
        return tuple(float(v) for v in range(math.ceil(lo), math.floor(hi) + 1)) or (float(lo),)
    return tuple(float(v) for v in np.unique(np.linspace(lo, hi, 1001)))  # narrow bounds repeat


def with_outer_candidates(candidates: tuple[float, ...]) -> tuple[float, ...]:
    """``candidates`` and one more a grid step beyond each end, where no clamped value can sit.
    A median of padded values scores a candidate holding many rows half of them off, so where
    the min (max) sits on a bound with many rows the bound's candidate loses to those just above
    (below) it; the outer candidate scores nothing there and is released as the bound."""
    step = candidates[1] - candidates[0] if len(candidates) > 1 else 1.0
    lo, hi = candidates[0], candidates[-1]
    # at least one float beyond each end: a step taken at the low end can round away at the top
    below = min(lo - step, math.nextafter(lo, -math.inf))
    above = max(hi + step, math.nextafter(hi, math.inf))
    return (below, *candidates, above)


class Numeric:
    """Fixed-point integer views of one bounded column and the noise for each aggregate."""

    def __init__(self, ctx: Context, name: str, bounds: tuple[float, float]) -> None:
        self.name, self.lo, self.hi = name, float(bounds[0]), float(bounds[1])
        self.center = (self.lo + self.hi) / 2
        self.p = fixed_point_bits(self.lo, self.hi)
        self.scale = 2.0**self.p
        self.c_int = round(self.center * self.scale)
        self.lo_int, self.hi_int = round(self.lo * self.scale), round(self.hi * self.scale)
        r2 = max((self.lo - self.center) ** 2, (self.hi - self.center) ** 2)
        self.p2 = fixed_point_bits(0, r2)
        self.scale2 = 2.0**self.p2
        self.sq_hi = round(r2 * self.scale2)
        self.ctx = ctx

    @property
    def sums(self) -> tuple[float, float]:
        """What a sum of values within the bounds can be, whatever the number of rows."""
        return (0.0 if self.lo >= 0 else -math.inf, 0.0 if self.hi <= 0 else math.inf)

    def clipped(self) -> pl.Expr:
        return pl.col(self.name).cast(pl.Float64).clip(self.lo, self.hi)

    def fixed(self) -> pl.Expr:
        # Clamped and scaled values fit in int64 by construction of ``p``, so the cast need not
        # check for overflow (checking costs more than the sum itself on large columns).
        return (self.clipped() * self.scale).round().cast(pl.Int64, wrap_numerical=True)

    def int_sum(self) -> pl.Expr:
        return self.fixed().sum()

    def centred_sum(self) -> pl.Expr:
        return (self.fixed() - self.c_int).sum()

    def centred_squares(self) -> pl.Expr:
        dev = self.clipped() - self.center
        squares = (dev * dev * self.scale2).round().cast(pl.Int64, wrap_numerical=True)
        return squares.clip(0, self.sq_hi).sum()

    def rows(self, kind: SumKind) -> tuple[int, int]:
        """What one row adds to the ``kind`` of sum."""
        if kind == "sum":
            return (self.lo_int, self.hi_int)
        if kind == "csum":
            return (self.lo_int - self.c_int, self.hi_int - self.c_int)
        return (0, self.sq_hi)

    def sensitivity(self, kind: SumKind) -> int:
        """OpenDP's stability map of the ``kind`` of sum (per key too: keys partition rows)."""
        return mech.sum_sensitivity(self.ctx.d_in, *self.rows(kind))

    def noise(self, kind: SumKind, loss: PrivacyLoss, vector: bool) -> mech.Noise:
        rows = self.rows(kind)
        sens = mech.sum_sensitivity(self.ctx.d_in, *rows)
        return mech.integer_noise(sens, loss.value, loss.measure, vector, rows)


def bounded_numeric(ctx: Context) -> Numeric:
    """The plan's column as fixed point, or the refusal that says how to declare its bounds."""
    name, info = column(ctx)
    return Numeric(ctx, name, require_bounds(ctx.spec, ctx.query, name, info))


def bounded_numeric_columns(ctx: Context) -> list[tuple[str, Numeric, ColumnInfo]]:
    """What a frame-level ``describe``, ``mean`` or ``sum`` covers (see ``bounded_columns``)."""
    names = bounded_columns(ctx.spec, ctx.schema, f"compute {ctx.query.statistic}")
    return [(n, Numeric(ctx, n, ctx.schema[n].bounds), ctx.schema[n]) for n in names]  # type: ignore[arg-type]


__all__ = [
    "Numeric",
    "bounded_numeric",
    "bounded_numeric_columns",
    "candidates_for",
    "fixed_point_bits",
    "with_outer_candidates",
]
