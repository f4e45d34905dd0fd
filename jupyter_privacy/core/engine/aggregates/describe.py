"""``describe``: count, mean, std, min, quartiles and max of one column or of every bounded
column, from one budget split and one data pass.

Every quantile is a median: the q-quantile of n values is the median of those values with
|1 − 2q|·n public rows added below (q < ½) or above (q > ½) every candidate, n being the count
this same describe releases first. One OpenDP median mechanism serves the three quartiles and
another min and max, and OpenDP's median score moves two units per rank for one unit of
sensitivity where its quartile score moves four per three: the same loss buys a third less rank
error. The released count's own error shifts the target rank by at most |1 − 2q|/2 of it; each
quantile's rank error includes that shift. The five values are sorted (post-processing). All
five from one mechanism, OpenDP's hierarchical-histogram CDF at the same ε, measured 3–20×
further off at the quartiles (bench_accuracy.py), so describe does not use it.

The split minimises the summed expected error of what is shown, each error over the accuracy
target the line under the table holds it to (``usefulness``: counts ±10% of the rows, quartile
ranks ±5% of them, mean and std ±10% of the std) for values spread over the bounds: per unit
of loss the count weighs ½, the mean √3/2, the std ¾ and each quartile 1 (``_error_weights``).
Min and max weigh ¼: beyond the data every candidate ties at the best score, so much of their error is
which of those equal candidates is drawn, which no ε reduces (measured with bench_accuracy.py,
a quarter of the weight takes 10–35% off the quartiles' errors and leaves min and max about as
far off). Min and max choose among the grid and one candidate beyond each bound, released as
that bound, so a min or max on a bound that holds many rows is found (see
``with_outer_candidates``). With errors wᵢ/εᵢ the optimum is εᵢ ∝ √wᵢ; under zCDP, errors
wᵢ/√ρᵢ give ρᵢ ∝ wᵢ^⅔. Columns declared ``not_null`` share one count of the table's rows,
weighted as many counts as it is shown. A dry run shows the split in its mechanism text;
``accuracy=`` bounds the count and the quartiles (min and max show their own, wider, rank
errors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from jupyter_privacy.core.aggregates import NON_NEGATIVE, QUARTILES, quantile_label
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
    with_outer_candidates,
)
from jupyter_privacy.core.engine.aggregates.moments import Mean, Std, mean_from, var_from, verified
from jupyter_privacy.core.engine.aggregates.quantiles import Max, Min
from jupyter_privacy.core.engine.data import prepared_frame
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.core.usefulness import COUNT_SHARE, RANK_SHARE, SPREAD_SHARE

DESCRIBE_QUANTILES = (0.0, *QUARTILES, 1.0)  # min, quartiles, max
QUANTILE_LABELS = (Min.name, *(quantile_label(q) for q in QUARTILES), Max.name)
SPREAD = 1 / math.sqrt(12)  # the std of values spread evenly over the bounds, per unit of width


def _error_weights() -> dict[str, float]:
    """Each part's expected error per unit of loss, over the target the line under the table
    holds it to (``usefulness``), for n values spread over bounds of width w; a quartile's is 1.

    count ± 1/ε rows against COUNT_SHARE·n; mean ± (w/2)/(εn), the centred sum's sensitivity
    over n, against SPREAD_SHARE·std; std ± the variance's (w²/4)/(εn) over 2·std, against
    SPREAD_SHARE·std; each quartile's rank ± 1/ε against RANK_SHARE·n. Min and max weigh a
    quarter of a quartile: they are held to no target (see the module docstring)."""
    spread = SPREAD_SHARE * SPREAD  # the mean's and std's target, per unit of width
    per_loss = {
        "rows": 1 / COUNT_SHARE,
        "centred sum": 0.5 / spread,
        "centred squares": 0.25 / (2 * SPREAD) / spread,
        "quartile": 1 / RANK_SHARE,
    }
    quartile = per_loss["quartile"]
    return {k: v / quartile for k, v in per_loss.items()} | {"extreme": 0.25}


#: count ½, mean √3/2, std ¾, quartile 1, min and max ¼ (see ``_error_weights``)
ERROR_WEIGHTS = _error_weights()
EXTREMES = (0.0, 1.0)  # min and max
MECHANISM = "median of padded values"
Columns = list[tuple[str, Numeric, ColumnInfo]]
Scan = Callable[[], tuple[int, list[tuple[int, int, int]], list[mech.Ranks]]]


class Describe(Statistic):
    name = "describe"

    def calibrate(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        if ctx.query.column is None:
            return describe(ctx, bounded_numeric_columns(ctx), loss)
        num = bounded_numeric(ctx)
        return describe(ctx, [(num.name, num, ctx.schema[num.name])], loss)


def split_shares(measure: str, nullable: Sequence[bool] = (True,)) -> dict[str, float]:
    """Each part's share of the whole loss, minimising Σ wᵢ/εᵢ (pure) or Σ wᵢ/√ρᵢ (zCDP)
    subject to the shares summing to one. ``nullable`` has one flag per column: the columns
    that cannot be null share one count of the table's rows ("table rows"), which weighs as
    many counts as it is shown; a nullable column has its own non-null count ("rows"). The
    "quartile" and "extreme" shares are per level; "table rows" is 0 when no column shares it."""
    power = 0.5 if measure == "pure" else 2 / 3
    parts = {k: w**power for k, w in ERROR_WEIGHTS.items()}
    sharing = sum(1 for n in nullable if not n)
    table = (sharing * ERROR_WEIGHTS["rows"]) ** power if sharing else 0.0
    per_column = sum(parts[k] for k in ("centred sum", "centred squares"))
    per_column += len(QUARTILES) * parts["quartile"] + len(EXTREMES) * parts["extreme"]
    whole = table + len(nullable) * per_column + sum(nullable) * parts["rows"]
    return {"table rows": table / whole, **{k: v / whole for k, v in parts.items()}}


@dataclass(frozen=True)
class _Column:
    """One column's mechanisms; ``count`` is the shared row count's when ``shared``."""

    name: str
    num: Numeric
    count: mech.Noise
    shared: bool
    csum: mech.Noise
    csq: mech.Noise
    quartiles: mech.Quantile
    extremes: mech.Quantile

    def median(self, p: float) -> mech.Quantile:
        """The median mechanism level ``p`` runs: min and max have their own share."""
        return self.extremes if p in EXTREMES else self.quartiles

    def selection(self, p: float, ranks: mech.Ranks, n: int) -> mech.Selection:
        """Level ``p``'s mechanism and its ranks, padded for the released count ``n``.
        ``ranks`` are of the grid with its outer candidates, which only min and max use."""
        r = ranks if p in EXTREMES else ranks.trimmed()
        return self.median(p), mech.padded(r, mech.padding(n, p))


def describe(ctx: Context, columns: Columns, loss: PrivacyLoss) -> Prepared:
    """count, mean, std, min, quartiles, max per column, one budget split (see the module)."""
    scan = _scan(ctx, columns)
    # The data pass reads no budget and releases nothing; starting it now lets it run on another
    # core while the mechanisms are calibrated (only ``run``, after the charge, uses its result).
    pending = mech.pool().submit(scan) if ctx.prefetch else None
    safe = loss.scaled(SAFETY)
    nullable = [info.nullable for _, _, info in columns]
    shares = split_shares(loss.measure, nullable)
    table = (
        count_noise(ctx, safe.scaled(shares["table rows"]), False) if not all(nullable) else None
    )
    spent = 0.0 if table is None else verified(ctx, loss, table, []).value
    jobs: list[_Column] = []
    for name, num, info in columns:
        own = count_noise(ctx, safe.scaled(shares["rows"]), False) if info.nullable else None
        s_noise = num.noise("csum", safe.scaled(shares["centred sum"]), False)
        q_noise = num.noise("csq", safe.scaled(shares["centred squares"]), False)
        grid = candidates_for(info)
        medians = [
            mech.quantile(g, 0.5, ctx.d_in, v.value, loss.measure)
            for g, v in (
                (grid, safe.scaled(shares["quartile"])),
                (with_outer_candidates(grid), safe.scaled(shares["extreme"])),
            )
        ]
        sums: list[tuple[mech.Noise, SumKind, Numeric]] = [
            (s_noise, "csum", num),
            (q_noise, "csq", num),
        ]
        spent += verified(ctx, loss, own, sums).value
        spent += len(QUARTILES) * medians[0].loss + len(EXTREMES) * medians[1].loss
        count = own if own is not None else table
        assert count is not None  # a column without its own count shares the table's
        jobs.append(_Column(name, num, count, own is None, s_noise, q_noise, *medians))
    multi = ctx.query.column is None
    mechanism = _mechanism_text(loss, safe.value, shares, jobs)
    # In rows, known before any data is read: the count's half-width and each quartile's rank
    # error are what ``accuracy=`` bounds (min and max show their own, wider, rank errors; the
    # mean's and std's intervals depend on the data).
    rank_errors = [
        [_rank_error(ctx, j.count, j.median(p), p) for p in DESCRIBE_QUANTILES] for j in jobs
    ]
    halfwidth = None
    if jobs:
        quartile_errors = [
            _rank_error(ctx, j.count, j.quartiles, q) for j in jobs for q in QUARTILES
        ]
        halfwidth = max(*quartile_errors, *(j.count.accuracy(ctx.alpha) for j in jobs))

    def run() -> list[Cell]:
        rows, sums, ranks = pending.result() if pending is not None else scan()
        # the shared count is released once, before anything that reads it
        n_table = table.release(rows) if table is not None else 0
        cells: list[Cell] = []
        for i, j in enumerate(jobs):
            n = n_table if j.shared else j.count.release(sums[i][0])
            s, q = j.csum.release(sums[i][1]), j.csq.release(sums[i][2])
            # the count is released first: the padding reads only its released value
            selecting = mech.select_all([j.selection(p, ranks[i], n) for p in DESCRIBE_QUANTILES])
            key: Key = (j.name,) if multi else ()
            a = [j.count.accuracy(ctx.alpha / 2), j.csum.accuracy(ctx.alpha / 2)]
            mean, mean_ci = mean_from(j.num, n, s, *a)
            a3 = [x.accuracy(ctx.alpha / 3) for x in (j.count, j.csum, j.csq)]
            var, var_ci = var_from(j.num, n, s, q, *a3)
            # post-processing: an outer candidate is released as its bound, then all sorted
            released = sorted(min(max(f.result(), j.num.lo), j.num.hi) for f in selecting)
            a_n = j.count.accuracy(ctx.alpha)
            cells.append(cell(key, COUNT, n, interval(n, a_n), None, j.count.name, NON_NEGATIVE))
            cells.append(cell(key, Mean.name, mean, mean_ci, None, j.csum.name))
            std, std_ci = Std().estimate(var, var_ci)
            cells.append(cell(key, Std.name, std, std_ci, None, j.csq.name))
            for label, v, r in zip(QUANTILE_LABELS, released, rank_errors[i], strict=True):
                cells.append(cell(key, label, v, None, r, "exponential"))
        return cells

    return Prepared(loss.like(spent), 0.0, mechanism, halfwidth, run)


def _rank_error(ctx: Context, count: mech.Noise, median: mech.Quantile, q: float) -> float:
    """Rows by which the q-quantile may miss its rank at 1 − α: the selection's error plus the
    padding's shift, |1 − 2q|/2 of the count's error (α/2 each), plus rounding the padding."""
    return median.rank_error(ctx.alpha / 2) + abs(1 - 2 * q) / 2 * count.accuracy(ctx.alpha / 2) + 1


def _mechanism_text(
    loss: PrivacyLoss, whole: float, shares: dict[str, float], jobs: Sequence[_Column]
) -> str:
    """The split, as a dry run shows it: each part's loss, and the unit of its accuracy."""

    def part(key: str) -> str:
        return f"{loss.symbol} {whole * shares[key]:.3g}"

    counts = []
    sharing = [j.name for j in jobs if j.shared]
    if sharing:
        counts.append(f"one row count {part('table rows')} for {', '.join(sharing)}")
    if len(sharing) < len(jobs):
        counts.append(f"a non-null count {part('rows')} per nullable column")
    return (
        f"composition: {'; '.join(counts)}; per column: mean {part('centred sum')}, "
        f"std {part('centred squares')}, each quantile the {MECHANISM}: quartiles "
        f"{part('quartile')} each, min and max {part('extreme')} each; accuracy in rows (the "
        "count's ± and each quantile's rank error)"
    )


def _scan(ctx: Context, columns: Columns) -> Scan:
    """describe's one data pass: the table's rows and, per column, the non-null count, centred
    sum and centred squares (exact integers) and the ranks among the clamped values of the
    candidates with the outer ones (``with_outer_candidates``).
    A column that cannot be null holds none here (its nulls were filled when the rows were read,
    and no step keeps it not-null that could make one), so its count is the table's rows.
    Pre-noise: only ``run`` may use it."""
    nums = [num for _, num, _ in columns]
    grids = [with_outer_candidates(candidates_for(info)) for _, _, info in columns]

    def scan() -> tuple[int, list[tuple[int, int, int]], list[mech.Ranks]]:
        exprs: list[pl.Expr] = [pl.len().alias("rows")]
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
        ranks = [mech.ranks(g, v) for g, v in zip(grids, values, strict=True)]
        return int(out.get_column("rows").item()), sums, ranks  # type: ignore[return-value]

    return scan


__all__ = ["DESCRIBE_QUANTILES", "ERROR_WEIGHTS", "Describe", "describe", "split_shares"]
