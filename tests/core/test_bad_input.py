"""Bad input: refused clearly and charging nothing, or, for messy data, a release within what its
statistic can be, charged in full. Nothing crashes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.release import Cell
from tests.conftest import register_patients

#: where each statistic of a column bounded to [0, 10] can lie (``_cell`` clips to it)
FEASIBLE = {
    "count": (0.0, math.inf),
    "sum": (0.0, math.inf),
    "var": (0.0, 25.0),  # ((hi - lo) / 2)²
    "std": (0.0, 5.0),
}


def assert_feasible(result: jp.Release | jp.ReleaseTable) -> list[Cell]:
    """Every cell is finite, within what its statistic can be, and inside its own interval."""
    cells = result.cells if isinstance(result, jp.ReleaseTable) else [result.cell]
    assert cells
    for c in cells:
        lo, hi = FEASIBLE.get(c.statistic, (0.0, 10.0))  # mean, median, min, quartiles, max
        assert math.isfinite(c.value) and lo <= c.value <= hi, c
        if c.ci_low is not None and c.ci_high is not None:
            assert lo <= c.ci_low <= c.value <= c.ci_high <= hi, c
    return cells


def test_nan_none_and_inf_in_a_bounded_column_are_handled(home: Path) -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, None, np.inf, -np.inf, 5.0] * 50})
    p = jp.register(df, name="messy", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)})
    # nulls and NaN are dropped (not imputed: 4.33), infinities clipped to the bounds (not
    # dropped: 3.0): the mean is that of 1, 10, 0, 5
    m = p.x.mean(epsilon=10.0)
    assert_feasible(m)
    assert float(m) == pytest.approx(4.0, abs=0.15)
    assert float(p.x.count(epsilon=10.0)) == pytest.approx(200, abs=2)  # not 300 nor 400
    median = p.x.median(epsilon=5.0)
    assert_feasible(median)
    assert 1.0 <= float(median) <= 5.0  # every value in [1, 5] has half the rows on each side
    cells = assert_feasible(p.x.describe(epsilon=5.0))
    assert [c.statistic for c in cells] == [
        "count",
        "mean",
        "std",
        "min",
        "25%",
        "50%",
        "75%",
        "max",
    ]
    assert p.budget.epsilon_spent == pytest.approx(30.0)


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
    calls = (
        p.count,
        p.x.sum,
        p.x.mean,
        p.x.median,
        p.x.var,
        p.describe,
        p.groupby("g").size,
        p.groupby("g").x.mean,
    )
    for i, call in enumerate(calls, 1):
        result = call(epsilon=1.0)
        assert_feasible(result)
        assert not result.replayed
        assert p.budget.epsilon_spent == pytest.approx(i)  # each one charged, in full
    grouped = p.groupby("g").size(epsilon=1.0)
    assert [c.key for c in grouped.cells] == [("a",)]  # the declared key, released as noise


def test_strings_in_a_numeric_csv_column_become_nulls(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text("x,g\n" + "8,a\n" * 200 + "not-a-number,b\n" * 200)
    p = jp.register(csv, name="mixed", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 10)})
    # nulls: the mean is 8 (as zeros it would be 4, imputed at the midpoint 6.5)
    assert float(p.x.mean(epsilon=10.0)) == pytest.approx(8.0, abs=0.2)
    assert float(p.x.count(epsilon=10.0)) == pytest.approx(200, abs=2)
    assert float(p.count(epsilon=10.0)) == pytest.approx(400, abs=2)  # the rows are still there


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


def test_a_registered_file_that_is_gone_is_refused_by_name(home: Path, tmp_path: Path) -> None:
    """Deleted after registration: a clear refusal before anything is charged, and the attempt
    in the audit log, not an OS error from deep inside."""
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": [1, 2, 3] * 100}).to_csv(path, index=False)
    frame = jp.register(path, name="d", budget=jp.Budget(epsilon=5.0), bounds={"x": (0, 10)})
    path.unlink()
    with pytest.raises(jp.PolicyError, match="file is gone") as info:
        frame.x.mean(epsilon=1.0)
    assert str(path) in str(info.value)
    assert jp.budget("d").epsilon_spent == 0
    assert [r["outcome"] for r in jp.workspace().ledger.audit_rows()][-1] == "refused"


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
    ],
)
def test_bad_queries_are_refused_with_clear_messages(
    patients: jp.SensitiveFrame, call: object, message: str
) -> None:
    with pytest.raises(jp.PrivacyError, match=message):
        call(patients)  # type: ignore[operator]
    assert patients.budget.epsilon_spent == 0


def test_dividing_by_an_interval_containing_zero_releases_once_clipped(
    patients: jp.SensitiveFrame, patients_df: pd.DataFrame
) -> None:
    """age / (age - 50): negative below 50, at least 1 above, 50 / 0 is null (not finite)."""
    r = (patients.age / (patients.age - 50)).clip(0, 1).mean(epsilon=5.0)
    assert isinstance(r, jp.Release) and 0.0 <= float(r) <= 1.0
    ages = patients_df.age[patients_df.age != 50]
    assert float(r) == pytest.approx(float((ages > 50).mean()), abs=0.02)
    assert patients.budget.epsilon_spent == pytest.approx(5.0)
