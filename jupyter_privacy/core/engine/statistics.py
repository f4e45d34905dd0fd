"""Statistics as compositions of verified OpenDP measurements.

``prepare`` turns a plan and a target loss into a ``Prepared`` job without reading data: every
refusal and every calibration happens there. ``Prepared.run`` reads the data once with polars,
hands exact pre-noise aggregates to OpenDP measurements and returns released cells.

Pre-noise aggregates are computed by polars on integers (fixed-point, clamped to public bounds,
no overflow below 2^32 rows), which is the same function as OpenDP's integer sum; tests compare
the two on random data. Sensitivities come from OpenDP stability maps, noise from OpenDP
measurements whose maps were checked. Grouped statistics use one measurement per key at the same
scale: one person's rows touch at most ``d_in`` keys in total, so by parallel composition the loss
is the map of one key's measurement at ``d_in`` (linear in ε, and Σdᵢ² ≤ (Σdᵢ)² for ρ).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from jupyter_privacy.core.aggregates import quantile_label
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.data import bin_of, label_of, prepared_frame
from jupyter_privacy.core.errors import (
    InvalidArgumentError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.core.source import SourceSpec
from jupyter_privacy.core.validate import (
    bin_labels,
    bounded_columns,
    group_keys,
    hist_edges,
    require_bounds,
    validate,
)

MEAN_WEIGHTS = (0.3, 0.7)  # count, centred sum: the sum carries most of a mean's error
VAR_WEIGHTS = (0.2, 0.3, 0.5)  # count, centred sum, centred sum of squares
DESCRIBE_WEIGHTS = (0.1, 0.2, 0.2, 0.5)  # count, sum, squares, five quantiles
THRESHOLD_SHARE = 0.3  # of a grouped statistic over unknown keys, spent on discovering keys
DESCRIBE_QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
SAFETY = 1 - 1e-9  # shares are shaved so their float sum never exceeds the whole
SCALAR_STATS = ("count", "size", "sum", "mean", "median", "var", "std", "min", "max")
QUANTILE_OF = {"median": 0.5, "min": 0.0, "max": 1.0}
Key = tuple[Scalar, ...]


def _cell(
    key: Key,
    statistic: str,
    value: float,
    ci: tuple[float, float] | None,
    rank_error: float | None,
    mechanism: str,
    feasible: tuple[float, float] = (-math.inf, math.inf),
) -> Cell:
    """One released cell; the value and its interval are clipped to what the statistic can be
    (a count is never negative, nor a sum of non-negative values): post-processing, free."""
    lo, hi = feasible
    value = min(max(float(value), lo), hi)
    low, high = (
        (min(max(float(ci[0]), lo), hi), min(max(float(ci[1]), lo), hi)) if ci else (None, None)
    )
    return Cell(tuple(key), statistic, value, low, high, rank_error, mechanism)


COUNTS = (0.0, math.inf)


@dataclass
class Prepared:
    """A calibrated job: its verified loss is known before any data is read."""

    loss: PrivacyLoss  # the sum of verified OpenDP maps, in the budget's measure
    delta: float  # δ spent by thresholds
    mechanism: str
    expected_halfwidth: float | None
    run: Callable[[], list[Cell]] = field(repr=False)


@dataclass
class _Job:
    """A calibrated job whose loss is a float in the context's measure (internal)."""

    loss: float
    delta: float  # δ spent by thresholds
    mechanism: str
    expected_halfwidth: float | None
    run: Callable[[], list[Cell]] = field(repr=False)


# --- public helpers ----------------------------------------------------------------------------


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


def is_scalar(query: Query) -> bool:
    if query.by:
        return False
    if query.statistic == "quantile":
        return not isinstance(query.param("q"), tuple)
    return query.statistic in SCALAR_STATS and not (
        query.column is None and query.statistic in ("sum", "mean")
    )


# --- prepare ------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    spec: SourceSpec
    query: Query
    schema: dict[str, ColumnInfo]
    measure: mech.Measure
    alpha: float
    d_in: int
    prefetch: bool = False


def prepare(
    spec: SourceSpec,
    query: Query,
    loss: PrivacyLoss,
    alpha: float,
    delta: float = 0.0,
    prefetch: bool = False,
) -> Prepared:
    """Validate ``query`` on public information and calibrate its measurements to ``loss``.

    ``prefetch``: the caller will release if the loss fits, so a long data pass may start now in
    the background (its pre-noise result is only ever read by ``Prepared.run``)."""
    job = _prepare(spec, query, loss.value, loss.measure, alpha, delta, prefetch)
    return Prepared(
        PrivacyLoss.of(loss.measure, job.loss),
        job.delta,
        job.mechanism,
        job.expected_halfwidth,
        job.run,
    )


def _prepare(
    spec: SourceSpec,
    query: Query,
    target: float,
    measure: mech.Measure,
    alpha: float,
    delta: float,
    prefetch: bool,
) -> _Job:
    schema = validate(spec, query).schema
    ctx = _Ctx(spec, query, schema, measure, alpha, spec.d_in, prefetch)
    stat = query.statistic
    if stat in ("value_counts", "hist"):
        return _prepare_value_counts(ctx, target, delta)
    if query.by:
        return _prepare_grouped(ctx, _key_product(spec, query.by, schema), target, delta)
    if query.column is None and stat in ("describe", "mean", "sum"):
        return _prepare_frame_stat(ctx, target)
    return _prepare_scalar(ctx, target)


def _key_product(
    spec: SourceSpec, by: tuple[str, ...], schema: dict[str, ColumnInfo]
) -> list[Key] | None:
    """Declared key combinations (validation capped their number), or None for unknown keys."""
    declared = group_keys(spec, by, schema)
    return None if declared is None else [tuple(c) for c in itertools.product(*declared)]


def _column(ctx: _Ctx) -> tuple[str, ColumnInfo]:
    """The aggregated column (validation checked that it exists where the statistic needs it)."""
    name = ctx.query.column
    assert name is not None
    return name, ctx.schema[name]


def _quantile_levels(ctx: _Ctx) -> tuple[float, ...]:
    stat = ctx.query.statistic
    if stat in QUANTILE_OF:
        return (QUANTILE_OF[stat],)
    if stat == "describe":
        return DESCRIBE_QUANTILES
    q = ctx.query.param("q", 0.5)
    return tuple(float(v) for v in (q if isinstance(q, tuple) else (q,)))


class _Numeric:
    """Fixed-point integer views of one bounded column and the noise for each aggregate."""

    def __init__(self, ctx: _Ctx, name: str, bounds: tuple[float, float]) -> None:
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

    def noise(self, kind: str, target: float, vector: bool) -> mech.Noise:
        d, m = self.ctx.d_in, self.ctx.measure
        if kind == "sum":
            rows = (self.lo_int, self.hi_int)
        elif kind == "csum":
            rows = (self.lo_int - self.c_int, self.hi_int - self.c_int)
        else:
            rows = (0, self.sq_hi)
        return mech.integer_noise(mech.sum_sensitivity(d, *rows), target, m, vector, rows)


def _count_noise(ctx: _Ctx, target: float, vector: bool) -> mech.Noise:
    sens = (
        mech.count_by_categories_sensitivity(ctx.d_in, ctx.measure)
        if vector
        else mech.count_sensitivity(ctx.d_in)
    )
    return mech.integer_noise(sens, target, ctx.measure, vector, (0, 1))


# Estimators from noisy integer aggregates -----------------------------------------------------------


def _interval(value: float, half: float) -> tuple[float, float]:
    return (value - half, value + half)


def _mean_from(
    num: _Numeric, n: int, s: int, a_n: float, a_s: float
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
    low, high = max(low - grid, half_lo), min(high + grid, half_hi)
    return est, (num.center + low, num.center + high)


def _var_from(
    num: _Numeric, n: int, s: int, q: int, a_n: float, a_s: float, a_q: float
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
    return est, (max(0.0, e2_lo - m2_hi - slack), min(r2, e2_hi - m2_lo + slack))


# Scalar statistics --------------------------------------------------------------------------------


def _prepare_scalar(ctx: _Ctx, target: float) -> _Job:
    stat = ctx.query.statistic
    if stat in ("count", "size") and ctx.query.column is None:
        return _prepare_count(ctx, target)
    name, info = _column(ctx)
    if stat == "count":
        return _prepare_count(ctx, target, name)
    bounds = require_bounds(ctx.spec, ctx.query, name, info)
    num = _Numeric(ctx, name, bounds)
    if stat == "sum":
        noise = num.noise("sum", target * SAFETY, False)

        def run_sum() -> list[Cell]:
            total = _collect_row(ctx, [num.int_sum().alias("s")])["s"] or 0
            s = noise.release(int(total))
            a = noise.accuracy(ctx.alpha) / num.scale
            ci = _interval(s / num.scale, a)
            return [_cell((), "sum", s / num.scale, ci, None, noise.name, num.sums)]

        sens = mech.sum_sensitivity(ctx.d_in, num.lo_int, num.hi_int)
        return _Job(
            noise.loss_at(sens),
            0.0,
            noise.name,
            noise.accuracy(ctx.alpha) / num.scale,
            run_sum,
        )
    if stat == "mean":
        return _prepare_mean(ctx, num, target)
    if stat in ("var", "std"):
        return _prepare_var(ctx, num, target, stat)
    if stat in ("median", "quantile", "min", "max", "describe"):
        if stat == "describe":
            return _prepare_describe(ctx, [(name, num, info)], target)
        return _prepare_quantiles(ctx, name, num, info, target)
    raise _unsupported(ctx)


def _unsupported(ctx: _Ctx) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"compute {ctx.query.statistic}",
        ctx.spec.name,
        "this aggregate is not supported here",
        [
            (
                "supported",
                "count, sum, mean, median, quantile, var, std, min, max, value_counts, "
                "hist, describe",
            )
        ],
    )


def _collect_row(ctx: _Ctx, exprs: list[pl.Expr], column: str | None = None) -> dict[str, Any]:
    lf = prepared_frame(ctx.spec, ctx.query.steps)
    if column is not None:
        lf = lf.filter(pl.col(column).is_not_null())
    return collect(lf.select(exprs)).row(0, named=True)


def collect(lf: pl.LazyFrame) -> pl.DataFrame:
    """Run a one-row aggregate with the streaming engine, which fuses the fixed-point arithmetic
    into one pass (about half the time of the in-memory engine on 10⁷ rows); integer sums are
    exact, so the engine does not change any pre-noise value."""
    return lf.collect(engine="streaming")


def _prepare_count(ctx: _Ctx, target: float, column: str | None = None) -> _Job:
    noise = _count_noise(ctx, target * SAFETY, vector=False)
    stat = ctx.query.statistic

    def run() -> list[Cell]:
        n = _collect_row(ctx, [pl.len().alias("n")], column)["n"]
        v = noise.release(int(n))
        return [
            _cell((), stat, v, _interval(v, noise.accuracy(ctx.alpha)), None, noise.name, COUNTS)
        ]

    loss = noise.loss_at(mech.count_sensitivity(ctx.d_in))
    return _Job(loss, 0.0, noise.name, noise.accuracy(ctx.alpha), run)


def _prepare_mean(ctx: _Ctx, num: _Numeric, target: float) -> _Job:
    wc, ws = MEAN_WEIGHTS
    n_noise = _count_noise(ctx, target * wc * SAFETY, False)
    s_noise = num.noise("csum", target * ws * SAFETY, False)
    loss = _verified(ctx, [(n_noise, "count", num), (s_noise, "csum", num)])

    def run() -> list[Cell]:
        row = _collect_row(ctx, [pl.col(num.name).count().alias("n"), num.centred_sum().alias("s")])
        n, s = n_noise.release(int(row["n"])), s_noise.release(int(row["s"] or 0))
        a_n, a_s = n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
        est, ci = _mean_from(num, n, s, a_n, a_s)
        return [_cell((), "mean", est, ci, None, s_noise.name)]

    return _Job(loss, 0.0, s_noise.name, None, run)


def _prepare_var(ctx: _Ctx, num: _Numeric, target: float, stat: str) -> _Job:
    wc, ws, wq = VAR_WEIGHTS
    n_noise = _count_noise(ctx, target * wc * SAFETY, False)
    s_noise = num.noise("csum", target * ws * SAFETY, False)
    q_noise = num.noise("csq", target * wq * SAFETY, False)
    loss = _verified(ctx, [(n_noise, "count", num), (s_noise, "csum", num), (q_noise, "csq", num)])

    def run() -> list[Cell]:
        row = _collect_row(
            ctx,
            [pl.len().alias("n"), num.centred_sum().alias("s"), num.centred_squares().alias("q")],
            num.name,
        )
        n = n_noise.release(int(row["n"]))
        s, q = s_noise.release(int(row["s"] or 0)), q_noise.release(int(row["q"] or 0))
        a = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
        est, ci = _var_from(num, n, s, q, *a)
        if stat == "std":
            est, ci = math.sqrt(est), (math.sqrt(ci[0]), math.sqrt(ci[1]))
        return [_cell((), stat, est, ci, None, q_noise.name)]

    return _Job(loss, 0.0, q_noise.name, None, run)


def _sens(ctx: _Ctx, kind: str, num: _Numeric | None, vector: bool = False) -> int:
    if kind == "count":
        if vector:
            return mech.count_by_categories_sensitivity(ctx.d_in, ctx.measure)
        return mech.count_sensitivity(ctx.d_in)
    assert num is not None
    if kind == "sum":
        return mech.sum_sensitivity(ctx.d_in, num.lo_int, num.hi_int)
    if kind == "csum":
        return mech.sum_sensitivity(ctx.d_in, num.lo_int - num.c_int, num.hi_int - num.c_int)
    return mech.sum_sensitivity(ctx.d_in, 0, num.sq_hi)


def _verified(
    ctx: _Ctx, parts: Sequence[tuple[mech.Noise, str, _Numeric | None]], vector: bool = False
) -> float:
    """Basic composition of the parts' OpenDP maps (what ``make_composition`` would report)."""
    return sum(noise.loss_at(_sens(ctx, kind, num, vector)) for noise, kind, num in parts)


def _quantile_values(
    ctx: _Ctx, num: _Numeric, lf: pl.LazyFrame | None = None
) -> np.ndarray[Any, Any]:
    """The clamped non-null values, sorted (by polars, in parallel) for ``Quantile.release``."""
    frame = lf if lf is not None else prepared_frame(ctx.spec, ctx.query.steps)
    out = frame.select(num.clipped().drop_nulls().sort()).collect()
    return out.to_series().to_numpy()


def _prepare_quantiles(
    ctx: _Ctx, name: str, num: _Numeric, info: ColumnInfo, target: float
) -> _Job:
    levels = _quantile_levels(ctx)
    cands = candidates_for(info)
    share = target * SAFETY / len(levels)
    mechs = [mech.quantile(cands, q, ctx.d_in, share, ctx.measure) for q in levels]
    loss = sum(m.loss for m in mechs)
    stat = ctx.query.statistic
    single = len(levels) == 1 and not isinstance(ctx.query.param("q"), tuple)

    def run() -> list[Cell]:
        ranks = mech.ranks(cands, _quantile_values(ctx, num))
        released = sorted(mech.release_quantiles([(m, ranks) for m in mechs]))  # post-processing
        return [
            _cell(
                (),
                stat if single else quantile_label(q),
                v,
                None,
                m.rank_error(ctx.alpha),
                "exponential",
            )
            for q, v, m in zip(levels, released, mechs, strict=True)
        ]

    return _Job(loss, 0.0, "exponential", None, run)


# describe -------------------------------------------------------------------------------------


def _prepare_describe(
    ctx: _Ctx, columns: list[tuple[str, _Numeric, ColumnInfo]], target: float
) -> _Job:
    """count, mean, std, min, quartiles, max per column, one budget split; quantiles sorted."""
    scan = _describe_scan(ctx, columns)
    # The data pass reads no budget and releases nothing; starting it now lets it run on another
    # core while the mechanisms are calibrated (only ``run``, after the charge, uses its result).
    pending = mech.pool().submit(scan) if ctx.prefetch else None
    per_col = target * SAFETY / len(columns)
    wc, ws, wq, wquant = DESCRIBE_WEIGHTS
    jobs = []
    loss = 0.0
    for name, num, info in columns:
        n_noise = _count_noise(ctx, per_col * wc, False)
        s_noise = num.noise("csum", per_col * ws, False)
        q_noise = num.noise("csq", per_col * wq, False)
        cands = candidates_for(info)
        quants = [
            mech.quantile(
                cands, q, ctx.d_in, per_col * wquant / len(DESCRIBE_QUANTILES), ctx.measure
            )
            for q in DESCRIBE_QUANTILES
        ]
        loss += _verified(
            ctx, [(n_noise, "count", num), (s_noise, "csum", num), (q_noise, "csq", num)]
        )
        loss += sum(m.loss for m in quants)
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
            mean, mean_ci = _mean_from(
                num, n, s, n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
            )
            a3 = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
            var, var_ci = _var_from(num, n, s, q, *a3)
            released = sorted(f.result() for f in selecting[5 * i : 5 * i + 5])  # post-processing
            cells.append(_cell(key, "count", n, _interval(n, a_n), None, n_noise.name, COUNTS))
            cells.append(_cell(key, "mean", mean, mean_ci, None, s_noise.name))
            cells.append(
                _cell(
                    key,
                    "std",
                    math.sqrt(var),
                    (math.sqrt(var_ci[0]), math.sqrt(var_ci[1])),
                    None,
                    q_noise.name,
                )
            )
            labels = ("min", "25%", "50%", "75%", "max")
            for label, v, m in zip(labels, released, quants, strict=True):
                cells.append(_cell(key, label, v, None, m.rank_error(ctx.alpha), "exponential"))
        return cells

    return _Job(loss, 0.0, "composition", None, run)


def _describe_scan(
    ctx: _Ctx, columns: list[tuple[str, _Numeric, ColumnInfo]]
) -> Callable[[], tuple[list[tuple[int, int, int]], list[mech.Ranks]]]:
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


def _bounded_numeric_columns(ctx: _Ctx) -> list[tuple[str, _Numeric, ColumnInfo]]:
    names = bounded_columns(ctx.spec, ctx.schema, f"compute {ctx.query.statistic}")
    return [(n, _Numeric(ctx, n, ctx.schema[n].bounds), ctx.schema[n]) for n in names]  # type: ignore[arg-type]


def _prepare_frame_stat(ctx: _Ctx, target: float) -> _Job:
    cols = _bounded_numeric_columns(ctx)
    if ctx.query.statistic == "describe":
        return _prepare_describe(ctx, cols, target)
    per_col = target * SAFETY / len(cols)
    stat = ctx.query.statistic
    parts: list[tuple[str, _Numeric, mech.Noise | None, mech.Noise]] = []
    loss = 0.0
    for name, num, _info in cols:
        if stat == "sum":
            s_noise = num.noise("sum", per_col, False)
            loss += _verified(ctx, [(s_noise, "sum", num)])
            parts.append((name, num, None, s_noise))
        else:
            n_noise = _count_noise(ctx, per_col * MEAN_WEIGHTS[0], False)
            s_noise = num.noise("csum", per_col * MEAN_WEIGHTS[1], False)
            loss += _verified(ctx, [(n_noise, "count", num), (s_noise, "csum", num)])
            parts.append((name, num, n_noise, s_noise))

    def run() -> list[Cell]:
        lf = prepared_frame(ctx.spec, ctx.query.steps)
        cells = []
        for name, num, n_noise, s_noise in parts:
            col = lf.filter(pl.col(name).is_not_null())
            if n_noise is None:
                total = col.select(num.int_sum()).collect().item() or 0
                s = s_noise.release(int(total))
                a = s_noise.accuracy(ctx.alpha) / num.scale
                cells.append(
                    _cell(
                        (name,),
                        "sum",
                        s / num.scale,
                        _interval(s / num.scale, a),
                        None,
                        s_noise.name,
                        num.sums,
                    )
                )
            else:
                row = (
                    col.select(pl.len().alias("n"), num.centred_sum().alias("s"))
                    .collect()
                    .row(0, named=True)
                )
                n, s = n_noise.release(int(row["n"])), s_noise.release(int(row["s"] or 0))
                est, ci = _mean_from(
                    num, n, s, n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
                )
                cells.append(_cell((name,), "mean", est, ci, None, s_noise.name))
        return cells

    return _Job(loss, 0.0, "composition", None, run)


# Grouped statistics ---------------------------------------------------------------------------


def _key_of(value: Any) -> str:
    return repr(value) if not isinstance(value, tuple) else repr(tuple(value))


def _aligned(frame: pl.DataFrame, by: tuple[str, ...], keys: list[Key], column: str) -> list[int]:
    """Values of ``column`` for each declared key, 0 where a key has no rows."""
    lookup = {tuple(row[:-1]): row[-1] for row in frame.select([*by, column]).iter_rows()}
    return [int(lookup.get(k, 0) or 0) for k in keys]


def _prepare_value_counts(ctx: _Ctx, target: float, delta: float) -> _Job:
    name, info = _column(ctx)
    stat = ctx.query.statistic
    if stat == "hist":
        bounds = require_bounds(ctx.spec, ctx.query, name, info)
        edges = hist_edges(bounds, ctx.query.param("bins", 10))  # validated: strictly increasing
        labels: tuple[Scalar, ...] = bin_labels(edges)
        clipped = pl.col(name).cast(pl.Float64).clip(edges[0], edges[-1])
        key_expr = label_of(bin_of(clipped, edges, "left"), labels)  # type: ignore[arg-type]
        schema = {**ctx.schema, "__bin__": ColumnInfo("str", None, labels)}
        sub = Query(ctx.spec.name, ctx.query.steps, "size", None, ("__bin__",))
        inner = _Ctx(ctx.spec, sub, schema, ctx.measure, ctx.alpha, ctx.d_in)
        return _grouped_counts(
            inner, [(lab,) for lab in labels], target, key_expr=key_expr, source_column=name
        )
    sub = Query(ctx.spec.name, ctx.query.steps, "size", None, (name,))
    inner = _Ctx(ctx.spec, sub, ctx.schema, ctx.measure, ctx.alpha, ctx.d_in)
    keys = _key_product(ctx.spec, (name,), ctx.schema)
    if keys is None:
        return _threshold_counts(inner, target, delta)
    return _grouped_counts(inner, keys, target)


def _grouped_frame(
    ctx: _Ctx,
    aggs: list[pl.Expr],
    key_expr: pl.Expr | None = None,
    source_column: str | None = None,
    value_column: str | None = None,
) -> pl.DataFrame:
    lf = prepared_frame(ctx.spec, ctx.query.steps)
    by = list(ctx.query.by)
    if key_expr is not None:
        lf = lf.filter(pl.col(source_column).is_not_null()).with_columns(key_expr.alias(by[0]))  # type: ignore[arg-type]
    if value_column is not None:
        lf = lf.filter(pl.col(value_column).is_not_null())
    lf = lf.filter(pl.all_horizontal([pl.col(b).is_not_null() for b in by]))
    return lf.group_by(by).agg(aggs).collect()


def _grouped_counts(
    ctx: _Ctx,
    keys: list[Key],
    target: float,
    key_expr: pl.Expr | None = None,
    source_column: str | None = None,
) -> _Job:
    noise = _count_noise(ctx, target * SAFETY, vector=True)
    loss = noise.loss_at(mech.count_by_categories_sensitivity(ctx.d_in, ctx.measure))
    stat = (
        "count" if ctx.query.statistic in ("size", "count", "value_counts") else ctx.query.statistic
    )

    def run() -> list[Cell]:
        frame = _grouped_frame(ctx, [pl.len().alias("__n__")], key_expr, source_column)
        exact = _aligned(frame, ctx.query.by, keys, "__n__")
        noisy = noise.release(exact, keys) if keys else []
        a = noise.accuracy(ctx.alpha)
        return [
            _cell(k, stat, v, _interval(v, a), None, noise.name, COUNTS)
            for k, v in zip(keys, noisy, strict=True)
        ]

    return _Job(loss, 0.0, noise.name, noise.accuracy(ctx.alpha), run)


def _threshold_counts(ctx: _Ctx, target: float, delta: float) -> _Job:
    th = mech.threshold_counts(ctx.d_in, target * SAFETY, delta, ctx.measure)
    eps, dlt = (
        float(v) for v in th.measurement.map(mech.count_by_sensitivity(ctx.d_in, ctx.measure))
    )

    def run() -> list[Cell]:
        frame = _grouped_frame(ctx, [pl.len().alias("__n__")])
        encoded: dict[str, Key] = {}
        counts: dict[str, int] = {}
        for row in frame.iter_rows():
            key = tuple(row[:-1])
            code = _key_of(key)
            encoded[code] = key
            counts[code] = int(row[-1])
        released = th.release(counts)
        a = th.noise.accuracy(ctx.alpha)
        cells = [
            _cell(
                encoded[c],
                "count",
                v,
                _interval(v, a),
                None,
                "thresholded " + th.noise.name,
                COUNTS,
            )
            for c, v in released.items()
        ]
        return sorted(cells, key=lambda cell: -cell.value)

    return _Job(eps, dlt, "thresholded " + th.noise.name, th.noise.accuracy(ctx.alpha), run)


def _prepare_grouped(ctx: _Ctx, keys: list[Key] | None, target: float, delta: float) -> _Job:
    stat = ctx.query.statistic
    if keys is None:
        if stat in ("size", "count") and ctx.query.column is None:
            return _threshold_counts(ctx, target, delta)
        discover = _threshold_counts(
            _Ctx(
                ctx.spec,
                Query(ctx.spec.name, ctx.query.steps, "size", None, ctx.query.by),
                ctx.schema,
                ctx.measure,
                ctx.alpha,
                ctx.d_in,
            ),
            target * THRESHOLD_SHARE,
            delta,
        )
        rest_target = target * (1 - THRESHOLD_SHARE)
        # The released keys are public; the statistic is then computed over them as declared keys.
        probe = _prepare_grouped_declared(ctx, [], rest_target)

        def run() -> list[Cell]:
            found = [c.key for c in discover.run()]
            return _prepare_grouped_declared(ctx, found, rest_target).run()

        return _Job(discover.loss + probe.loss, discover.delta, probe.mechanism, None, run)
    return _prepare_grouped_declared(ctx, keys, target)


def _prepare_grouped_declared(ctx: _Ctx, keys: list[Key], target: float) -> _Job:
    stat = ctx.query.statistic
    if stat in ("size", "count") and ctx.query.column is None:
        return _grouped_counts(ctx, keys, target)
    if stat == "agg":
        return _prepare_agg(ctx, keys, target)
    name, info = _column(ctx)
    if stat == "count":
        return _grouped_counts_nonnull(ctx, keys, target, name)
    bounds = require_bounds(ctx.spec, ctx.query, name, info)
    num = _Numeric(ctx, name, bounds)
    return _grouped_numeric(ctx, keys, target, num, info, stat)


def _grouped_counts_nonnull(ctx: _Ctx, keys: list[Key], target: float, column: str) -> _Job:
    noise = _count_noise(ctx, target * SAFETY, vector=True)
    loss = noise.loss_at(mech.count_by_categories_sensitivity(ctx.d_in, ctx.measure))

    def run() -> list[Cell]:
        frame = _grouped_frame(ctx, [pl.len().alias("__n__")], value_column=column)
        noisy = noise.release(_aligned(frame, ctx.query.by, keys, "__n__"), keys) if keys else []
        a = noise.accuracy(ctx.alpha)
        return [
            _cell(k, "count", v, _interval(v, a), None, noise.name, COUNTS)
            for k, v in zip(keys, noisy, strict=True)
        ]

    return _Job(loss, 0.0, noise.name, noise.accuracy(ctx.alpha), run)


def _grouped_numeric(
    ctx: _Ctx,
    keys: list[Key],
    target: float,
    num: _Numeric,
    info: ColumnInfo,
    stat: str,
    label: str | None = None,
) -> _Job:
    label = label or stat
    d, m = ctx.d_in, ctx.measure
    if stat in ("median", "quantile", "min", "max"):
        levels = (
            _quantile_levels(ctx)
            if stat != "quantile" or label == stat
            else ((float(label.rstrip("%")) / 100,))
        )
        cands = candidates_for(info)
        qm = [mech.quantile(cands, q, d, target * SAFETY / len(levels), m) for q in levels]
        loss = sum(x.loss for x in qm)
        single = len(levels) == 1 and not isinstance(ctx.query.param("q"), tuple)

        def run_q() -> list[Cell]:
            lf = prepared_frame(ctx.spec, ctx.query.steps).filter(pl.col(num.name).is_not_null())
            by = list(ctx.query.by)
            grouped = lf.group_by(by).agg(num.clipped().sort().alias("__v__")).collect()
            values = {tuple(r[:-1]): r[-1] for r in grouped.select([*by, "__v__"]).iter_rows()}
            cells = []
            for k in keys:
                ranks = mech.ranks(cands, np.asarray(values.get(k, []), dtype=np.float64))
                released = sorted(mech.release_quantiles([(x, ranks) for x in qm]))
                for q, v, x in zip(levels, released, qm, strict=True):
                    name = label if single else quantile_label(q)
                    cells.append(_cell(k, name, v, None, x.rank_error(ctx.alpha), "exponential"))
            return cells

        return _Job(loss, 0.0, "exponential", None, run_q)

    if stat == "sum":
        s_noise = num.noise("sum", target * SAFETY, True)
        loss = s_noise.loss_at(_sens(ctx, "sum", num))

        def run_sum() -> list[Cell]:
            frame = _grouped_frame(ctx, [num.int_sum().alias("__s__")], value_column=num.name)
            noisy = (
                s_noise.release(_aligned(frame, ctx.query.by, keys, "__s__"), keys) if keys else []
            )
            a = s_noise.accuracy(ctx.alpha) / num.scale
            return [
                _cell(
                    k,
                    label,
                    v / num.scale,
                    _interval(v / num.scale, a),
                    None,
                    s_noise.name,
                    num.sums,
                )
                for k, v in zip(keys, noisy, strict=True)
            ]

        return _Job(loss, 0.0, s_noise.name, s_noise.accuracy(ctx.alpha) / num.scale, run_sum)

    if stat not in ("mean", "var", "std"):
        raise _unsupported(ctx)
    weights = MEAN_WEIGHTS if stat == "mean" else VAR_WEIGHTS
    n_noise = _count_noise(ctx, target * weights[0] * SAFETY, True)
    s_noise = num.noise("csum", target * weights[1] * SAFETY, True)
    q_noise = num.noise("csq", target * VAR_WEIGHTS[2] * SAFETY, True) if stat != "mean" else None
    parts: list[tuple[mech.Noise, str, _Numeric | None]] = [
        (n_noise, "count", num),
        (s_noise, "csum", num),
    ]
    if q_noise is not None:
        parts.append((q_noise, "csq", num))
    loss = n_noise.loss_at(_sens(ctx, "count", num, vector=True)) + sum(
        x.loss_at(_sens(ctx, kind, num)) for x, kind, _ in parts[1:]
    )

    def run_moments() -> list[Cell]:
        aggs = [pl.len().alias("__n__"), num.centred_sum().alias("__s__")]
        if q_noise is not None:
            aggs.append(num.centred_squares().alias("__q__"))
        frame = _grouped_frame(ctx, aggs, value_column=num.name)
        if not keys:
            return []
        ns = n_noise.release(_aligned(frame, ctx.query.by, keys, "__n__"), keys)
        ss = s_noise.release(_aligned(frame, ctx.query.by, keys, "__s__"), keys)
        qs = (
            q_noise.release(_aligned(frame, ctx.query.by, keys, "__q__"), keys)
            if q_noise
            else [0] * len(keys)
        )
        cells = []
        for k, n, s, q in zip(keys, ns, ss, qs, strict=True):
            if q_noise is None:
                est, ci = _mean_from(
                    num, n, s, n_noise.accuracy(ctx.alpha / 2), s_noise.accuracy(ctx.alpha / 2)
                )
            else:
                a = [x.accuracy(ctx.alpha / 3) for x in (n_noise, s_noise, q_noise)]
                est, ci = _var_from(num, n, s, q, *a)
                if stat == "std":
                    est, ci = math.sqrt(est), (math.sqrt(ci[0]), math.sqrt(ci[1]))
            cells.append(_cell(k, label, est, ci, None, s_noise.name))
        return cells

    return _Job(loss, 0.0, s_noise.name, None, run_moments)


def _prepare_agg(ctx: _Ctx, keys: list[Key], target: float) -> _Job:
    spec_items: tuple[tuple[str, Any], ...] = ctx.query.param("spec", ())
    pairs = [
        (col, stat)
        for col, stats in spec_items
        for stat in (stats if isinstance(stats, tuple) else (stats,))
    ]
    if not pairs:
        raise InvalidArgumentError(
            "aggregate",
            ctx.spec.name,
            "agg needs at least one statistic",
            fixes=[f"{ctx.spec.name}.groupby('KEY').agg({{'COLUMN': 'mean'}})"],
        )
    share = target / len(pairs)
    jobs = []
    for col, stat in pairs:
        sub_q = Query(ctx.spec.name, ctx.query.steps, stat, col, ctx.query.by)
        sub = _Ctx(ctx.spec, sub_q, ctx.schema, ctx.measure, ctx.alpha, ctx.d_in)
        if stat in ("size", "count"):
            job = _grouped_counts_nonnull(sub, keys, share, col)
        else:
            if stat not in ("sum", "mean", "median", "var", "std", "min", "max"):
                raise _unsupported(sub)
            name, info = _column(sub)
            num = _Numeric(sub, name, require_bounds(ctx.spec, sub_q, name, info))
            job = _grouped_numeric(sub, keys, share, num, info, stat, label=f"{col} {stat}")
        jobs.append((col, stat, job))
    loss = sum(j.loss for _, _, j in jobs)

    def run() -> list[Cell]:
        cells = []
        for col, stat, job in jobs:
            for cell in job.run():
                cells.append(
                    Cell(
                        cell.key,
                        f"{col} {stat}",
                        cell.value,
                        cell.ci_low,
                        cell.ci_high,
                        cell.rank_error,
                        cell.mechanism,
                    )
                )
        return cells

    return _Job(loss, 0.0, "composition", None, run)
