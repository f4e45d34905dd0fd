"""Bad input gets a clear PrivacyError or PolicyError; nothing crashes; nothing is charged."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jupyter_privacy as jp
from tests.conftest import register_patients


def test_nan_none_and_inf_in_a_bounded_column_are_handled(home: Path) -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, None, np.inf, -np.inf, 5.0] * 50})
    p = jp.register(df, name="messy", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)})
    m = p.x.mean(epsilon=10.0)  # nulls and NaN are dropped, infinities clipped to the bounds
    assert 0 <= float(m) <= 10 and math.isfinite(m.ci[0])
    assert isinstance(p.x.median(epsilon=5.0), jp.Release)
    assert isinstance(p.x.describe(epsilon=5.0), jp.ReleaseTable)


def test_a_column_count_excludes_its_nulls(home: Path) -> None:
    df = pd.DataFrame({"x": [1.0, np.nan] * 200})
    p = jp.register(df, name="half", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)})
    assert abs(float(p.x.count(epsilon=20.0)) - 200) < 5
    assert abs(float(p.count(epsilon=20.0)) - 400) < 5


def test_an_empty_frame_releases_noise_not_an_error(home: Path) -> None:
    df = pd.DataFrame({"x": pd.Series([], dtype=float), "g": pd.Series([], dtype=str)})
    p = jp.register(
        df, name="empty", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)}, keys={"g": ["a"]}
    )
    for call in (
        p.count,
        p.x.sum,
        p.x.mean,
        p.x.median,
        p.x.var,
        p.describe,
        p.groupby("g").size,
        p.groupby("g").x.mean,
    ):
        call(epsilon=1.0)


def test_strings_in_a_numeric_csv_column_become_nulls(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text("x,g\n1,a\n2,b\nnot-a-number,a\n4,b\n" + "3,a\n" * 200)
    p = jp.register(csv, name="mixed", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)})
    assert abs(float(p.x.mean(epsilon=10.0)) - 3) < 1


def test_bounds_on_a_text_column_are_refused_at_registration(home: Path) -> None:
    df = pd.DataFrame({"x": ["1", "a", 3]})
    with pytest.raises(jp.PolicyError, match="bounds were given for 'x', which is str"):
        jp.register(df, name="t", budget=jp.Budget(epsilon=1.0), bounds={"x": (0, 10)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bounds": {"age": (90, 18)}}, "bounds for 'age' are reversed"),
        ({"bounds": {"age": (0, math.inf)}}, "must be two finite numbers"),
        ({"bounds": {"age": (0,)}}, "must be a pair"),
        ({"bounds": {"nope": (0, 1)}}, "bounds names 'nope', which is not a column"),
        ({"keys": {"state": []}}, "must be a non-empty list"),
        ({"keys": {"state": ["CA", "CA"]}}, "contain duplicates"),
        ({"privacy_unit": "nope"}, "privacy_unit names 'nope'"),
        ({"max_rows_per_unit": 0}, "max_rows_per_unit must be a positive integer"),
        ({"budget": None}, "a budget is required"),
        ({"budget": 3.0}, "a budget is required"),
        ({"name": "has space"}, "must be a Python identifier"),
        ({"default_epsilon": math.nan}, "epsilon must be a finite number > 0"),
        ({"alpha": 1.5}, "alpha must be a number between 1e-12 and 0.5"),
    ],
)
def test_bad_registrations_are_refused_clearly(
    home: Path, patients_df: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(jp.PrivacyError, match=message.replace("(", r"\(")):
        register_patients(patients_df, **kwargs)


def test_duplicate_column_names_are_refused(home: Path) -> None:
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(jp.PolicyError, match="uniquely named columns"):
        jp.register(df, name="dup", budget=jp.Budget(epsilon=1.0))


def test_missing_and_unsupported_files_are_refused(home: Path, tmp_path: Path) -> None:
    with pytest.raises(jp.PolicyError, match="does not exist"):
        jp.register(tmp_path / "none.csv", budget=jp.Budget(epsilon=1.0))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(jp.PolicyError, match="only CSV and Parquet"):
        jp.register(tmp_path / "x.json", budget=jp.Budget(epsilon=1.0))
    with pytest.raises(jp.PolicyError, match="a CSV or Parquet path or a data frame"):
        jp.register([1, 2, 3], name="l", budget=jp.Budget(epsilon=1.0))


@pytest.mark.parametrize("epsilon", [0, -1, math.nan, math.inf, "0.1", True])
def test_bad_epsilon_is_refused_and_charges_nothing(
    patients: jp.SensitiveFrame, epsilon: object
) -> None:
    with pytest.raises(jp.InvalidArgumentError, match="epsilon must be a finite number > 0"):
        patients.age.mean(epsilon=epsilon)
    assert patients.budget.epsilon_spent == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.nope, "there is no column 'nope'"),
        (lambda p: p["nope"], "there is no column 'nope'"),
        (lambda p: p[["age", "nope"]], "there is no column 'nope'"),
        (lambda p: p.groupby("nope"), "there is no column 'nope'"),
        (lambda p: p.age.mean(alpha=0), "alpha must be"),
        (lambda p: p.age.mean(epsilon=1, accuracy=1), "either epsilon= or accuracy="),
        (lambda p: p.age.mean(bogus=1), "unknown option 'bogus'"),
        (lambda p: p.age.quantile(1.5), "quantile levels must be numbers in"),
        (lambda p: p.age.hist(bins=0), "bins must be an integer"),
        (lambda p: p.age.clip(5, 1), "clip bounds are reversed"),
        (lambda p: p.age.mean(delta=1e-6), "a pure ε-DP budget cannot spend δ"),
        (lambda p: p.state.mean(), "'state' is not numeric"),
        (lambda p: (p.patient_id * 2).mean(), "has no public bounds"),
        (lambda p: (p.age / (p.age - 50)).clip(0, 1).mean(), None),
    ],
)
def test_bad_queries_are_refused_with_clear_messages(
    patients: jp.SensitiveFrame, call: object, message: str | None
) -> None:
    if message is None:  # division by an interval containing 0 is fine once clipped
        call(patients)  # type: ignore[operator]
        return
    with pytest.raises(jp.PrivacyError, match=message):
        call(patients)  # type: ignore[operator]
    assert patients.budget.epsilon_spent == 0
