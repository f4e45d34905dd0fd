"""Raw access is refused with a pointer to the safe alternative; unsupported calls list what is."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import jupyter_privacy as jp

ROW_METHODS = [
    "head",
    "tail",
    "sample",
    "to_numpy",
    "to_pandas",
    "to_dict",
    "to_csv",
    "to_parquet",
    "to_json",
    "to_excel",
    "to_sql",
    "to_records",
    "to_string",
    "to_html",
    "to_markdown",
    "itertuples",
    "iterrows",
    "items",
    "apply",
    "map",
    "pipe",
    "transform",
    "unique",
]
ROW_ATTRS = ["values", "iloc", "loc", "at", "iat", "shape"]


@pytest.mark.parametrize("name", ROW_METHODS + ROW_ATTRS)
def test_row_access_on_a_frame_is_refused(patients: jp.SensitiveFrame, name: str) -> None:
    with pytest.raises(jp.RowAccessError) as err:
        attr = getattr(patients, name)
        attr()
    assert str(err.value).startswith(f"Refused to access rows with {name} on 'patients': ")
    assert "Try: patients." in str(err.value)


@pytest.mark.parametrize("name", ["head", "to_numpy", "to_list", "values", "apply", "unique"])
def test_row_access_on_a_series_is_refused(patients: jp.SensitiveFrame, name: str) -> None:
    with pytest.raises(jp.RowAccessError):
        getattr(patients.age, name)()


def test_head_names_describe_as_the_safe_alternative(patients: jp.SensitiveFrame) -> None:
    with pytest.raises(jp.RowAccessError) as err:
        patients.head()
    assert str(err.value) == (
        "Refused to access rows with head on 'patients': raw rows never leave a registered "
        "source; only noisy aggregates do.\n"
        "  instead  aggregates with noise and a confidence interval\n"
        "Try: patients.describe()"
    )


@pytest.mark.parametrize(
    "action",
    [
        len,
        iter,
        list,
        np.asarray,
        pickle.dumps,
        copy.deepcopy,
        lambda f: f[0],
        lambda f: f[1:3],
        lambda f: len(f.age),
        lambda f: list(f.age),
        lambda f: np.asarray(f.age),
        lambda f: float(f.age),
        lambda f: pickle.dumps(f.age),
        lambda f: list(f.groupby("state")),
        lambda f: f.groupby("state").get_group("CA"),
    ],
)
def test_protocol_access_is_refused(patients: jp.SensitiveFrame, action: object) -> None:
    with pytest.raises(jp.RowAccessError):
        action(patients)  # type: ignore[operator]


def test_unsupported_operations_list_what_is_supported(patients: jp.SensitiveFrame) -> None:
    with pytest.raises(jp.UnsupportedOperationError) as err:
        _ = patients.merge
    assert "Refused to use DataFrame.merge on 'patients'" in str(err.value)
    assert "supported  select:" in str(err.value)
    with pytest.raises(jp.UnsupportedOperationError, match="supported  count, sum, mean"):
        patients.age.cumsum()
    with pytest.raises(jp.UnsupportedOperationError, match="supported  size, count"):
        _ = patients.groupby("state").rolling
    with pytest.raises(jp.UnsupportedOperationError):
        bool(patients.age > 3)


def test_a_frame_repr_shows_schema_and_budget_only(patients: jp.SensitiveFrame) -> None:
    text = repr(patients)
    assert "age" in text and "bounds (18, 90)" in text and "remaining ε" in text
    assert "rows are not shown" in repr(patients.age)


def test_query_strings_are_parsed_not_evaluated(patients: jp.SensitiveFrame) -> None:
    for bad in ["__import__('os').system('true')", "age.apply(print)", "@x > 1", "age >"]:
        with pytest.raises(jp.InvalidArgumentError):
            patients.query(bad)


def test_nothing_is_charged_for_a_refusal(patients: jp.SensitiveFrame) -> None:
    for call in (
        lambda: patients.head(),
        lambda: patients.city.mean(),
        lambda: patients.groupby("city").size(),
        lambda: patients.age.mean(epsilon=-1),
    ):
        with pytest.raises(jp.PrivacyError):
            call()
    assert patients.budget.epsilon_spent == 0
    outcomes = [r["outcome"] for r in jp.workspace().ledger.audit_rows()]
    assert outcomes and set(outcomes) == {"refused"}
