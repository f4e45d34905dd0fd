# mypy: warn-unused-ignores
"""What a user's type checker says about the public API: type-checked by mypy, never run.

pyproject's ``[tool.mypy] files`` includes this file. ``assert_type`` pins what each release
method returns; each ``# type: ignore[...]`` marks a call that must stay an error for a checker,
so if the API stopped flagging it the ignore would be unused and mypy would fail.
"""

from __future__ import annotations

from typing import assert_type

import jupyter_privacy as jp
from jupyter_privacy import Estimate, Release, ReleaseTable
from jupyter_privacy.core.pricing import BudgetState
from jupyter_privacy.frame import GroupedSeries, SensitiveGroupBy


def user_code(patients: jp.SensitiveFrame) -> None:
    # columns, selections and filters keep their types, so release methods are checked
    assert_type(patients.age, jp.SensitiveSeries)
    assert_type(patients["age"], jp.SensitiveSeries)
    assert_type(patients[["age", "income"]], jp.SensitiveFrame)
    assert_type(patients[patients.age >= 65], jp.SensitiveFrame)
    assert_type(patients.groupby("state"), SensitiveGroupBy)
    assert_type(patients.groupby("state").income, GroupedSeries)

    # a scalar statistic is a Release, a table a ReleaseTable; dry_run=True gives an Estimate
    assert_type(patients.age.mean(epsilon=0.1), Release | Estimate)
    assert_type(patients.count(dry_run=True), Release | Estimate)
    assert_type(patients.age.quantile(0.5), Release | Estimate)
    assert_type(patients.age.quantile([0.1, 0.9]), ReleaseTable | Estimate)
    assert_type(patients.age.hist(bins=5, accuracy=3.0), ReleaseTable | Estimate)
    assert_type(patients.describe(alpha=0.1), ReleaseTable | Estimate)
    assert_type(patients.income.bounds(epsilon=0.2), ReleaseTable | Estimate)
    assert_type(patients.value_counts(["state", "city"]), ReleaseTable | Estimate)
    assert_type(patients.groupby("state").size(delta=1e-7), ReleaseTable | Estimate)
    assert_type(patients.groupby("state").income.mean(), ReleaseTable | Estimate)
    assert_type(jp.budget("patients"), BudgetState)

    # options can be built ahead and passed whole
    options: jp.ReleaseOptions = {"epsilon": 0.5, "alpha": 0.1}
    patients.age.mean(**options)

    # mistakes a checker catches before anything runs
    patients.age.mean(epsilon_=0.1)  # type: ignore[call-arg]
    patients.age.mean(epsilon="0.1")  # type: ignore[arg-type]
    patients.groupby("state").income.median(dry_run="yes")  # type: ignore[arg-type]
    patients[0]  # type: ignore[call-overload]
