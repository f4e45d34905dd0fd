"""Exact budget arithmetic: decimal intent, no float drift, nothing is free."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_privacy.core.budget import Budget, Cost, exact, fits
from jupyter_privacy.core.errors import InvalidArgumentError


def test_ten_charges_of_a_tenth_exhaust_one_exactly_and_the_eleventh_is_refused() -> None:
    total, spent, step = Cost(epsilon=exact(1.0)), Cost(), Cost(epsilon=exact(0.1))
    for _ in range(10):
        assert fits(step, spent, total, "pure")
        spent = spent + step
    assert spent.epsilon == 1
    assert not fits(step, spent, total, "pure")


def test_a_charge_of_1e_320_is_not_free() -> None:
    tiny = exact(1e-320)
    assert tiny > 0
    full = Cost(epsilon=exact(1.0))
    assert not fits(Cost(epsilon=tiny), full, full, "pure")


@given(
    st.lists(st.floats(min_value=1e-300, max_value=10, allow_nan=False), min_size=1, max_size=30)
)
def test_charges_fit_exactly_when_their_decimal_sum_is_within_the_total(
    values: list[float],
) -> None:
    total = sum((exact(v) for v in values), Fraction(0))
    spent = Cost()
    budget = Cost(epsilon=total)
    for v in values:
        assert fits(Cost(epsilon=exact(v)), spent, budget, "pure")
        spent = spent + Cost(epsilon=exact(v))
    assert spent.epsilon == total
    assert not fits(Cost(epsilon=exact(5e-324)), spent, budget, "pure")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_exact_reads_a_float_as_its_shortest_decimal(value: float) -> None:
    assert exact(value) == Fraction(repr(value))
    assert float(exact(value)) == value


@given(st.fractions(min_value=0, max_value=10), st.fractions(min_value=0, max_value=10))
def test_cost_json_round_trips_exactly(a: Fraction, b: Fraction) -> None:
    cost = Cost(epsilon=a, rho=b, delta=a / 7)
    assert Cost.from_json(cost.to_json()) == cost


def test_zcdp_charges_check_rho_and_delta_not_the_nominal_epsilon() -> None:
    total = Cost(epsilon=exact(1.0), rho=exact(0.02), delta=exact(5e-7))
    assert fits(Cost(epsilon=exact(5.0), rho=exact(0.02), delta=Fraction(0)), Cost(), total, "zcdp")
    assert not fits(Cost(rho=exact(0.0200001)), Cost(), total, "zcdp")
    assert not fits(Cost(delta=exact(6e-7)), Cost(), total, "zcdp")


@pytest.mark.parametrize(
    "epsilon, delta",
    [
        (0, 0),
        (-1, 0),
        (math.nan, 0),
        (math.inf, 0),
        ("1", 0),
        (True, 0),
        (1.0, -1e-9),
        (1.0, math.nan),
        (1.0, 1.0),
        (1.0, math.inf),
    ],
)
def test_budget_rejects_bad_parameters(epsilon: object, delta: object) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        Budget(epsilon=epsilon, delta=delta)  # type: ignore[arg-type]
    assert err.value.render().startswith("Refused to create a budget")


@pytest.mark.parametrize("epsilon, delta, mode", [(1.0, 0.0, "pure"), (2.000000001, 1e-6, "zcdp")])
def test_budget_mode_follows_delta(epsilon: float, delta: float, mode: str) -> None:
    assert Budget(epsilon=epsilon, delta=delta).mode == mode
