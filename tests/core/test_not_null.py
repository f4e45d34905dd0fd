"""``not_null`` columns: declared, filled, described with one row count, and keyed in replays."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.policy import load_policy
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.schema import ColumnInfo, fill_value
from jupyter_privacy.core.workspace import Workspace

ROWS = 3000
BOUNDS = {"age": (0, 110), "income": (1000, 250_000)}


def frame(nulls: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    out = pd.DataFrame(
        {
            "pid": np.arange(ROWS),
            "age": rng.integers(18, 90, ROWS).astype(float),
            "income": rng.lognormal(10, 1, ROWS),
        }
    )
    out.loc[: nulls - 1, "age"] = np.nan
    return out


def register(
    ws: Workspace,
    data: pd.DataFrame,
    not_null: object = ("age", "income"),
    bounds: dict[str, tuple[float, float]] = BOUNDS,
) -> None:
    ws.register(
        data,
        name="p",
        privacy_unit="pid",
        budget=Budget(epsilon=1e6),
        bounds=bounds,
        not_null=not_null,
    )


def table(out: object) -> pd.DataFrame:
    assert isinstance(out, ReleaseTable)
    return out.to_pandas()


def test_declared_columns_are_not_nullable_and_the_rest_are(ws: Workspace) -> None:
    register(ws, frame(), not_null=["age"])
    schema = ws.source("p").schema
    assert not schema["age"].nullable
    assert schema["income"].nullable and schema["pid"].nullable


@pytest.mark.parametrize(
    ("not_null", "says"),
    [
        (["nope"], "not a column"),
        (["pid"], "privacy unit"),
        ("age", "list of column names"),
        ([3], "not a column"),
        ([pd.Series(["123-45-6789"])], "not a column"),
        (["age", "123-45-6789"], r"positions\s+1\b"),  # a value given among the names
    ],
)
def test_a_bad_declaration_is_refused_by_name(ws: Workspace, not_null: object, says: str) -> None:
    with pytest.raises(PolicyError, match=says) as info:
        register(ws, frame(), not_null=not_null)
    assert "123-45-6789" not in str(info.value)  # a value passed by mistake is never shown


def test_a_column_of_values_given_as_not_null_shows_neither_them_nor_their_number(
    ws: Workspace,
) -> None:
    values = ["agee", *(f"{i:03d}-45-6789" for i in range(136))]  # 137 rows, one near "age"
    with pytest.raises(PolicyError, match=re.escape("values?")) as info:
        register(ws, frame(), not_null=values)
    text = str(info.value)
    assert "137" not in text and "136" not in text and "45-6789" not in text
    assert "not_null=['age']" not in text  # no suggestion drawn from a value


def test_a_misspelt_column_is_answered_with_the_nearest_name(ws: Workspace) -> None:
    with pytest.raises(PolicyError, match=r"not_null=\['income'\]"):
        register(ws, frame(), not_null=["incme"])


def test_fill_values_are_public_and_inside_the_bounds() -> None:
    assert fill_value(ColumnInfo("float", (1000, 250_000))) == 1000.0
    assert fill_value(ColumnInfo("int", (-5, 5))) == 0
    assert fill_value(ColumnInfo("int", (-9, -2))) == -2
    assert fill_value(ColumnInfo("float")) == 0.0
    assert fill_value(ColumnInfo("str")) == ""
    assert fill_value(ColumnInfo("bool")) is False


def test_a_null_in_a_not_null_column_is_read_as_its_fill_value(ws: Workspace) -> None:
    nulls = 600
    data = frame(nulls)
    register(ws, data, not_null=["age"])
    mean = ws.run(Query("p", (), "mean", "age"), epsilon=50.0)
    filled = data["age"].fillna(0.0).mean()  # 0 is inside (0, 110)
    dropped = data["age"].mean()
    assert isinstance(mean, Release)
    # at ε 50 the noise is a small fraction of the 10-year gap between the two readings
    assert abs(float(mean) - filled) < 1.0 < abs(float(mean) - dropped)


def test_a_whole_table_describe_releases_one_row_count(ws: Workspace) -> None:
    register(ws, frame(nulls=500))  # nulls are filled: every column counts every row
    estimate = ws.run(Query("p", (), "describe"), epsilon=1.0, dry_run=True)
    assert isinstance(estimate, Estimate)
    assert "one row count" in estimate.mechanism and "non-null count" not in estimate.mechanism
    out = table(ws.run(Query("p", (), "describe"), epsilon=1.0))
    counts = out.xs("count", level="statistic")["value"]
    assert counts.nunique() == 1 and abs(counts.iloc[0] - ROWS) < 60
    assert ws.budget_state("p").epsilon_spent == pytest.approx(1.0, rel=1e-6)


def test_a_nullable_column_keeps_its_own_non_null_count(ws: Workspace) -> None:
    register(ws, frame(nulls=1000), not_null=["income"])
    estimate = ws.run(Query("p", (), "describe"), epsilon=1.0, dry_run=True)
    assert isinstance(estimate, Estimate)
    assert "one row count" in estimate.mechanism and "non-null count" in estimate.mechanism
    out = table(ws.run(Query("p", (), "describe"), epsilon=5.0))
    counts = out.xs("count", level="statistic")["value"]
    assert abs(counts["income"] - ROWS) < 60 and abs(counts["age"] - (ROWS - 1000)) < 60


def test_sharing_the_count_leaves_more_for_the_rest(ws: Workspace) -> None:
    """Two columns, one count instead of two: every quantile's rank error is smaller."""
    register(ws, frame(), not_null=())
    ws.register(
        frame(),
        name="q",
        privacy_unit="pid",
        budget=Budget(epsilon=1e6),
        bounds=BOUNDS,
        not_null=["age", "income"],
    )
    own = table(ws.run(Query("p", (), "describe"), epsilon=1.0))
    shared = table(ws.run(Query("q", (), "describe"), epsilon=1.0))
    assert (shared["rank_error"].dropna() < own["rank_error"].dropna()).all()


def test_the_declaration_reaches_a_manifest_and_back(ws: Workspace) -> None:
    register(ws, frame(), not_null=["age"])
    described = ws.source("p").describe()
    again = SourceDeclaration.from_description(described)
    assert tuple(again.not_null) == ("age",)
    old = {**described, "columns": {c: {**i} for c, i in described["columns"].items()}}  # type: ignore[attr-defined]
    for info in old["columns"].values():
        info.pop("nullable")  # a manifest written before nullability: every column nullable
    assert tuple(SourceDeclaration.from_description(old).not_null) == ()


def test_privacy_toml_declares_not_null(tmp_path: Path) -> None:
    (tmp_path / "privacy.toml").write_text(
        "[sources.p]\n"
        'path = "p.csv"\n'
        "budget = { epsilon = 1.0 }\n"
        "bounds = { age = [0, 110] }\n"
        'not_null = ["age"]\n'
    )
    (source,) = load_policy(tmp_path / "privacy.toml").sources
    assert list(source.declaration.not_null) == ["age"]


def test_a_changed_declaration_is_a_new_data_version_for_replays(ws: Workspace) -> None:
    """The same data read another way (other bounds, nullability) is never answered from a
    release made the old way; the same declaration again replays."""
    data = frame(nulls=300)
    register(ws, data, not_null=())
    first = ws.run(Query("p", (), "mean", "age"), epsilon=1.0)
    register(ws, data, not_null=())
    same = ws.run(Query("p", (), "mean", "age"), epsilon=1.0)
    assert isinstance(same, Release) and same.replayed and float(same) == float(first)
    register(ws, data, not_null=["age"])
    filled = ws.run(Query("p", (), "mean", "age"), epsilon=1.0)
    assert isinstance(filled, Release) and not filled.replayed
    register(ws, data, not_null=(), bounds={**BOUNDS, "age": (0, 100)})
    narrower = ws.run(Query("p", (), "mean", "age"), epsilon=1.0)
    assert isinstance(narrower, Release) and not narrower.replayed
    # the same bounds spelt as floats (as %privacy register gives them) are the same reading
    register(ws, data, not_null=(), bounds={"age": (0.0, 100.0), "income": (1000.0, 250_000.0)})
    floats = ws.run(Query("p", (), "mean", "age"), epsilon=1.0)
    assert isinstance(floats, Release) and floats.replayed
