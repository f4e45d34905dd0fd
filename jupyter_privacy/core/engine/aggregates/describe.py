"""``describe``: count, mean, std, min, quartiles and max of one column or of every bounded
column, from one budget split and one data pass.

Every quantile is a median: the q-quantile of n values is the median of those values with
|1 − 2q|·n public rows added below (q < ½) or above (q > ½) every candidate, n being the count
this same describe releases first. One OpenDP median mechanism serves all five levels, and
OpenDP's median score moves two units per rank for one unit of sensitivity where its quartile
score moves four per three: the same loss buys a third less rank error. The released count's
own error shifts the target rank by at most |1 − 2q|/2 of it; each quantile's rank error
includes that shift. The five values are sorted (post-processing).

The split minimises the summed expected error of what is shown, each error relative to its
natural scale (the count to the row count, the others to the bounds' width) for values spread
over the bounds: per unit of loss the count's error is 1, the mean's ½ (the centred sum's
sensitivity is half the width), the std's about ½, each quantile's 1 (rank error 1/ε). With
errors wᵢ/εᵢ the optimum is εᵢ ∝ √wᵢ; under zCDP, errors wᵢ/√ρᵢ give ρᵢ ∝ wᵢ^⅔. A dry run shows
the split in its mechanism text.
"""

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

QUARTILES = (0.25, 0.5, 0.75)
DESCRIBE_QUANTILES = (0.0, *QUARTILES, 1.0)  # min, quartiles, max
QUANTILE_LABELS = (Min.name, *(quantile_label(q) for q in QUARTILES), Max.name)
#: expected error per unit of loss of each part, relative to its scale (see the module docstring)
ERROR_WEIGHTS = {"rows": 1.0, "centred sum": 0.5, "centred squares": 0.5, "level": 1.0}
MECHANISM = "median of padded values"
Columns = list[tuple[str, Numeric, ColumnInfo]]
Scan = Callable[[], tuple[list[tuple[int, int, int]], list[mech.Ranks]]]


class Describe(Statistic):
    name = "describe"

    def calibrate(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        if ctx.query.column is None:
            return describe(ctx, bounded_numeric_columns(ctx), loss)
        num = bounded_numeric(ctx)
        return describe(ctx, [(num.name, num, ctx.schema[num.name])], loss)


def split_shares(measure: str) -> dict[str, float]:
    """Each part's share of one column's loss (the quantile share is per level), minimising
    Σ wᵢ/εᵢ (pure) or Σ wᵢ/√ρᵢ (zCDP) subject to the shares summing to one."""
    power = 0.5 if measure == "pure" else 2 / 3
    parts = {k: w**power for k, w in ERROR_WEIGHTS.items()}
    whole = sum(parts.values()) + (len(DESCRIBE_QUANTILES) - 1) * parts["level"]
    return {k: v / whole for k, v in parts.items()}


def describe(ctx: Context, columns: Columns, loss: PrivacyLoss) -> Prepared:
    """count, mean, std, min, quartiles, max per column, one budget split (see the module)."""
    scan = _scan(ctx, columns)
    # The data pass reads no budget and releases nothing; starting it now lets it run on another
    # core while the mechanisms are calibrated (only ``run``, after the charge, uses its result).
    pending = mech.pool().submit(scan) if ctx.prefetch else None
    per_col = loss.scaled(SAFETY).split(len(columns))
    shares = split_shares(loss.measure)
    jobs = []
    spent = 0.0
    for name, num, info in columns:
        n_noise = count_noise(ctx, per_col.scaled(shares["rows"]), False)
        s_noise = num.noise("csum", per_col.scaled(shares["centred sum"]), False)
        q_noise = num.noise("csq", per_col.scaled(shares["centred squares"]), False)
        level = per_col.scaled(shares["level"])
        median = mech.quantile(candidates_for(info), 0.5, ctx.d_in, level.value, loss.measure)
        sums: list[tuple[mech.Noise, SumKind, Numeric]] = [
            (s_noise, "csum", num),
            (q_noise, "csq", num),
        ]
        spent += verified(ctx, loss, n_noise, sums).value
        spent += len(DESCRIBE_QUANTILES) * median.loss
        jobs.append((name, num, n_noise, s_noise, q_noise, median))
    multi = ctx.query.column is None
    mechanism = _mechanism_text(loss, per_col.value, shares)
    # In rows, known before any data is read: the count's half-width and each quantile's rank
    # error (what ``accuracy=`` bounds; the mean's and std's intervals depend on the data).
    rank_errors = [
        [_rank_error(ctx, job[2], job[5], p) for p in DESCRIBE_QUANTILES] for job in jobs
    ]
    halfwidth = max(max(e) for e in rank_errors) if rank_errors else None
    if jobs:
        halfwidth = max(halfwidth or 0.0, *(job[2].accuracy(ctx.alpha) for job in jobs))

    def run() -> list[Cell]:
        sums, ranks = pending.result() if pending is not None else scan()
        cells: list[Cell] = []
        for i, (name, num, n_noise, s_noise, q_noise, median) in enumerate(jobs):
            n, s, q = (
                x.release(v) for x, v in zip((n_noise, s_noise, q_noise), sums[i], strict=True)
            )
            # the count is released first: the padding reads only its released value
            selecting = mech.select_all(
                [(median, mech.padded(ranks[i], mech.padding(n, p))) for p in DESCRIBE_QUANTILES]
            )
            key: Key = (name,) if multi else ()
            a_n = n_noise.accuracy(ctx.alpha)
            mean, mean_ci = mean_from(
                num, n, s, n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
            )
            a3 = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
            var, var_ci = var_from(num, n, s, q, *a3)
            released = sorted(f.result() for f in selecting)  # post-processing
            cells.append(cell(key, COUNT, n, interval(n, a_n), None, n_noise.name, NON_NEGATIVE))
            cells.append(cell(key, Mean.name, mean, mean_ci, None, s_noise.name))
            std, std_ci = Std().estimate(var, var_ci)
            cells.append(cell(key, Std.name, std, std_ci, None, q_noise.name))
            for label, v, r in zip(QUANTILE_LABELS, released, rank_errors[i], strict=True):
                cells.append(cell(key, label, v, None, r, "exponential"))
        return cells

    return Prepared(loss.like(spent), 0.0, mechanism, halfwidth, run)


def _rank_error(ctx: Context, count: mech.Noise, median: mech.Quantile, q: float) -> float:
    """Rows by which the q-quantile may miss its rank at 1 − α: the selection's error plus the
    padding's shift, |1 − 2q|/2 of the count's error (α/2 each), plus rounding the padding."""
    return median.rank_error(ctx.alpha / 2) + abs(1 - 2 * q) / 2 * count.accuracy(ctx.alpha / 2) + 1


def _mechanism_text(loss: PrivacyLoss, per_col: float, shares: dict[str, float]) -> str:
    """The split, as a dry run shows it: each part's share of one column's loss."""

    def part(key: str) -> str:
        return f"{loss.symbol} {per_col * shares[key]:.3g}"

    levels = len(DESCRIBE_QUANTILES)
    return (
        f"composition per column: count {part('rows')}, mean {part('centred sum')}, "
        f"std {part('centred squares')}, {levels} quantiles, each the {MECHANISM}, "
        f"{part('level')} each"
    )


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


__all__ = ["DESCRIBE_QUANTILES", "ERROR_WEIGHTS", "Describe", "describe", "split_shares"]
