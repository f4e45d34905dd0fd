"""Sums of clipped values: one column, each bounded column, or per declared key."""

from __future__ import annotations

import polars as pl

from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    aligned,
    cell,
    collect_row,
    grouped_frame,
    interval,
)
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    bounded_numeric,
    bounded_numeric_columns,
)
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss, total
from jupyter_privacy.core.release import Cell


class Sum(Statistic):
    """The integer (fixed-point) sum of the clipped values, with one noise."""

    name = "sum"

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        noise = num.noise("sum", loss.scaled(SAFETY), False)

        def run() -> list[Cell]:
            s_total = collect_row(ctx, [num.int_sum().alias("s")])["s"] or 0
            s = noise.release(int(s_total))
            a = noise.accuracy(ctx.alpha) / num.scale
            ci = interval(s / num.scale, a)
            return [cell((), "sum", s / num.scale, ci, None, noise.name, num.sums)]

        verified = loss.like(noise.loss_at(num.sensitivity("sum")))
        return Prepared(verified, 0.0, noise.name, noise.accuracy(ctx.alpha) / num.scale, run)

    def each_column(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        cols = bounded_numeric_columns(ctx)
        per_col = loss.scaled(SAFETY).split(len(cols))
        parts = []
        for name, num, _info in cols:
            s_noise = num.noise("sum", per_col, False)
            parts.append((name, num, s_noise))
        verified = total(
            [loss.like(x.loss_at(num.sensitivity("sum"))) for _, num, x in parts], loss.measure
        )

        def run() -> list[Cell]:
            lf = prepared_frame(ctx.spec, ctx.query.steps)
            cells = []
            for name, num, s_noise in parts:
                col = lf.filter(pl.col(name).is_not_null())
                s_total = col.select(num.int_sum()).collect().item() or 0
                s = s_noise.release(int(s_total))
                a = s_noise.accuracy(ctx.alpha) / num.scale
                ci = interval(s / num.scale, a)
                cells.append(cell((name,), "sum", s / num.scale, ci, None, s_noise.name, num.sums))
            return cells

        return Prepared(verified, 0.0, "composition", None, run)

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        num = bounded_numeric(ctx)
        label = ctx.query.statistic
        s_noise = num.noise("sum", loss.scaled(SAFETY), True)
        verified = loss.like(s_noise.loss_at(num.sensitivity("sum")))

        def run() -> list[Cell]:
            frame = grouped_frame(ctx, [num.int_sum().alias("__s__")], value_column=num.name)
            exact = aligned(frame, ctx.query.by, keys, "__s__")
            noisy = s_noise.release(exact, keys) if keys else []
            a = s_noise.accuracy(ctx.alpha) / num.scale
            return [
                cell(
                    k,
                    label,
                    v / num.scale,
                    interval(v / num.scale, a),
                    None,
                    s_noise.name,
                    num.sums,
                )
                for k, v in zip(keys, noisy, strict=True)
            ]

        halfwidth = s_noise.accuracy(ctx.alpha) / num.scale
        return Prepared(verified, 0.0, s_noise.name, halfwidth, run)


__all__ = ["Sum"]
