"""Refusals depend only on public information: identical on datasets that differ in one row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.plan import Query
from tests.conftest import make_patients, register_patients

SENTINEL_AGE = 87
SENTINEL_INCOME = 123_456.789


def _neighbours() -> tuple[pd.DataFrame, pd.DataFrame]:
    base = make_patients(300, seed=5)
    extra = base.iloc[[0]].assign(
        patient_id=10_000, age=SENTINEL_AGE, income=SENTINEL_INCOME, state="TX", city="c_secret"
    )
    return base, pd.concat([base, extra], ignore_index=True)


REFUSALS: list[tuple[str, Callable[[jp.SensitiveFrame], object]]] = [
    ("head", lambda p: p.head()),
    ("len", lambda p: len(p)),
    ("iloc", lambda p: p.iloc[0]),
    ("unknown keys, pure budget", lambda p: p.groupby("city").size()),
    ("no bounds", lambda p: p.patient_id.mean()),
    ("text mean", lambda p: p.city.mean()),
    ("bad epsilon", lambda p: p.age.mean(epsilon=0)),
    ("over budget", lambda p: p.age.mean(epsilon=5.0)),
    ("accuracy unsupported", lambda p: p.age.median(accuracy=1)),
    ("unsupported", lambda p: p.age.cumsum()),
    ("apply", lambda p: p.age.apply(print)),
    ("share of a number", lambda p: jp.workspace().run(Query("patients", (), "proportion", "age"))),
    ("share with accuracy", lambda p: (p.age > 65).mean(accuracy=0.01)),
]


def _refusal(tmp: Path, df: pd.DataFrame, call: Callable[[jp.SensitiveFrame], object]) -> str:
    jp.use_workspace(tmp)
    p = register_patients(df, budget=jp.Budget(epsilon=1.0))
    p.age.mean(epsilon=0.6)  # spend some budget first, identically on both sides
    with pytest.raises(jp.PrivacyError) as err:
        call(p)
    return f"{type(err.value).__name__}: {err.value}"


@pytest.mark.parametrize("label, call", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refusal_is_identical_on_neighbouring_datasets(
    tmp_path: Path, label: str, call: Callable[[jp.SensitiveFrame], object]
) -> None:
    small, large = _neighbours()
    a = _refusal(tmp_path / "a", small, call)
    b = _refusal(tmp_path / "b", large, call)
    assert a == b
    for secret in (str(SENTINEL_AGE), "123456", "123,456", "c_secret", "300", "301"):
        assert secret not in a, f"{label}: refusal mentions {secret}"


def test_the_budget_refusal_reads_as_in_the_style_guide(home: Path) -> None:
    p = register_patients(make_patients(), budget=jp.Budget(epsilon=0.62))
    p.income.mean(epsilon=0.5)
    with pytest.raises(jp.BudgetExceededError) as err:
        p.income.mean(epsilon=0.2)
    assert str(err.value) == (
        "Refused to compute mean of 'income' on 'patients': the query costs more than remains.\n"
        "  requested  ε = 0.200\n"
        "  remaining  ε = 0.120\n"
        "Try: patients.income.mean(epsilon=0.06)   or   patients.income.mean(dry_run=True)"
    )
    assert err.value.code == "budget_exceeded"
    assert p.budget.epsilon_spent == pytest.approx(0.5)


def test_an_exhausted_budget_refuses_everything_but_replays(home: Path) -> None:
    p = register_patients(make_patients(), budget=jp.Budget(epsilon=0.3))
    first = p.age.mean(epsilon=0.3)
    with pytest.raises(jp.BudgetExceededError, match="the budget is spent"):
        p.count(epsilon=0.01)
    again = p.age.mean(epsilon=0.3)
    assert again.replayed and float(again) == float(first)
    assert p.count(epsilon=0.01, dry_run=True).remaining_epsilon == 0


def test_zcdp_budget_composes_below_the_naive_sum(home: Path) -> None:
    p = register_patients(make_patients(), budget=jp.Budget(epsilon=3.0, delta=1e-6))
    for i in range(8):
        p.age.mean(epsilon=0.5 + i * 1e-3)
    state = p.budget
    assert state.naive_epsilon == pytest.approx(4.028)
    assert state.epsilon_spent < state.epsilon_total < state.naive_epsilon
    assert "the per-query ε add up to 4.028" in repr(state)
