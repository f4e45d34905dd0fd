"""Released bounds (``bounds="auto"``) meet their documented rank claim at level 1 − α.

The claim (``docs/bounds.md``): for each bound b released at level q (1% for ``lower``, 99% for
``upper``), with probability at least 1 − α its miss, |#(x < b) − q·#(x ≠ b)| rows, is at most
the grid's best candidate's miss plus the cell's ``rank_error``. So the bound contains the data's
q-quantile as tightly as the public grid allows, give or take ``rank_error`` rows.

The data is built so the claim is nearly tight: one candidate per bound misses by 0 rows, and
every candidate beyond the data (thousands on each side) misses by q·n, just above ``rank_error``.
Each test draws ``N`` releases through the real engine path and fails only when that many
violations would be less likely than ``FALSE_POSITIVE`` if the claim held: the binomial threshold
is fixed before any release is drawn, and nothing is retried.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from jupyter_privacy.core import auto_bounds, engine
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.workspace import Workspace

N = 1000  # releases per test
ALPHA = 0.05  # each bound's claim holds with probability at least 1 - ALPHA
FALSE_POSITIVE = 1e-6  # per test, fixed before any release is drawn
EPSILON = 1.0
BUDGETS = [
    pytest.param(Budget(epsilon=EPSILON), id="pure"),
    pytest.param(Budget(epsilon=EPSILON, delta=1e-6), id="zcdp"),
]
GRID = auto_bounds.grid("float")


def prepare(ws: Workspace, name: str, frame: pd.DataFrame, budget: Budget) -> engine.Prepared:
    """Register ``frame`` and calibrate its bounds release to ε = 1, as the ledger does."""
    spec = ws.register(frame, name=name, budget=budget)
    target = EPSILON if budget.mode == "pure" else engine.rho_of_epsilon(EPSILON, 1e-6)
    query = Query(name, (), auto_bounds.STATISTIC, "x")
    return engine.prepare(spec, query, PrivacyLoss.of(budget.mode, target), ALPHA)


def rank_error(ws: Workspace, budget: Budget) -> float:
    """The cells' rank error, which depends on ε, α and the grid only (not on the data)."""
    cells = prepare(ws, "probe", pd.DataFrame({"x": [1.0, 2.0]}), budget).run()
    errors = {c.rank_error for c in cells}
    assert len(errors) == 1
    return float(errors.pop())  # type: ignore[arg-type]


def near_tight(rows_at_q: int) -> pd.DataFrame:
    """One candidate each is exactly right, and every candidate beyond the data is q·n rows off.

    With c₋ < c < c₊ < c₊₊ four neighbouring candidates near 20: q·n rows between c₋ and c, the
    bulk between c and c₊, and q·n rows between c₊ and c₊₊. Then c leaves exactly q·n rows
    below it (the lower bound's only exact candidate), c₊ exactly q·n above it (the upper's),
    and the thousands of candidates below c₋ or above c₊₊ all miss by q·n."""
    i = GRID.index(min(GRID, key=lambda c: abs(c - 20.0)))
    c = GRID[i - 1 : i + 3]
    low, bulk, high = ((c[j] + c[j + 1]) / 2 for j in range(3))
    n = round(rows_at_q / auto_bounds.LEVELS[0])
    x = np.r_[np.full(rows_at_q, low), np.full(n - 2 * rows_at_q, bulk), np.full(rows_at_q, high)]
    return pd.DataFrame({"x": np.random.default_rng(0).permutation(x)})


def misses(values: np.ndarray[Any, Any], q: float) -> np.ndarray[Any, Any]:
    """Per candidate, |#(x < c) − q·#(x ≠ c)|: how far its rank is from the q-point, in rows."""
    below = np.searchsorted(values, GRID, side="left")
    equal = np.searchsorted(values, GRID, side="right") - below
    return np.abs(below - q * (len(values) - equal))


def violations(
    prepared: engine.Prepared, values: np.ndarray[Any, Any], shrink: float = 1.0
) -> dict[str, int]:
    """For each bound, how many of ``N`` releases miss by more than the best + rank_error."""
    table = {
        label: misses(values, q)
        for label, q in zip(auto_bounds.LABELS, auto_bounds.LEVELS, strict=True)
    }
    found = dict.fromkeys(auto_bounds.LABELS, 0)
    for _ in range(N):
        cells: list[Cell] = prepared.run()
        for c in cells:
            miss = table[c.statistic]
            assert c.rank_error is not None
            found[c.statistic] += miss[GRID.index(c.value)] > miss.min() + c.rank_error * shrink
    return found


def too_many(count: int) -> bool:
    """Whether ``count`` violations of ``N`` are implausible (p < FALSE_POSITIVE) at rate α."""
    return float(binom.sf(count - 1, N, ALPHA)) < FALSE_POSITIVE


@pytest.mark.parametrize("budget", BUDGETS)
def test_released_bounds_meet_their_rank_claim_with_probability_at_least_1_minus_alpha(
    ws: Workspace, budget: Budget
) -> None:
    error = rank_error(ws, budget)
    rows_at_q = math.ceil(1.05 * error)  # q·n just above the rank error: the hardest case
    frame = near_tight(rows_at_q)
    prepared = prepare(ws, "d", frame, budget)
    found = violations(prepared, np.sort(frame["x"].to_numpy()))
    for label, count in found.items():
        assert not too_many(count), (
            f"{label} ({budget.mode}): {count}/{N} releases broke the rank claim; "
            f"P[Binomial({N}, {ALPHA}) ≥ {count}] = {binom.sf(count - 1, N, ALPHA):.3g}"
        )


def test_the_check_has_power_against_a_rank_error_half_as_large(ws: Workspace) -> None:
    """A rank error of (scale / 2)·ln(|candidates| / α) is caught: on this data far candidates
    then win most of the time."""
    budget = Budget(epsilon=EPSILON)
    error = rank_error(ws, budget)
    frame = near_tight(math.ceil(1.05 * error / 2))
    prepared = prepare(ws, "d", frame, budget)
    found = violations(prepared, np.sort(frame["x"].to_numpy()), shrink=0.5)
    assert all(too_many(c) for c in found.values()), found
