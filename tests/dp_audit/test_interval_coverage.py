"""Released 95% intervals must cover the true (clipped) statistic at least 95% of the time.

Each test draws ``N`` independent releases through the real engine path (``prepare`` then
``run``), counts how often the interval contains a truth computed here from the raw data, and fails
only when that many hits would be less likely than ``FALSE_POSITIVE`` under 95% coverage. The
threshold is fixed in advance and nothing is retried, so a correct engine fails a test with
probability at most 1e-6; one whose intervals truly cover 90% fails with probability > 0.99.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from jupyter_privacy.core import engine
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.workspace import Workspace

N = 1500  # releases per test
LEVEL = 0.95  # the coverage the intervals claim
ALPHA = 1 - LEVEL
FALSE_POSITIVE = 1e-6  # per test, fixed before any release is drawn
EPSILON = 1.0
DELTA = 1e-6
LO, HI = 0.0, 10.0
ROWS = 400
KEYS = ("a", "b", "c")

PURE = Budget(epsilon=EPSILON)
ZCDP = Budget(epsilon=EPSILON, delta=DELTA)
BUDGETS = [pytest.param(PURE, id="pure"), pytest.param(ZCDP, id="zcdp")]

Key = tuple[Any, ...]


def integer_frame(seed: int) -> pd.DataFrame:
    """Integers partly outside [LO, HI], so clipping matters and fixed-point sums are exact."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.integers(-4, 15, ROWS)})


def float_frame(seed: int) -> pd.DataFrame:
    """Floats partly outside [LO, HI], with some nulls that mean and var must skip."""
    rng = np.random.default_rng(seed)
    x = rng.normal(6.0, 4.0, ROWS)
    x[::20] = np.nan
    return pd.DataFrame({"x": x})


def clipped(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = frame["x"].to_numpy(dtype=np.float64)
    return np.clip(values[~np.isnan(values)], LO, HI)


def prepare(
    ws: Workspace,
    frame: pd.DataFrame,
    budget: Budget,
    query: Query,
    alpha: float = ALPHA,
    name: str = "d",
    bounds: Mapping[str, tuple[float, float]] | None = None,
    not_null: tuple[str, ...] = (),
) -> engine.Prepared:
    """Register ``frame`` as ``name`` (x in [LO, HI] unless ``bounds`` say otherwise); calibrate
    ``query`` to one ε of ``budget``, as the ledger does."""
    if bounds is None:
        bounds = {"x": (LO, HI)} if "x" in frame.columns else None
    keys = {"g": list(KEYS)} if "g" in frame.columns else None
    spec = ws.register(frame, name=name, budget=budget, bounds=bounds, keys=keys, not_null=not_null)
    if budget.mode == "pure":
        target = EPSILON
    else:
        target = engine.rho_of_epsilon(EPSILON, budget.conversion_delta)
    prepared = engine.prepare(spec, query, PrivacyLoss.of(budget.mode, target), alpha)
    assert 0 < prepared.loss.value <= target
    return prepared


def hits(prepared: engine.Prepared, truth: Mapping[Key, float], n: int = N) -> dict[Key, int]:
    """For each released key, how many of ``n`` fresh intervals contained its true value."""
    covered = dict.fromkeys(truth, 0)
    for _ in range(n):
        cells = prepared.run()
        assert sorted(c.key for c in cells) == sorted(truth)
        for cell in cells:
            assert cell.ci_low is not None and cell.ci_high is not None
            covered[cell.key] += cell.ci_low <= truth[cell.key] <= cell.ci_high
    return covered


def too_few(covered: int, n: int, false_positive: float = FALSE_POSITIVE) -> bool:
    """Whether ``covered`` of ``n`` is implausible (p < false_positive) under LEVEL coverage."""
    return float(binom.cdf(covered, n, LEVEL)) < false_positive


def assert_covers(covered: int, n: int, what: str, false_positive: float = FALSE_POSITIVE) -> None:
    assert not too_few(covered, n, false_positive), (
        f"{what}: {covered}/{n} = {covered / n:.4f} intervals covered the truth; "
        f"P[Binomial({n}, {LEVEL}) ≤ {covered}] = {binom.cdf(covered, n, LEVEL):.3g}"
    )


@pytest.mark.parametrize("budget", BUDGETS)
def test_count_intervals_cover_the_true_count_at_least_95_percent(
    ws: Workspace, budget: Budget
) -> None:
    frame = integer_frame(seed=1)
    prepared = prepare(ws, frame, budget, Query("d", (), "count"))
    covered = hits(prepared, {(): float(len(frame))})
    assert_covers(covered[()], N, f"count ({budget.mode})")


def test_sum_intervals_cover_the_clipped_true_sum_at_least_95_percent(ws: Workspace) -> None:
    """Integer data: every clipped value is exact on the 2^-p grid, so the truth is unambiguous.

    Pure only: zCDP sums share the discrete Gaussian interval code with zCDP counts.
    """
    frame = integer_frame(seed=2)
    prepared = prepare(ws, frame, PURE, Query("d", (), "sum", "x"))
    covered = hits(prepared, {(): float(clipped(frame).sum())})
    assert_covers(covered[()], N, "sum")


@pytest.mark.parametrize("budget", BUDGETS)
def test_mean_intervals_cover_the_clipped_true_mean_at_least_95_percent(
    ws: Workspace, budget: Budget
) -> None:
    """Float data: the interval is widened by one grid step for fixed-point rounding."""
    frame = float_frame(seed=3)
    prepared = prepare(ws, frame, budget, Query("d", (), "mean", "x"))
    covered = hits(prepared, {(): float(clipped(frame).mean())})
    assert_covers(covered[()], N, f"mean ({budget.mode})")


@pytest.mark.parametrize("budget", BUDGETS)
def test_var_intervals_cover_the_clipped_population_variance_at_least_95_percent(
    ws: Workspace, budget: Budget
) -> None:
    frame = float_frame(seed=4)
    prepared = prepare(ws, frame, budget, Query("d", (), "var", "x"))
    covered = hits(prepared, {(): float(np.var(clipped(frame), ddof=0))})
    assert_covers(covered[()], N, f"var ({budget.mode})")


def test_grouped_count_intervals_cover_every_declared_keys_count_at_least_95_percent(
    ws: Workspace,
) -> None:
    """Declared key "c" has no rows (truth 0); "z" is undeclared and must not be released.

    Each key is tested at FALSE_POSITIVE / len(KEYS) so the test as a whole keeps 1e-6.
    """
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "b", "z"], ROWS)})
    prepared = prepare(ws, frame, PURE, Query("d", (), "size", None, ("g",)))
    truth = {(k,): float((frame["g"] == k).sum()) for k in KEYS}
    covered = hits(prepared, truth)
    for key, count in covered.items():
        assert_covers(count, N, f"count of {key}", FALSE_POSITIVE / len(KEYS))


def condition_frame(seed: int) -> pd.DataFrame:
    """A condition with nulls, true for about 30% of group "a", never in "b", always in "c" (the
    smallest group): the interval must cover shares at 0 and 1, where it is clipped."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "a", "a", "a", "b", "b", "c"], ROWS)
    flag = pd.array(np.where(g == "a", rng.random(ROWS) < 0.3, g == "c"), dtype="boolean")
    flag[::25] = pd.NA
    return pd.DataFrame({"flag": flag, "g": g})


@pytest.mark.parametrize("budget", BUDGETS)
def test_proportion_intervals_cover_the_true_share_and_stay_within_0_and_1(
    ws: Workspace, budget: Budget
) -> None:
    """The whole share and each group's: four checks at FALSE_POSITIVE / 4 each."""
    frame = condition_frame(seed=7)
    known = frame.dropna(subset=["flag"])
    truth = {(): float(known.flag.mean())}
    truth |= {(k,): float(known[known.g == k].flag.mean()) for k in KEYS}
    whole = prepare(ws, frame, budget, Query("d", (), "proportion", "flag"))
    grouped = prepare(ws, frame, budget, Query("d", (), "proportion", "flag", ("g",)))
    covered = dict.fromkeys(truth, 0)
    for _ in range(N):
        cells = whole.run() + grouped.run()
        assert sorted(c.key for c in cells) == sorted(truth)
        for cell in cells:
            assert cell.ci_low is not None and cell.ci_high is not None
            assert 0 <= cell.ci_low <= cell.value <= cell.ci_high <= 1, cell
            covered[cell.key] += cell.ci_low <= truth[cell.key] <= cell.ci_high
    for key, count in covered.items():
        assert_covers(count, N, f"proportion {key} ({budget.mode})", FALSE_POSITIVE / len(truth))


def test_the_coverage_check_rejects_intervals_built_for_a_lower_confidence(
    ws: Workspace,
) -> None:
    """The check has power: 50% intervals passed off as 95% ones are caught in 300 releases.

    (Discrete noise makes 50% count intervals cover about 80%; that is still flagged.)
    """
    frame = integer_frame(seed=6)
    prepared = prepare(ws, frame, PURE, Query("d", (), "count"), alpha=0.5)
    n = 300
    covered = hits(prepared, {(): float(len(frame))}, n)
    assert too_few(covered[()], n), f"{covered[()]}/{n} half-width intervals were not flagged"
