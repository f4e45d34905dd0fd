"""A first empirical DP audit: neighbouring datasets must not be told apart beyond the charged ε.

For neighbours D and D' = D plus one row we draw M releases on each through the real engine path
and pick a one-sided event S from public information only (a threshold at a true value, never
tuned on the outputs). Clopper–Pearson gives a lower bound on P[M(A) ∈ S] and an upper bound on
P[M(B) ∈ S], each failing with probability ≤ 5e-7, so

    ε_lower = ln(lower / upper)

exceeds the true privacy loss with probability ≤ 1e-6 per test. For discrete Laplace noise the
threshold events used here are the optimal ones (their likelihood ratio is exactly e^{1/scale}),
so ε_lower also comes close to the charged ε; the last test checks that the audit catches a
mechanism calibrated to twice the ε it claims.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from jupyter_privacy.core import engine
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.workspace import Workspace

EPSILON = 1.0  # charged per release; ~1 balances a large ratio against rare events
M_COUNT = 20_000  # releases per dataset
M_SUM = 6_000  # a sum release costs 2-3x a count release (its fixed-point polars aggregate)
M_SANITY = 2_500  # a 2x leak is caught with a wide margin even so
MISS = 5e-7  # per Clopper–Pearson bound; two bounds per test keep each test at 1e-6
LO, HI = 0, 10
ROWS = 200

Floats = np.ndarray[tuple[int], np.dtype[np.float64]]


@dataclass(frozen=True)
class Neighbours:
    """M releases on D and on D', the true statistics of both, and the verified loss."""

    on_d: Floats
    on_d_prime: Floats
    truth_d: float
    truth_d_prime: float
    loss: float


def clopper_pearson(hits: int, trials: int, miss: float = MISS) -> tuple[float, float]:
    """One-sided bounds (lower, upper) on a binomial probability, each wrong w.p. ≤ ``miss``."""
    lower = float(beta.ppf(miss, hits, trials - hits + 1)) if hits > 0 else 0.0
    upper = float(beta.ppf(1 - miss, hits + 1, trials - hits)) if hits < trials else 1.0
    return lower, upper


def epsilon_lower_bound(in_a: np.ndarray, in_b: np.ndarray) -> float:
    """ln(lower bound on P[M(A) ∈ S] / upper bound on P[M(B) ∈ S]) from event indicators."""
    lower, _ = clopper_pearson(int(in_a.sum()), in_a.size)
    _, upper = clopper_pearson(int(in_b.sum()), in_b.size)
    return math.log(lower / upper) if lower > 0 else -math.inf


def releases(prepared: engine.Prepared, m: int) -> Floats:
    return np.fromiter((prepared.run()[0].value for _ in range(m)), dtype=np.float64, count=m)


def audit(
    ws: Workspace,
    d: pd.DataFrame,
    added: pd.DataFrame,
    query: Callable[[str], Query],
    truth: Callable[[pd.DataFrame], float],
    m: int,
    target: float = EPSILON,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> Neighbours:
    """Register D and D' = D + ``added`` and release ``query`` ``m`` times on each."""
    d_prime = pd.concat([d, added], ignore_index=True)
    runs = []
    for name, frame in (("d", d), ("d_prime", d_prime)):
        spec = ws.register(frame, name=name, budget=Budget(epsilon=100.0), bounds=bounds)
        prepared = engine.prepare(spec, query(name), target, "pure", 0.05)
        runs.append((prepared, releases(prepared, m)))
    (p_d, on_d), (p_dp, on_dp) = runs
    assert p_d.loss == p_dp.loss <= target  # one calibration, independent of the data
    return Neighbours(on_d, on_dp, truth(d), truth(d_prime), p_d.loss)


def integer_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.integers(-3, 14, ROWS)})


def clipped_sum(frame: pd.DataFrame) -> float:
    return float(frame["x"].clip(LO, HI).sum())


@pytest.fixture(scope="module")
def counts(tmp_path_factory: pytest.TempPathFactory) -> Neighbours:
    ws = Workspace(tmp_path_factory.mktemp("count"))
    try:
        return audit(
            ws,
            integer_frame(seed=11),
            pd.DataFrame({"x": [5]}),
            lambda name: Query(name, (), "count"),
            lambda frame: float(len(frame)),
            M_COUNT,
        )
    finally:
        ws.close()


@pytest.fixture(scope="module")
def sums(tmp_path_factory: pytest.TempPathFactory) -> Neighbours:
    """The added row lies far above HI: clipped, it moves the sum by the full HI - 0 = 10.

    (Were clipping broken it would move the sum by 1000 and the audit would fail loudly.)
    """
    ws = Workspace(tmp_path_factory.mktemp("sum"))
    try:
        return audit(
            ws,
            integer_frame(seed=12),
            pd.DataFrame({"x": [100 * HI]}),
            lambda name: Query(name, (), "sum", "x"),
            clipped_sum,
            M_SUM,
            bounds={"x": (LO, HI)},
        )
    finally:
        ws.close()


def check(eps_lower: float, loss: float) -> None:
    assert eps_lower <= loss, f"empirical ε ≥ {eps_lower:.4f} exceeds the verified loss {loss}"
    # Not a privacy property but a guard on the audit itself: with optimal events it must
    # certify a good part of ε, or it would pass any mechanism, however leaky.
    assert eps_lower >= 0.5 * loss, f"the audit certified only ε ≥ {eps_lower:.4f} of {loss}"


def test_count_output_at_or_above_the_larger_true_count_is_no_likelier_than_epsilon_allows(
    counts: Neighbours,
) -> None:
    """S = {output ≥ |D'|}: likelier on D' than on D, by at most e^ε."""
    t = counts.truth_d_prime
    check(epsilon_lower_bound(counts.on_d_prime >= t, counts.on_d >= t), counts.loss)


def test_count_output_at_or_below_the_smaller_true_count_is_no_likelier_than_epsilon_allows(
    counts: Neighbours,
) -> None:
    """S = {output ≤ |D|}: the symmetric direction, likelier on D than on D'."""
    t = counts.truth_d
    check(epsilon_lower_bound(counts.on_d <= t, counts.on_d_prime <= t), counts.loss)


def test_sum_output_at_or_above_the_larger_clipped_sum_is_no_likelier_than_epsilon_allows(
    sums: Neighbours,
) -> None:
    """Integer data make both sums exact on the fixed-point grid, so ≥ t compares exactly."""
    t = sums.truth_d_prime
    assert t == sums.truth_d + HI
    check(epsilon_lower_bound(sums.on_d_prime >= t, sums.on_d >= t), sums.loss)


def test_sum_output_at_or_below_the_smaller_clipped_sum_is_no_likelier_than_epsilon_allows(
    sums: Neighbours,
) -> None:
    t = sums.truth_d
    check(epsilon_lower_bound(sums.on_d <= t, sums.on_d_prime <= t), sums.loss)


def test_the_audit_detects_a_count_calibrated_to_twice_the_epsilon_it_claims(
    tmp_path: Path,
) -> None:
    """A release prepared at ε = 2 but charged ε = 1 must be caught: ε_lower > 1."""
    ws = Workspace(tmp_path)
    try:
        leaky = audit(
            ws,
            integer_frame(seed=13),
            pd.DataFrame({"x": [5]}),
            lambda name: Query(name, (), "count"),
            lambda frame: float(len(frame)),
            M_SANITY,
            target=2 * EPSILON,
        )
    finally:
        ws.close()
    t = leaky.truth_d_prime
    eps_lower = epsilon_lower_bound(leaky.on_d_prime >= t, leaky.on_d >= t)
    assert eps_lower > EPSILON, f"the audit missed a 2x-leaky count (ε_lower = {eps_lower:.4f})"
