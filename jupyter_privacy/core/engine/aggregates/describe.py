"""``describe``: count, mean, std, min, quartiles and max of one column or of every bounded
column, from one budget split and one data pass; the quantiles are sorted (post-processing)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from jupyter_privacy.core.aggregates import NON_NEGATIVE, quantile_label
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    cell,
    count_noise,
    interval,
)
from jupyter_privacy.core.engine.aggregates.counts import LABEL as COUNT
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    Numeric,
    SumKind,
    bounded_numeric,
    bounded_numeric_columns,
    candidates_for,
)
from jupyter_privacy.core.engine.aggregates.moments import Mean, Std, mean_from, var_from, verified
from jupyter_privacy.core.engine.aggregates.quantiles import Max, Min
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.schema import ColumnInfo

DESCRIBE_WEIGHTS = (0.1, 0.2, 0.2, 0.5)  # count, sum, squares, five quantiles
QUARTILES = (0.25, 0.5, 0.75)
DESCRIBE_QUANTILES = (0.0, *QUARTILES, 1.0)  # min, quartiles, max
QUANTILE_LABELS = (Min.name, *(quantile_label(q) for q in QUARTILES), Max.name)
Columns = list[tuple[str, Numeric, ColumnInfo]]
Scan = Callable[[], tuple[list[tuple[int, int, int]], list[mech.Ranks]]]


class Describe(Statistic):
    name = "describe"

    def calibrate(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        if ctx.query.column is None:
            return describe(ctx, bounded_numeric_columns(ctx), loss)
        num = bounded_numeric(ctx)
        return describe(ctx, [(num.name, num, ctx.schema[num.name])], loss)


def describe(ctx: Context, columns: Columns, loss: PrivacyLoss) -> Prepared:
    """count, mean, std, min, quartiles, max per column, one budget split; quantiles sorted."""
    scan = _scan(ctx, columns)
    # The data pass reads no budget and releases nothing; starting it now lets it run on another
    # core while the mechanisms are calibrated (only ``run``, after the charge, uses its result).
    pending = mech.pool().submit(scan) if ctx.prefetch else None
    per_col = loss.scaled(SAFETY).split(len(columns))
    wc, ws, wq, wquant = DESCRIBE_WEIGHTS
    per_quantile = per_col.scaled(wquant).split(len(DESCRIBE_QUANTILES))
    jobs = []
    spent = 0.0
    for name, num, info in columns:
        n_noise = count_noise(ctx, per_col.scaled(wc), False)
        s_noise = num.noise("csum", per_col.scaled(ws), False)
        q_noise = num.noise("csq", per_col.scaled(wq), False)
        cands = candidates_for(info)
        quants = [
            mech.quantile(cands, q, ctx.d_in, per_quantile.value, loss.measure)
            for q in DESCRIBE_QUANTILES
        ]
        sums: list[tuple[mech.Noise, SumKind, Numeric]] = [
            (s_noise, "csum", num),
            (q_noise, "csq", num),
        ]
        spent += verified(ctx, loss, n_noise, sums).value
        spent += sum(m.loss for m in quants)
        jobs.append((name, num, n_noise, s_noise, q_noise, quants))
    multi = ctx.query.column is None

    def run() -> list[Cell]:
        sums, ranks = pending.result() if pending is not None else scan()
        selecting = mech.select_all([(m, ranks[i]) for i, job in enumerate(jobs) for m in job[5]])
        # Noise and interval widths are cheap: the main thread does them while selections run.
        cells: list[Cell] = []
        for i, (name, num, n_noise, s_noise, q_noise, quants) in enumerate(jobs):
            n, s, q = (
                x.release(v) for x, v in zip((n_noise, s_noise, q_noise), sums[i], strict=True)
            )
            key: Key = (name,) if multi else ()
            a_n = n_noise.accuracy(ctx.alpha)
            mean, mean_ci = mean_from(
                num, n, s, n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
            )
            a3 = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
            var, var_ci = var_from(num, n, s, q, *a3)
            released = sorted(f.result() for f in selecting[5 * i : 5 * i + 5])  # post-processing
            cells.append(cell(key, COUNT, n, interval(n, a_n), None, n_noise.name, NON_NEGATIVE))
            cells.append(cell(key, Mean.name, mean, mean_ci, None, s_noise.name))
            std, std_ci = Std().estimate(var, var_ci)
            cells.append(cell(key, Std.name, std, std_ci, None, q_noise.name))
            for label, v, m in zip(QUANTILE_LABELS, released, quants, strict=True):
                cells.append(cell(key, label, v, None, m.rank_error(ctx.alpha), "exponential"))
        return cells

    return Prepared(loss.like(spent), 0.0, "composition", None, run)


def _scan(ctx: Context, columns: Columns) -> Scan:
    """describe's one data pass: per column the non-null count, centred sum and centred squares
    (exact integers) and the candidates' ranks among the clamped values. Pre-noise: only ``run``
    may use it."""
    nums = [num for _, num, _ in columns]
    grids = [candidates_for(info) for _, _, info in columns]

    def scan() -> tuple[list[tuple[int, int, int]], list[mech.Ranks]]:
        exprs: list[pl.Expr] = []
        for i, num in enumerate(nums):
            exprs += [
                pl.col(num.name).count().alias(f"n{i}"),
                num.centred_sum().alias(f"s{i}"),
                num.centred_squares().alias(f"q{i}"),
                num.clipped().drop_nulls().implode().alias(f"v{i}"),
            ]
        out = prepared_frame(ctx.spec, ctx.query.steps).select(exprs).collect()
        sums = [
            tuple(int(out.get_column(f"{k}{i}").item() or 0) for k in "nsq")
            for i in range(len(nums))
        ]
        # numpy sorts one column faster than polars sorts it inside the query plan
        values = [np.sort(out.get_column(f"v{i}")[0].to_numpy()) for i in range(len(nums))]
        return sums, [mech.ranks(g, v) for g, v in zip(grids, values, strict=True)]  # type: ignore[return-value]

    return scan


__all__ = ["DESCRIBE_QUANTILES", "DESCRIBE_WEIGHTS", "Describe", "describe"]
