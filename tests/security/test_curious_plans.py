"""Red team: the plans of the privacy-kernel issue, built on purpose by a curious user.

Each attempt runs in guard-rail mode and through the curator. An attempt passes when it is
refused before anything is charged, with a message that is the same whether or not the person
it targets is in the data, or when what comes out is an ordinary, charged release.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import jupyter_privacy as jp
from tests.security.conftest import SENTINEL_ID, Target, planted
from tests.security.test_red_team import refused, spent


@contextmanager
def no_hang(seconds: int = 60) -> Iterator[None]:
    """A liveness guard: a refusal that needs a search must still come back."""

    def hang(signum: int, frame: Any) -> None:
        raise AssertionError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def same_refusal_for_anyone(
    guarded: Target, build: Callable[[jp.SensitiveFrame, int], object], error: type[Exception]
) -> str:
    """The refusal for a plan aimed at the planted person equals the one for nobody."""
    p = guarded.frame
    before = spent(p)
    at_someone = refused(lambda: build(p, SENTINEL_ID), error)  # type: ignore[arg-type]
    at_nobody = refused(lambda: build(p, -1), error)  # type: ignore[arg-type]
    assert at_someone == at_nobody
    assert spent(p) == before, "a refused plan was charged"
    return at_someone


def test_a_histogram_whose_bin_width_underflows_is_refused_before_the_charge(
    guarded: Target,
) -> None:
    def bisect(p: jp.SensitiveFrame, pid: int) -> object:
        one = p[(p.patient_id == pid) & (p.age >= 40)]
        return one.age.clip(0, 5e-324).hist(bins=2, epsilon=1e-6)

    text = same_refusal_for_anyone(guarded, bisect, jp.InvalidArgumentError)
    assert "too narrow for 2 equal bins" in text

    def tiny_epsilon(p: jp.SensitiveFrame, pid: int) -> object:
        return p[p.patient_id == pid].age.clip(0, 100).hist(bins=2, epsilon=1e-9)

    assert "epsilon must be between 1e-06" in same_refusal_for_anyone(
        guarded, tiny_epsilon, jp.InvalidArgumentError
    )


def test_a_text_column_cannot_be_cast_to_bool(guarded: Target) -> None:
    text = refused(lambda: guarded.frame.city.astype(bool), jp.UnsupportedOperationError)
    assert "a str column cannot be cast to bool" in text


def test_a_histogram_over_a_single_point_never_repeats_a_cell(guarded: Target) -> None:
    def repeat(p: jp.SensitiveFrame, pid: int) -> object:
        return p[p.patient_id != pid].age.clip(0, 0).hist(bins=10_000, epsilon=0.1)

    assert "too narrow for 10000 equal bins" in same_refusal_for_anyone(
        guarded, repeat, jp.InvalidArgumentError
    )
    table = guarded.frame.age.clip(18, 90).hist(bins=3, epsilon=0.1)
    keys = [c.key for c in table.cells]
    assert len(keys) == len(set(keys)) == 3


def test_filling_a_keyed_column_with_another_kind_is_refused(guarded: Target) -> None:
    text = refused(lambda: guarded.frame.state.fillna(1), jp.InvalidArgumentError)
    assert "fillna needs a constant of the column's kind (str)" in text


def test_sums_whose_bounds_pass_int64_are_refused_not_wrapped(guarded: Target) -> None:
    p = guarded.frame
    text = refused(lambda: (p.income * 2e18).sum(epsilon=0.1), jp.MissingBoundsError)
    assert "has no public bounds" in text  # beyond ±1e15 the product is unbounded
    text = refused(lambda: (p.income * 2e18).clip(0, 5e23), jp.InvalidArgumentError)
    assert "clip bounds must be finite numbers within ±1e+15" in text
    wide = (p.income * 1e9).clip(0, 1e15)  # the widest bounds allowed: exact, not wrapped
    total = wide.sum(epsilon=1.0)
    assert total.ci[0] <= total.value <= total.ci[1] and total.value >= 0


def test_comparing_a_number_with_text_is_refused_before_the_charge(guarded: Target) -> None:
    def compare(p: jp.SensitiveFrame, pid: int) -> object:
        return p[(p.income > "x") & (p.patient_id == pid)].count(epsilon=0.1)

    text = same_refusal_for_anyone(guarded, compare, jp.UnsupportedOperationError)
    assert "'>' needs two numbers or two texts" in text


def test_a_tiny_epsilon_under_zcdp_is_refused_at_once(guarded: Target) -> None:
    with no_hang():
        text = refused(lambda: guarded.frame.count(epsilon=1e-17), jp.InvalidArgumentError)
    assert "epsilon must be between 1e-06 and 10000" in text


def test_grouping_by_three_thousand_label_cuts_is_capped_before_any_key_is_built(
    guarded: Target,
) -> None:
    p = guarded.frame
    edges = [18 + i * 72 / 1000 for i in range(1001)]
    cut = p.assign(a=jp.cut(p.age, edges), b=jp.cut(p.age, edges), c=jp.cut(p.income, edges))
    with no_hang():
        text = refused(lambda: cut.groupby(["a", "b", "c"]).size(epsilon=0.1))
    assert "1,000,000,000 cells, more than the cap of 10,000" in text


def test_no_refusal_or_release_fails_after_the_charge(guarded: Target) -> None:
    """The plans above in their valid forms release, charged, with no failure."""
    p = guarded.frame
    before = spent(p)
    p[p.patient_id == SENTINEL_ID].age.clip(0, 100).hist(bins=2, epsilon=0.1)
    p[p.patient_id == SENTINEL_ID].count(epsilon=0.1)
    p.age.clip(0, 1).hist(bins=10, epsilon=0.1)
    assert spent(p) > before
    audit = (
        [r["outcome"] for r in p._ws.ledger.audit_rows()] if guarded.mode == "guard-rail" else []
    )
    assert "failed" not in audit


@pytest.mark.parametrize("value", ["abc", "1e400", "", "12.5"])
def test_one_persons_value_cannot_change_a_csv_schema(home: Path, value: str) -> None:
    csv = home / "canary.csv"
    planted().to_csv(csv, index=False)
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("age")] = value
    other = home / "other.csv"
    other.write_text("\n".join([*lines[:5], ",".join(row), *lines[6:]]) + "\n")
    kwargs: dict[str, Any] = dict(
        privacy_unit="patient_id",
        budget=jp.Budget(epsilon=1.0),
        bounds={"age": (18, 90)},
        dtypes={"patient_id": "int"},
    )
    a = jp.register(csv, name="schema_a", **kwargs)
    b = jp.register(other, name="schema_b", **kwargs)
    assert a.dtypes == b.dtypes
    assert a.dtypes["city"] == "str" and a.dtypes["age"] == "float"
