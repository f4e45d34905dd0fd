"""Every released interval is honest: std, grouped sums and moments, quantiles' rank bounds,
describe's cells, value counts and histograms, and every interval inside the feasible range.

The method is ``test_interval_coverage.py``'s: ``n`` independent releases through the real engine
path (``prepare`` then ``run``), a truth computed here from the raw data, and a binomial threshold
fixed before any release is drawn. A test that checks several cells tests each at
``FALSE_POSITIVE / cells`` (Bonferroni), so a correct engine fails the test with probability at
most 1e-6; nothing is retried.

Quantiles carry no interval but a rank bound ``r`` (``Cell.rank_error``, in rows). OpenDP scores a
candidate ``c`` by ``|den·#(x < c) − num·(n − #(x = c))|`` (``mechanisms.Quantile.scores``), so
rows equal to ``c`` count as neither below nor above it. The claim checked here is the one that
ties allow: the target rank ``q·n`` lies within ``[#(x < v) − r, #(x ≤ v) + r]`` for the released
value ``v``, among the clipped non-null values. For ``min`` (q = 0) that says at most ``r`` values
lie below ``v``; for ``max`` (q = 1), at most ``r`` above it.

Feasibility is checked on every draw, deterministically: counts in [0, ∞), proportions in [0, 1],
means in [lo, hi], standard deviations in [0, (hi − lo)/2], variances in [0, ((hi − lo)/2)²],
quantiles inside the bounds and monotone, and every value inside its own interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from jupyter_privacy.core import engine
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    candidates_for,
    with_outer_candidates,
)
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.schema import ColumnInfo, fill_value
from jupyter_privacy.core.workspace import Workspace
from tests.dp_audit.test_interval_coverage import prepare as prepare_bounded

N = 1000  # releases per test
LEVEL = 0.95
ALPHA = 1 - LEVEL
FALSE_POSITIVE = 1e-6  # per test, split evenly over the cells it checks
EPSILON = 1.0
DELTA = 1e-6
LO, HI = 0.0, 10.0
Y_LO, Y_HI = -5.0, 5.0  # a second column, for the whole-frame describe
ROWS = 400
KEYS = ("a", "b", "c")
DESCRIBE_LABELS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
QUANTILE_LABELS = ("min", "25%", "50%", "75%", "max")
DESCRIBE_LEVELS = dict(zip(QUANTILE_LABELS, (0.0, 0.25, 0.5, 0.75, 1.0), strict=True))

PURE = Budget(epsilon=EPSILON)
ZCDP = Budget(epsilon=EPSILON, delta=DELTA)
BUDGETS = [pytest.param(PURE, id="pure"), pytest.param(ZCDP, id="zcdp")]

Key = tuple[Any, ...]
Truth = Mapping[tuple[Key, str], float]
Values = np.ndarray[Any, np.dtype[np.float64]]


# --- data -----------------------------------------------------------------------------------------


def float_frame(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """Floats partly outside [LO, HI] (clipping matters), with nulls; a group key over the
    declared KEYS plus an undeclared "z". Group "c" is small (about 25 rows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(6.0, 4.0, rows)
    x[::20] = np.nan
    g = rng.choice(["a"] * 10 + ["b"] * 8 + ["c", "z"], rows)
    return pd.DataFrame({"x": x, "g": g})


def smooth_frame(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """Floats with few values beyond the bounds (about 1% clipped at each end) and some nulls:
    continuous around every quantile describe releases, so the grid of 1,001 candidates has one
    within a fraction of a row of each target rank. A second column ``y`` in [Y_LO, Y_HI]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 2.0, rows)
    x[::20] = np.nan
    y = rng.normal(0.0, 2.0, rows)
    y[::15] = np.nan
    return pd.DataFrame({"x": x, "y": y})


def clipped(frame: pd.DataFrame, column: str = "x", lo: float = LO, hi: float = HI) -> Values:
    values = frame[column].to_numpy(dtype=np.float64)
    out: Values = np.clip(values[~np.isnan(values)], lo, hi)
    return out


def bounds_of(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    declared = {"x": (LO, HI), "y": (Y_LO, Y_HI)}
    return {c: b for c, b in declared.items() if c in frame.columns}


def prepare(
    ws: Workspace,
    frame: pd.DataFrame,
    budget: Budget,
    query: Query,
    alpha: float = ALPHA,
    name: str = "d",
    not_null: tuple[str, ...] = (),
) -> engine.Prepared:
    """``test_interval_coverage.prepare`` with every numeric column bounded."""
    bounds = bounds_of(frame) or {}
    return prepare_bounded(ws, frame, budget, query, alpha, name, bounds, not_null)


# --- checks ---------------------------------------------------------------------------------------


def too_few(covered: int, n: int, false_positive: float = FALSE_POSITIVE) -> bool:
    """Whether ``covered`` of ``n`` is implausible (p < false_positive) under LEVEL coverage."""
    return float(binom.cdf(covered, n, LEVEL)) < false_positive


def assert_all_cover(covered: Mapping[Any, int], n: int, what: str) -> None:
    """Each cell's count of hits, tested at FALSE_POSITIVE / cells (a union bound)."""
    fp = FALSE_POSITIVE / len(covered)
    short = {k: c for k, c in covered.items() if too_few(c, n, fp)}
    assert not short, (
        f"{what}: too few of {n} releases covered the truth (each cell tested at p < {fp:.2g}): "
        + "; ".join(
            f"{k}: {c}/{n}, P[Binomial({n}, {LEVEL}) ≤ {c}] = {binom.cdf(c, n, LEVEL):.3g}"
            for k, c in short.items()
        )
    )


def rank_holds(cell: Cell, sorted_values: Values, q: float, shrink: float = 1.0) -> bool:
    """Whether ``q·n`` lies within ``[#(x < v) − r, #(x ≤ v) + r]`` for the released ``v``
    (``r`` the cell's rank error times ``shrink``, which only the checker's self-test changes)."""
    assert cell.rank_error is not None and cell.ci_low is None and cell.ci_high is None, cell
    r = cell.rank_error * shrink
    below = int(np.searchsorted(sorted_values, cell.value, side="left"))
    at_or_below = int(np.searchsorted(sorted_values, cell.value, side="right"))
    return below - r <= q * len(sorted_values) <= at_or_below + r


def feasible(cell: Cell, low: float, high: float) -> None:
    """The value and its interval lie in [low, high], the value inside its interval."""
    assert cell.ci_low is not None and cell.ci_high is not None, cell
    assert low <= cell.ci_low <= cell.value <= cell.ci_high <= high, cell


COUNTS = (0.0, math.inf)
MEANS = (LO, HI)
STDS = (0.0, (HI - LO) / 2)
VARS = (0.0, ((HI - LO) / 2) ** 2)
SUMS = (0.0, math.inf)  # LO = 0: a sum of clipped values is never negative
FEASIBLE = {"count": COUNTS, "mean": MEANS, "std": STDS, "var": VARS, "sum": SUMS}


def interval_hits(
    prepared: engine.Prepared, truth: Truth, n: int = N, range_of: Mapping[str, Any] = FEASIBLE
) -> dict[tuple[Key, str], int]:
    """For each (key, statistic), how many of ``n`` fresh intervals contained its truth; every
    cell is checked for feasibility on every draw."""
    covered = dict.fromkeys(truth, 0)
    for _ in range(n):
        cells = prepared.run()
        assert sorted((c.key, c.statistic) for c in cells) == sorted(truth)
        for c in cells:
            feasible(c, *range_of[c.statistic])
            covered[c.key, c.statistic] += c.ci_low <= truth[c.key, c.statistic] <= c.ci_high  # type: ignore[operator]
    return covered


# --- std and grouped moments ----------------------------------------------------------------------


@pytest.mark.parametrize("budget", BUDGETS)
def test_std_intervals_cover_the_clipped_population_std_and_stay_within_0_and_half_the_range(
    ws: Workspace, budget: Budget
) -> None:
    frame = float_frame(seed=11)
    prepared = prepare(ws, frame, budget, Query("d", (), "std", "x"))
    truth = {((), "std"): float(np.std(clipped(frame), ddof=0))}
    assert_all_cover(interval_hits(prepared, truth), N, f"std ({budget.mode})")


def grouped_truth(frame: pd.DataFrame, statistic: str) -> dict[tuple[Key, str], float]:
    """Per declared key, the statistic of its clipped non-null values (population var and std)."""
    out: dict[tuple[Key, str], float] = {}
    for k in KEYS:
        v = clipped(frame[frame.g == k])
        assert len(v) > 10  # every declared key has data: its mean and variance are defined
        value = {"sum": v.sum(), "mean": v.mean(), "var": v.var(), "std": v.std()}[statistic]
        out[(k,), statistic] = float(value)
    return out


@pytest.mark.parametrize("statistic", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_grouped_intervals_cover_every_declared_keys_clipped_statistic(
    ws: Workspace, budget: Budget, statistic: str
) -> None:
    """Sum (on integers, exact on the fixed-point grid), mean, var and std per declared key; the
    undeclared key "z" is not released. Three cells at FALSE_POSITIVE / 3 each."""
    frame = float_frame(seed=12)
    if statistic == "sum":  # integers: every clipped value is exact in fixed point
        frame["x"] = np.round(frame["x"])
    prepared = prepare(ws, frame, budget, Query("d", (), statistic, "x", ("g",)))
    truth = grouped_truth(frame, statistic)
    covered = interval_hits(prepared, truth)
    assert_all_cover(covered, N, f"grouped {statistic} ({budget.mode})")


# --- quantiles: rank bounds -----------------------------------------------------------------------


def rank_hits(
    prepared: engine.Prepared,
    values: Mapping[Key, Values],
    levels: Mapping[str, float],
    n: int,
    shrink: float = 1.0,
) -> dict[tuple[Key, str], int]:
    """For each (key, label), how many of ``n`` releases kept their rank claim; the released
    values are checked to lie within the bounds and to be monotone in the level on every draw."""
    held = {(k, label): 0 for k in values for label in levels}
    for _ in range(n):
        cells = prepared.run()
        assert sorted((c.key, c.statistic) for c in cells) == sorted(held)
        for c in cells:
            assert LO <= c.value <= HI and c.rank_error is not None and c.rank_error > 0, c
            q = levels[c.statistic]
            held[c.key, c.statistic] += rank_holds(c, values[c.key], q, shrink)
        for k in values:
            by_level = [
                v for _, v in sorted((levels[c.statistic], c.value) for c in cells if c.key == k)
            ]
            assert by_level == sorted(by_level), cells
    return held


QUANTILE_QUERIES = [
    pytest.param("median", None, {"median": 0.5}, id="median"),
    pytest.param("min", None, {"min": 0.0}, id="min"),
    pytest.param("max", None, {"max": 1.0}, id="max"),
    pytest.param("quantile", 0.9, {"quantile": 0.9}, id="quantile-0.9"),
    pytest.param(
        "quantile",
        (0.1, 0.25, 0.5, 0.75, 0.9),
        {"10%": 0.1, "25%": 0.25, "50%": 0.5, "75%": 0.75, "90%": 0.9},
        id="quantile-5-levels",
    ),
]


@pytest.mark.parametrize(("statistic", "q", "levels"), QUANTILE_QUERIES)
@pytest.mark.parametrize("budget", BUDGETS)
def test_quantile_ranks_stay_within_their_rank_error_of_q_n(
    ws: Workspace, budget: Budget, statistic: str, q: Any, levels: dict[str, float]
) -> None:
    """Continuous data (a candidate within a fraction of a row of every target rank)."""
    frame = smooth_frame(seed=13)
    params = () if q is None else (("q", q),)
    prepared = prepare(ws, frame, budget, Query("d", (), statistic, "x", (), params))
    values = {(): np.sort(clipped(frame))}
    held = rank_hits(prepared, values, levels, N)
    assert_all_cover(held, N, f"{statistic} {q or ''} ({budget.mode})")


def test_grouped_median_ranks_stay_within_their_rank_error_in_every_declared_key(
    ws: Workspace,
) -> None:
    """Per declared key, among that key's clipped values (three cells at FALSE_POSITIVE / 3)."""
    frame = smooth_frame(seed=14).assign(
        g=np.random.default_rng(14).choice(["a", "a", "b", "c", "z"], ROWS)
    )
    prepared = prepare(ws, frame, PURE, Query("d", (), "median", "x", ("g",)))
    values = {(k,): np.sort(clipped(frame[frame.g == k])) for k in KEYS}
    held = rank_hits(prepared, values, {"median": 0.5}, N)
    assert_all_cover(held, N, "grouped median")


def blocked_median_frame(gap: int, rows: int = ROWS) -> pd.DataFrame:
    """Integers: half of the rest at 2, ``2·gap`` rows at 5, the other half at 8. The median
    candidate 5 scores 0, and candidates 3, 4, 6 and 7 miss the target rank by exactly ``gap``
    rows (``#(x < 4) = #(x ≤ 4) = rows/2 − gap``): the nearest wrong answers, placed just past the
    claimed rank error."""
    side = rows // 2 - gap
    return pd.DataFrame({"x": [2] * side + [5] * (2 * gap) + [8] * side})


@pytest.mark.parametrize("budget", BUDGETS)
def test_median_rank_error_is_not_too_small_when_wrong_candidates_sit_just_past_it(
    ws: Workspace, budget: Budget
) -> None:
    """The claimed rank error is read from one release (it does not depend on the data), then the
    data put four wrong candidates one row past it. With the union bound ``scale·ln(K/α)`` they
    win less than 2% of the time; the former ``scale/2·ln(K/α)`` let them win about 10% (pure)
    and 15% (zCDP) of the time, which 2,000 releases flag."""
    probe = prepare(ws, blocked_median_frame(gap=1), budget, Query("d", (), "median", "x"))
    (first,) = probe.run()
    assert first.rank_error is not None
    gap = math.floor(first.rank_error) + 1
    frame = blocked_median_frame(gap)
    query = Query("e", (), "median", "x")
    prepared = prepare(ws, frame, budget, query, name="e")
    n = 2 * N
    held = rank_hits(prepared, {(): np.sort(clipped(frame))}, {"median": 0.5}, n)
    assert_all_cover(held, n, f"median next to a block of {2 * gap} ties ({budget.mode})")


def test_the_rank_check_rejects_a_shrunk_rank_error(ws: Workspace) -> None:
    """The rank check has power: a tenth of the claimed rank error is caught in 300 releases."""
    frame = smooth_frame(seed=15)
    prepared = prepare(ws, frame, PURE, Query("d", (), "median", "x"))
    n = 300
    held = rank_hits(prepared, {(): np.sort(clipped(frame))}, {"median": 0.5}, n, shrink=0.1)
    assert too_few(held[(), "median"], n), f"{held} of {n} shrunk rank bounds were not flagged"


@pytest.mark.xfail(
    strict=True,
    reason="known defect, not fixed: OpenDP's score counts rows equal to a candidate as neither "
    "below nor above it, so where a candidate holds many tied rows a neighbour can score best "
    "and miss the target rank by far more than rank_error, which bounds only the noise",
)
def test_quantile_ranks_on_tied_integers_stay_within_their_rank_error(ws: Workspace) -> None:
    """The existing tests' integers: 30% of them clipped to HI = 10. The 75% target (300 of 400)
    lies in the block at 10 (rows 280..400), but OpenDP scores 10 at |280 − 0.75·280| = 70 rows
    and 9 at |258 − 0.75·378| = 25.5, so 9 wins nearly always and misses by 20 rows; the rank
    error at ε = 1 is about 8."""
    frame = pd.DataFrame({"x": np.random.default_rng(0).integers(-4, 15, ROWS)})
    prepared = prepare(ws, frame, PURE, Query("d", (), "quantile", "x", (), (("q", 0.75),)))
    held = rank_hits(prepared, {(): np.sort(clipped(frame))}, {"quantile": 0.75}, N)
    assert_all_cover(held, N, "75% of clipped integers")


# --- describe -------------------------------------------------------------------------------------


def describe_truth(frame: pd.DataFrame, columns: Mapping[str, tuple[float, float]]) -> Truth:
    """count, mean and std (population) of each column's clipped non-null values."""
    out: dict[tuple[Key, str], float] = {}
    multi = len(columns) > 1
    for name, (lo, hi) in columns.items():
        v = clipped(frame, name, lo, hi)
        key: Key = (name,) if multi else ()
        out |= {(key, "count"): len(v), (key, "mean"): v.mean(), (key, "std"): v.std()}
    return out


def check_describe(
    prepared: engine.Prepared,
    frame: pd.DataFrame,
    columns: Mapping[str, tuple[float, float]],
    what: str,
) -> None:
    """Every cell of ``N`` describes: intervals cover their truths, quantiles keep their rank
    claims, and everything is feasible; all cells together at FALSE_POSITIVE."""
    multi = len(columns) > 1
    keyed = {((name,) if multi else ()): bounds for name, bounds in columns.items()}
    values = {
        ((name,) if multi else ()): np.sort(clipped(frame, name, lo, hi))
        for name, (lo, hi) in columns.items()
    }
    truth = describe_truth(frame, columns)
    covered = {(k, label): 0 for k in keyed for label in DESCRIBE_LABELS}
    for _ in range(N):
        cells = prepared.run()
        assert sorted((c.key, c.statistic) for c in cells) == sorted(covered)
        for c in cells:
            lo, hi = keyed[c.key]
            if c.statistic in DESCRIBE_LEVELS:
                assert lo <= c.value <= hi, c
                hit = rank_holds(c, values[c.key], DESCRIBE_LEVELS[c.statistic])
            else:
                half = (hi - lo) / 2
                ranges = {"count": COUNTS, "mean": (lo, hi), "std": (0.0, half)}
                feasible(c, *ranges[c.statistic])
                hit = c.ci_low <= truth[c.key, c.statistic] <= c.ci_high  # type: ignore[operator]
            covered[c.key, c.statistic] += hit
        for k in keyed:
            quantiles = {c.statistic: c.value for c in cells if c.key == k}
            ordered = [quantiles[label] for label in QUANTILE_LABELS]
            assert ordered == sorted(ordered), cells
    assert_all_cover(covered, N, what)


@pytest.mark.parametrize("budget", BUDGETS)
def test_describe_of_one_column_keeps_every_cells_claim(ws: Workspace, budget: Budget) -> None:
    frame = smooth_frame(seed=16)
    prepared = prepare(ws, frame, budget, Query("d", (), "describe", "x"))
    check_describe(prepared, frame, {"x": (LO, HI)}, f"describe x ({budget.mode})")


@pytest.mark.parametrize("budget", BUDGETS)
def test_describe_of_the_whole_frame_keeps_every_cells_claim(ws: Workspace, budget: Budget) -> None:
    frame = smooth_frame(seed=17)
    prepared = prepare(ws, frame, budget, Query("d", (), "describe", None))
    columns = {"x": (LO, HI), "y": (Y_LO, Y_HI)}
    check_describe(prepared, frame, columns, f"describe ({budget.mode})")


@pytest.mark.parametrize("budget", BUDGETS)
def test_describe_with_one_shared_row_count_keeps_every_cells_claim(
    ws: Workspace, budget: Budget
) -> None:
    """Both columns ``not_null``: one count of the rows serves both, and their nulls are read as
    the registration's public fill value (the truth is computed on the filled values)."""
    frame = smooth_frame(seed=18)
    columns = {"x": (LO, HI), "y": (Y_LO, Y_HI)}
    prepared = prepare(ws, frame, budget, Query("d", (), "describe", None), not_null=("x", "y"))
    filled = frame.fillna({c: fill_value(ColumnInfo("float", b)) for c, b in columns.items()})
    check_describe(prepared, filled, columns, f"describe, one row count ({budget.mode})")


EXTREME_RELEASES = 60


@pytest.mark.parametrize("side", ["min", "max"])
def test_describe_finds_a_min_or_max_on_a_bound_that_holds_many_rows(
    ws: Workspace, side: str
) -> None:
    """A tenth of 2,000 values lie beyond one bound (clipped onto it) and the rest near the
    other end, so 899 grid candidates between them score a whole block off the target, the
    bound's own candidate half a block (a padded median counts rows on a candidate as half off)
    and the candidate beyond the bound none. The bound must come out in all but a few of
    EXTREME_RELEASES: the mechanism's tail bound, with the scale read off the released rank
    error, caps every gap candidate's chance, and misses beyond a binomial quantile at
    FALSE_POSITIVE fail. (Without the outer candidate about a fifth
    miss.)"""
    rows, block = 2000, 200
    rng = np.random.default_rng(31)
    near = (
        rng.uniform(9.0, 10.0, rows - block) if side == "min" else rng.uniform(0, 1, rows - block)
    )
    beyond = LO - 1.0 if side == "min" else HI + 1.0
    frame = pd.DataFrame({"x": np.concatenate([np.full(block, beyond), near])})
    bound = LO if side == "min" else HI
    prepared = prepare(ws, frame, PURE, Query("d", (), "describe", "x"))
    grid = with_outer_candidates(candidates_for(ColumnInfo("float", (LO, HI))))
    misses, worst = 0, 0.0
    # padded by the true count, as the fuzzer does: the test is of the candidates, not the count
    with mech.fixed_padding_count(rows):
        for _ in range(EXTREME_RELEASES):
            cells = {c.statistic: c for c in prepared.run()}
            released, rank_error = cells[side].value, cells[side].rank_error
            assert rank_error is not None and LO <= released <= HI
            misses += released != bound
            # rank_error = scale·ln(2K/α) + the count's part + 1: at least the selection's scale
            scale = rank_error / math.log(2 * len(grid) / ALPHA)
            worst = max(worst, len(grid) * math.exp(-block / scale))
    # each miss is a gap candidate winning, at most ``worst`` likely, independently
    allowed = int(binom.isf(FALSE_POSITIVE, EXTREME_RELEASES, min(worst, 1.0)))
    assert allowed < EXTREME_RELEASES / 6, f"the test's bound is too loose to judge: {worst}"
    assert misses <= allowed, f"{side}: {misses} of {EXTREME_RELEASES} releases missed {bound}"


# --- value counts and histograms ------------------------------------------------------------------


@pytest.mark.parametrize("budget", BUDGETS)
def test_value_counts_over_declared_keys_cover_every_keys_count(
    ws: Workspace, budget: Budget
) -> None:
    """Declared "c" is rare; undeclared "z" is not released. Three cells at FALSE_POSITIVE / 3."""
    frame = float_frame(seed=18)
    prepared = prepare(ws, frame, budget, Query("d", (), "value_counts", "g"))
    truth = {((k,), "count"): float((frame.g == k).sum()) for k in KEYS}
    assert_all_cover(interval_hits(prepared, truth), N, f"value_counts ({budget.mode})")


@pytest.mark.parametrize("budget", BUDGETS)
def test_histogram_counts_cover_every_bins_count_of_clipped_values(
    ws: Workspace, budget: Budget
) -> None:
    """Five equal bins over [LO, HI], the last closed; clipped values count in the end bins,
    nulls in none. Five cells at FALSE_POSITIVE / 5."""
    frame = float_frame(seed=19)
    bins = 5
    prepared = prepare(ws, frame, budget, Query("d", (), "hist", "x", (), (("bins", bins),)))
    counts, _ = np.histogram(clipped(frame), bins=np.linspace(LO, HI, bins + 1))
    labels = [c.key for c in prepared.run()]
    assert len(labels) == bins
    truth = {(k, "count"): float(v) for k, v in zip(labels, counts, strict=True)}
    assert_all_cover(interval_hits(prepared, truth), N, f"hist ({budget.mode})")


# --- feasibility where noise dominates --------------------------------------------------------------


def tiny_draws(
    ws: Workspace, budget: Budget, rows: int
) -> Iterable[tuple[str, Callable[[], list[Cell]]]]:
    frame = float_frame(seed=20 + rows, rows=rows)
    flag = pd.array(np.arange(rows) % 3 == 0, dtype="boolean")
    frame = frame.assign(flag=flag)
    for i, (statistic, column, by) in enumerate(
        [
            ("count", None, ()),
            ("sum", "x", ()),
            ("mean", "x", ()),
            ("var", "x", ()),
            ("std", "x", ()),
            ("mean", "x", ("g",)),
            ("var", "x", ("g",)),
            ("std", "x", ("g",)),
            ("proportion", "flag", ()),
            ("proportion", "flag", ("g",)),
            ("describe", "x", ()),
        ]
    ):
        query = Query(f"t{i}", (), statistic, column, by)
        yield statistic, prepare(ws, frame, budget, query, name=f"t{i}").run


@pytest.mark.parametrize("rows", [3, 40])
@pytest.mark.parametrize("budget", BUDGETS)
def test_every_interval_stays_feasible_when_noise_swamps_the_data(
    ws: Workspace, budget: Budget, rows: int
) -> None:
    """On 3 and 40 rows the noisy count can be near or below 0, so the moment intervals take
    their clipped branches; on every draw every value and interval stays feasible."""
    ranges = FEASIBLE | {"proportion": (0.0, 1.0)}
    for _statistic, run in tiny_draws(ws, budget, rows):
        for _ in range(100):
            for c in run():
                if c.rank_error is not None:
                    assert LO <= c.value <= HI and c.ci_low is None, c
                else:
                    feasible(c, *ranges[c.statistic])
