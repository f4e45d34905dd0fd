"""``jupyter_privacy.datasets``: seeded, realistic synthetic tables, and the bundled copies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from jupyter_privacy import datasets
from scripts.make_data import main as make_data

NOTEBOOK_DATA = Path(__file__).resolve().parents[1] / "notebooks"


def test_the_same_seed_gives_the_same_table_and_another_seed_another() -> None:
    pd.testing.assert_frame_equal(datasets.patients(300, seed=4), datasets.patients(300, seed=4))
    pd.testing.assert_frame_equal(
        datasets.transactions(50, seed=4), datasets.transactions(50, seed=4)
    )
    assert not datasets.patients(300, seed=4).equals(datasets.patients(300, seed=5))


def test_patients_have_the_documented_columns_and_realistic_shapes() -> None:
    p = datasets.patients(20_000, seed=1)
    assert list(p.columns) == [
        "patient_id", "age", "sex", "state", "diagnosis", "income", "visits"
    ]  # fmt: skip
    assert p.patient_id.is_unique and len(p) == 20_000
    assert p.age.between(0, 110).all() and p.visits.ge(0).all() and p.income.ge(0).all()
    assert set(p.sex) == set(datasets.SEXES) and set(p.state) == set(datasets.STATES)
    assert set(p.diagnosis) == set(datasets.DIAGNOSES)
    older = p[p.age >= 65].diagnosis.isin(["diabetes", "hypertension"]).mean()
    younger = p[p.age < 40].diagnosis.isin(["diabetes", "hypertension"]).mean()
    assert older > 2 * younger  # chronic conditions come with age
    assert p[p.state == "CA"].shape[0] > 10 * p[p.state == "AK"].shape[0]
    assert (p.income > 250_000).any()  # a long tail: clipping to the usual bound matters
    assert p[p.diagnosis != "none"].visits.mean() > p[p.diagnosis == "none"].visits.mean()


def test_transactions_give_one_customer_many_rows() -> None:
    t = datasets.transactions(500, seed=2)
    assert list(t.columns) == [
        "transaction_id", "customer_id", "date", "state", "category", "channel", "amount"
    ]  # fmt: skip
    per_customer = t.groupby("customer_id").size()
    assert per_customer.min() >= 1 and per_customer.max() >= 50 and per_customer.median() <= 15
    assert t.groupby("customer_id").state.nunique().eq(1).all()  # a customer lives in one state
    assert set(t.category) == set(datasets.CATEGORIES) and set(t.channel) == set(datasets.CHANNELS)
    assert t.amount.gt(0).all() and pd.to_datetime(t.date).dt.year.eq(2024).all()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_sizes_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        datasets.patients(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        datasets.transactions(bad)  # type: ignore[arg-type]


def test_the_bundled_copies_are_what_make_data_writes(tmp_path: Path) -> None:
    assert make_data(["--out", str(tmp_path)]) == 0
    for name in ("patients.csv", "transactions.csv"):
        assert (tmp_path / name).read_bytes() == (NOTEBOOK_DATA / "data" / name).read_bytes(), name


def test_privacy_toml_declares_both_tables_with_matching_keys_and_bounds() -> None:
    policy = tomllib.loads((NOTEBOOK_DATA / "privacy.toml").read_text())["sources"]
    assert policy["patients"]["path"] == "data/patients.csv"
    assert policy["transactions"]["privacy_unit"] == "customer_id"
    assert policy["transactions"]["max_rows_per_unit"] > 1
    assert policy["patients"]["keys"]["state"] == list(datasets.STATES)
    assert policy["patients"]["keys"]["diagnosis"] == list(datasets.DIAGNOSES)
    assert policy["transactions"]["keys"]["category"] == list(datasets.CATEGORIES)
    for col, (lo, hi) in datasets.PATIENT_BOUNDS.items():
        assert policy["patients"]["bounds"][col] == [lo, hi]
