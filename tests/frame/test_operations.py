"""Every select, filter, derive, group and aggregate of SPEC §3 builds a plan and releases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import jupyter_privacy as jp
from tests.conftest import STATES, register_patients


def _close(release: float, truth: float, halfwidth: float) -> None:
    assert abs(float(release) - truth) <= halfwidth


def test_count_sum_mean_are_near_the_truth_with_intervals(
    patients: jp.SensitiveFrame, patients_df: pd.DataFrame
) -> None:
    n = patients.count(epsilon=5.0)
    assert isinstance(n, jp.Release) and n.ci[0] <= float(n) <= n.ci[1]
    _close(n, len(patients_df), 20)
    s = patients.age.sum(epsilon=5.0)
    _close(s, patients_df.age.sum(), 200)
    m = patients.age.mean(epsilon=5.0)
    _close(m, patients_df.age.mean(), 2)
    assert m.mechanism == "discrete Laplace" and m.epsilon == 5.0 and not m.replayed
    assert m.query == "patients.age.mean()"
    assert m + 1 == pytest.approx(float(m) + 1) and (m > 0) and math.isfinite(float(m))


def test_quantiles_var_std_min_max(patients: jp.SensitiveFrame, patients_df: pd.DataFrame) -> None:
    _close(patients.age.median(epsilon=5.0), patients_df.age.median(), 6)
    qs = patients.age.quantile([0.1, 0.9], epsilon=5.0).to_pandas()
    assert list(qs.index) == ["10%", "90%"] and qs.value.is_monotonic_increasing
    assert qs.rank_error.gt(0).all()
    _close(patients.age.var(epsilon=5.0), patients_df.age.var(ddof=0), 60)
    _close(patients.age.std(epsilon=5.0), patients_df.age.std(ddof=0), 2)
    assert 18 <= float(patients.age.min(epsilon=5.0)) <= 25
    assert 83 <= float(patients.age.max(epsilon=5.0)) <= 90


def test_describe_is_consistent(patients: jp.SensitiveFrame) -> None:
    for table in (patients.describe(epsilon=2.0), patients.age.describe(epsilon=0.2)):
        frame = table.to_pandas()
        for col in {k[0] for k in frame.index} if frame.index.nlevels > 1 else [None]:
            part = frame.loc[col] if col is not None else frame
            quant = part.loc[["min", "25%", "50%", "75%", "max"], "value"]
            assert quant.is_monotonic_increasing
            assert part.loc["count", "value"] > 0


def test_describe_reads_data_only_on_the_way_to_a_release(
    home: Path, patients_df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """describe starts its data pass while calibrating; a dry run or a refusal must not read."""
    from jupyter_privacy.core.engine.aggregates import describe

    p = register_patients(patients_df, budget=jp.Budget(epsilon=1.0))
    reads: list[str] = []
    real = describe.prepared_frame

    def counting(*args: object) -> pl.LazyFrame:
        reads.append("read")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(describe, "prepared_frame", counting)
    assert p.describe(epsilon=0.5, dry_run=True).epsilon == 0.5
    with pytest.raises(jp.BudgetExceededError):
        p.describe(epsilon=2.0)
    assert reads == []
    table = p.describe(epsilon=0.5).to_pandas()
    assert reads == ["read"] and table.loc[("age", "count"), "value"] > 0


def test_a_describe_whose_data_pass_fails_keeps_the_charge(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    from tests.conftest import make_patients

    make_patients().to_csv(csv, index=False)
    p = jp.register(csv, name="d", budget=jp.Budget(epsilon=1.0), bounds={"age": (18, 90)})
    csv.write_text("garbage")  # the background data pass fails; it reports after the charge
    with pytest.raises(jp.ReleaseFailedError) as err:
        p.describe(epsilon=0.2)
    assert "after the budget was charged" in str(err.value)
    assert p.budget.epsilon_spent == pytest.approx(0.2)


def test_frame_mean_and_sum_cover_each_bounded_column(patients: jp.SensitiveFrame) -> None:
    means = patients.mean(epsilon=2.0).to_pandas()
    assert set(means.index) == {"age", "income"}
    sums = patients.sum(epsilon=2.0).to_pandas()
    assert set(sums.index) == {"age", "income"}


def test_filters_combine_like_pandas(
    patients: jp.SensitiveFrame, patients_df: pd.DataFrame
) -> None:
    df = patients_df
    cases = [
        (patients[patients.age >= 65], (df.age >= 65)),
        (
            patients[(patients.age >= 30) & (patients.state == "CA")],
            (df.age >= 30) & (df.state == "CA"),
        ),
        (
            patients[(patients.age < 30) | ~(patients.state == "NY")],
            (df.age < 30) | ~(df.state == "NY"),
        ),
        (patients[patients.state.isin(["CA", "TX"])], df.state.isin(["CA", "TX"])),
        (patients[patients.age.between(30, 40)], df.age.between(30, 40)),
        (patients[patients.income.notna()], df.income.notna()),
        (patients.query("age >= 65 and state == 'CA'"), (df.age >= 65) & (df.state == "CA")),
        (
            patients.query("state in ['CA', 'NY'] or not age > 80"),
            df.state.isin(["CA", "NY"]) | ~(df.age > 80),
        ),
    ]
    for frame, mask in cases:
        _close(frame.count(epsilon=5.0), mask.sum(), 20)


def test_a_derived_nan_is_null_before_later_filters_and_aggregates(home: Path) -> None:
    df = pd.DataFrame({"a": [0.0] * 300 + [2.0] * 100, "b": [0.0] * 300 + [1.0] * 100})
    frame = jp.register(df, name="ratios", budget=jp.Budget(epsilon=1e6))
    with_ratio = frame.assign(r=frame.a / frame.b)  # 0/0 = NaN in 300 rows
    assert abs(with_ratio.r.count(epsilon=1e3).value - 100) < 2  # NaN counts as missing
    kept = with_ratio[with_ratio.r > 1.0]  # NaN must not pass a comparison
    assert abs(kept.count(epsilon=1e3).value - 100) < 2


def test_derived_columns(patients: jp.SensitiveFrame, patients_df: pd.DataFrame) -> None:
    k = (patients.income / 1000).clip(0, 250).mean(epsilon=5.0)
    _close(k, (patients_df.income / 1000).clip(0, 250).mean(), 5)
    p2 = patients.assign(age2=patients.age * 2, older=patients.age + 10)
    _close(p2.age2.mean(epsilon=5.0), patients_df.age.mean() * 2, 5)
    _close(p2.older.mean(epsilon=5.0), patients_df.age.mean() + 10, 3)
    p2["months"] = p2.age * 12
    assert "months" in p2.columns
    band = jp.cut(patients.age, [18, 40, 65, 90], labels=["young", "middle", "old"])
    table = patients.assign(band=band).groupby("band").size(epsilon=5.0).to_pandas()
    assert list(table.index) == ["young", "middle", "old"]
    assert patients.age.astype(float).dtype == "float"
    filled = patients.income.fillna(0).clip(0, 1000).sum(epsilon=5.0)
    assert isinstance(filled, jp.Release)


def test_grouping_with_declared_keys(
    patients: jp.SensitiveFrame, patients_df: pd.DataFrame
) -> None:
    sizes_table = patients.groupby("state").size(epsilon=5.0)
    assert sizes_table.mechanism == "discrete Laplace"
    sizes = sizes_table.to_pandas()
    assert list(sizes.index) == STATES
    truth = patients_df.groupby("state").size()
    assert (sizes.value - truth.reindex(STATES)).abs().max() <= 10
    means = patients.groupby("state").income.mean(epsilon=5.0)
    assert means.to_pandas().shape == (4, 3)
    assert means["CA"].ci[0] <= float(means["CA"]) <= means["CA"].ci[1]
    for stat in ("sum", "median", "var", "std", "min", "max", "count"):
        out = getattr(patients.groupby("state").age, stat)(epsilon=1.0).to_pandas()
        assert len(out) == 4, stat
    q = patients.groupby("state").age.quantile([0.25, 0.75], epsilon=1.0).to_pandas()
    assert len(q) == 8
    agg = patients.groupby("state").agg({"income": "mean", "age": ["median", "max"]}, epsilon=3.0)
    assert set(agg.statistics) == {"income mean", "age median", "age max"}
    vc = patients.state.value_counts(epsilon=2.0).to_pandas()
    assert list(vc.index) == STATES
    hist = patients.age.hist(bins=4, epsilon=2.0).to_pandas()
    assert len(hist) == 4 and hist.value.sum() == pytest.approx(len(patients_df), abs=40)


def test_grouping_with_unknown_keys_thresholds_and_charges_delta(
    home: Path, patients_df: pd.DataFrame
) -> None:
    p = register_patients(patients_df, budget=jp.Budget(epsilon=10.0, delta=1e-6))
    table = p.groupby("city").size(epsilon=3.0)
    cities = set(table.to_pandas().index)
    assert cities <= {f"c{i}" for i in range(5)} and len(cities) >= 4
    assert table.meta.delta > 0
    assert p.budget.delta_spent > 0
    means = p.groupby("city").age.mean(epsilon=3.0).to_pandas()
    assert set(means.index) <= {f"c{i}" for i in range(5)}
    vc = p.city.value_counts(epsilon=3.0)
    assert len(vc) >= 4


def test_unknown_keys_under_pure_dp_are_refused_before_anything_is_spent(
    patients: jp.SensitiveFrame,
) -> None:
    with pytest.raises(jp.MissingBoundsError) as err:
        patients.groupby("city").size()
    assert patients.budget.epsilon_spent == 0
    assert str(err.value) == (
        "Refused to group by 'city' on 'patients': 'city' has no public keys, and unknown keys need "
        "a budget with δ > 0.\n"
        "  budget  pure ε-DP cannot release keys it does not know\n"
        "Try: jp.register(..., keys={'city': [...]})   or   "
        "jp.register(..., budget=jp.Budget(epsilon=1.0, delta=1e-6))"
    )


def test_dry_run_reads_no_data_and_spends_nothing(patients: jp.SensitiveFrame) -> None:
    est = patients.count(epsilon=0.5, dry_run=True)
    assert isinstance(est, jp.Estimate) and est.epsilon == 0.5 and est.halfwidth is not None
    assert patients.age.mean(dry_run=True).halfwidth is None
    assert patients.budget.epsilon_spent == 0


def test_accuracy_asks_for_the_smallest_sufficient_epsilon(patients: jp.SensitiveFrame) -> None:
    est = patients.count(accuracy=10, dry_run=True)
    assert est.halfwidth is not None and est.halfwidth <= 10
    cheaper = patients.count(epsilon=est.epsilon * 0.99, dry_run=True)
    assert cheaper.halfwidth is not None and cheaper.halfwidth > 10 * 0.98
    r = patients.age.sum(accuracy=500)
    assert (r.ci[1] - r.ci[0]) / 2 <= 500
    with pytest.raises(jp.UnsupportedOperationError, match="accuracy="):
        patients.age.mean(accuracy=1.0)


def test_accuracy_under_zcdp_converts_to_the_smallest_sufficient_epsilon(
    home: Path, patients_df: pd.DataFrame
) -> None:
    frame = register_patients(patients_df, budget=jp.Budget(epsilon=5.0, delta=1e-6))
    est = frame.count(accuracy=20, dry_run=True)
    assert est.halfwidth is not None and est.halfwidth <= 20
    cheaper = frame.count(epsilon=est.epsilon * 0.99, dry_run=True)
    assert cheaper.halfwidth is not None and cheaper.halfwidth > 20 * 0.98
    released = frame.count(accuracy=20)
    assert released.epsilon == est.epsilon
    assert (released.ci[1] - released.ci[0]) / 2 <= 20


def test_the_default_epsilon_and_alpha_apply(patients: jp.SensitiveFrame) -> None:
    r = patients.count()
    assert r.epsilon == 0.1 and r.alpha == 0.05
    wide = patients.count(alpha=0.01, epsilon=0.1)
    narrow = patients.count(alpha=0.2, epsilon=0.1)
    assert wide.ci[1] - wide.ci[0] > narrow.ci[1] - narrow.ci[0]


def test_every_input_kind_registers_and_files_are_scanned_lazily(
    home: Path, tmp_path: Path, patients_df: pd.DataFrame
) -> None:
    csv, parquet = tmp_path / "p.csv", tmp_path / "p.parquet"
    patients_df.to_csv(csv, index=False)
    patients_df.to_parquet(parquet)
    sources = {
        "from_pandas": patients_df,
        "from_polars": pl.from_pandas(patients_df),
        "from_lazy": pl.from_pandas(patients_df).lazy(),
        "from_csv": csv,
        "from_parquet": str(parquet),
    }
    for name, data in sources.items():
        p = jp.register(data, name=name, budget=jp.Budget(epsilon=10.0), bounds={"age": (18, 90)})
        _close(p.age.mean(epsilon=5.0), patients_df.age.mean(), 2)
    spec = jp.workspace().source("from_parquet")
    assert isinstance(spec.data, Path)  # a path: the engine scans it at query time


def test_a_privacy_unit_bounds_contributions(home: Path) -> None:
    df = pd.DataFrame({"pid": np.repeat(np.arange(100), 5), "x": np.ones(500)})
    p = jp.register(
        df,
        name="v",
        privacy_unit="pid",
        max_rows_per_unit=2,
        budget=jp.Budget(epsilon=50.0),
        bounds={"x": (0, 1)},
    )
    _close(p.count(epsilon=20.0), 200, 5)
    q = jp.register(df, name="w", budget=jp.Budget(epsilon=50.0), bounds={"x": (0, 1)})
    _close(q.count(epsilon=20.0), 500, 5)


def test_release_table_to_pandas_has_value_and_interval(patients: jp.SensitiveFrame) -> None:
    frame = patients.groupby("state").size(epsilon=1.0).to_pandas()
    assert list(frame.columns) == ["value", "ci_low", "ci_high"]
    assert (frame.ci_low <= frame.value).all() and (frame.value <= frame.ci_high).all()


def test_plain_text_reprs_show_value_interval_cost_and_mechanism(
    patients: jp.SensitiveFrame,
) -> None:
    text = repr(patients.age.mean(epsilon=1.0))
    assert text.startswith("mean = ") and "95% CI [" in text and "ε = 1.000" in text
    assert "discrete Laplace" in text and "[noised]" in text
    table = repr(patients.groupby("state").size(epsilon=1.0))
    assert "patients.groupby('state').size()" in table and "ci_low" in table
    frame_repr = repr(patients)
    assert "rows are not shown" in frame_repr and "budget" in frame_repr


# --- pandas habits that have a private answer ------------------------------------------------------


def test_pandas_habits_get_private_answers(patients: jp.SensitiveFrame) -> None:
    share = (patients.age > 65).mean(epsilon=5.0)
    assert 0 <= float(share) <= 1 and share.ci[0] <= float(share) <= share.ci[1]
    assert share.query == "(patients.age > 65).mean()" and share.statistic == "proportion"
    assert abs(float((patients.age > 65).sum(epsilon=5.0)) - 400 * float(share)) < 60
    missing = patients.isna().sum(epsilon=5.0).to_pandas()
    assert set(missing.index) == {
        "age",
        "income",
        "state",
        "city",
    }  # the privacy unit is not summed
    assert (missing["value"] >= 0).all()
    by_state = patients.value_counts("state", epsilon=1.0)
    assert sorted(c.key[0] for c in by_state.cells) == sorted(STATES)
    pairs = patients.assign(old=patients.age > 65).value_counts(["state", "old"], epsilon=1.0)
    assert len(pairs.cells) == len(STATES) * 2
    chart = patients.age.plot(epsilon=1.0)
    assert chart.to_dict()["layer"][0]["mark"]["type"] == "bar"


def test_info_prints_the_schema_and_no_rows(
    patients: jp.SensitiveFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    assert patients.info() is None
    out = capsys.readouterr().out
    assert "age" in out and "bounds (18, 90)" in out and "rows are not shown" in out


def test_a_typo_names_the_missing_column_and_the_closest_one(patients: jp.SensitiveFrame) -> None:
    with pytest.raises(jp.InvalidArgumentError) as err:
        patients.agee.mean()
    text = str(err.value)
    assert "there is no column 'agee'" in text and "Try: patients.age" in text
    with pytest.raises(jp.UnsupportedOperationError, match=r"DataFrame\.pivot_table"):
        patients.pivot_table()


# --- a condition's mean is a proportion -------------------------------------------------------------


def test_a_conditions_mean_is_a_share_in_0_1_ungrouped_and_grouped(
    patients: jp.SensitiveFrame, patients_df: pd.DataFrame
) -> None:
    share = (patients.age > 65).mean(epsilon=2.0)
    truth = float((patients_df.age > 65).mean())
    assert isinstance(share, jp.Release) and share.mechanism == "discrete Laplace"
    assert 0 <= share.ci[0] <= float(share) <= share.ci[1] <= 1
    _close(share, truth, 0.1)
    old = patients.assign(old=patients.age > 65)
    table = old.groupby("state").old.mean(epsilon=2.0)
    assert isinstance(table, jp.ReleaseTable) and table.statistics == ["proportion"]
    assert table.query == "patients.assign(old=(patients.age > 65)).groupby('state').old.mean()"
    frame = table.to_pandas()
    assert list(frame.index) == STATES
    assert ((frame.ci_low >= 0) & (frame.ci_low <= frame.value) & (frame.ci_high <= 1)).all()
    # a number's mean is still a mean; a condition's sum still a count
    assert patients.age.mean(epsilon=1.0).statistic == "mean"
    assert old.groupby("state").age.mean(epsilon=1.0).statistics == ["mean"]


def test_a_share_of_a_column_that_is_not_a_condition_is_refused_with_the_fix(
    patients: jp.SensitiveFrame,
) -> None:
    from jupyter_privacy.core.plan import Query

    with pytest.raises(jp.UnsupportedOperationError) as err:
        jp.workspace().run(Query("patients", (), "proportion", "age"), epsilon=0.5)
    assert str(err.value) == (
        "Refused to compute proportion of 'age' on 'patients': 'age' is not a condition (int).\n"
        "  supported  the share of rows where a bool column or a comparison is True\n"
        "Try: (patients.age > LIMIT).mean()   or   patients.age.mean()"
    )
    with pytest.raises(jp.UnsupportedOperationError, match="'state' is not a condition"):
        jp.workspace().run(Query("patients", (), "proportion", "state"), epsilon=0.5)
    with pytest.raises(jp.UnsupportedOperationError, match="accuracy= needs an interval"):
        (patients.age > 65).mean(accuracy=0.05)
    assert patients.budget.epsilon_spent == 0
