"""Synthetic tables for the notebooks, workshops and tests: realistic shapes, no real people.

Every value is drawn from a seeded random generator, so the same seed gives the same table on every
machine. Nothing here reads real data, and nothing here is differentially private: these tables are
*public* stand-ins, which is why a workshop may look at them raw to compare against releases.

>>> patients(5, seed=1).columns.tolist()
['patient_id', 'age', 'sex', 'state', 'diagnosis', 'income', 'visits']
>>> t = transactions(20, seed=1)
>>> t.customer_id.nunique() <= 20 < len(t)
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: The states in the synthetic tables, with weights roughly proportional to their population.
STATES: dict[str, float] = {
    "AL": 5.1,
    "AK": 0.7,
    "AZ": 7.4,
    "CA": 39.0,
    "CO": 5.9,
    "FL": 22.6,
    "GA": 11.0,
    "IL": 12.5,
    "MA": 7.0,
    "NY": 19.6,
    "OH": 11.8,
    "PA": 13.0,
    "TX": 30.5,
    "WA": 7.8,
}
SEXES = ("F", "M")
DIAGNOSES = ("none", "asthma", "diabetes", "hypertension", "depression")
CATEGORIES: dict[str, tuple[float, float]] = {
    # category: (median amount in dollars, spread of log amount)
    "groceries": (45.0, 0.6),
    "dining": (32.0, 0.6),
    "transport": (18.0, 0.8),
    "utilities": (110.0, 0.4),
    "health": (60.0, 0.9),
    "entertainment": (40.0, 0.8),
    "travel": (320.0, 0.9),
}
CHANNELS = ("in_store", "online")

#: Public bounds and keys that describe the tables (what an analyst would declare).
PATIENT_BOUNDS: dict[str, tuple[float, float]] = {
    "age": (0, 110),
    "income": (0, 250_000),
    "visits": (0, 20),
}
TRANSACTION_BOUNDS: dict[str, tuple[float, float]] = {"amount": (0, 1_000)}


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    return np.random.default_rng(seed)


def _check_rows(n: int, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive integer, not {n!r}")


def patients(n: int = 5_000, seed: int = 7) -> pd.DataFrame:
    """One row per patient: ``patient_id, age, sex, state, diagnosis, income, visits``.

    Ages follow a broad adult-heavy pyramid (children included); chronic diagnoses become more
    likely with age; incomes are log-normal, peak in mid-career and have a long right tail (a few
    are above the usual 250,000 bound, so clipping matters); visits rise with age and illness.
    """
    _check_rows(n, "n")
    rng = _rng(seed)
    age = np.where(
        rng.random(n) < 0.18,
        rng.integers(0, 18, n),  # children
        np.clip(rng.normal(48, 17, n), 18, 101),
    ).astype(np.int64)
    sex = rng.choice(SEXES, n, p=[0.51, 0.49])
    weights = np.array(list(STATES.values()))
    state = rng.choice(list(STATES), n, p=weights / weights.sum())

    # Diagnosis: the chance of each chronic condition grows with age (a logistic curve).
    older = 1 / (1 + np.exp(-(age - 55) / 10))
    p_diabetes = 0.02 + 0.13 * older
    p_hypertension = 0.03 + 0.30 * older
    p_asthma = np.full(n, 0.08)
    p_depression = np.where((age >= 15) & (age <= 70), 0.07, 0.03)
    p_none = 1 - (p_diabetes + p_hypertension + p_asthma + p_depression)
    probs = np.column_stack([p_none, p_asthma, p_diabetes, p_hypertension, p_depression])
    pick = (rng.random(n)[:, None] < probs.cumsum(axis=1)).argmax(axis=1)
    diagnosis = np.array(DIAGNOSES)[pick]

    # Income: household income for children, personal income for adults; peaks around 50.
    career = np.exp(-(((age - 50) / 22.0) ** 2))
    log_income = 10.2 + 0.9 * career + rng.normal(0, 0.55, n)
    income = np.round(np.exp(log_income), -1)
    income[(age >= 18) & (rng.random(n) < 0.06)] = 0.0  # no income this year

    rate = 1.2 + 0.035 * age + np.where(diagnosis == "none", 0.0, 2.5)
    visits = rng.poisson(rate)
    return pd.DataFrame(
        {
            "patient_id": np.arange(1, n + 1, dtype=np.int64),
            "age": age,
            "sex": sex,
            "state": state,
            "diagnosis": diagnosis,
            "income": income,
            "visits": visits.astype(np.int64),
        }
    )


def transactions(customers: int = 800, seed: int = 11) -> pd.DataFrame:
    """Card transactions: one customer has many rows (``customer_id`` is the privacy unit).

    Columns ``transaction_id, customer_id, date, state, category, channel, amount``. Activity is
    heavy-tailed: most customers have a handful of rows, a few have hundreds, which is exactly when
    a per-person contribution bound (``max_rows_per_unit``) matters.
    """
    _check_rows(customers, "customers")
    rng = _rng(seed)
    activity = np.maximum(1, np.round(rng.lognormal(2.0, 0.9, customers))).astype(np.int64)
    customer_id = np.repeat(np.arange(1, customers + 1, dtype=np.int64), activity)
    weights = np.array(list(STATES.values()))
    home_state = rng.choice(list(STATES), customers, p=weights / weights.sum())
    n = int(activity.sum())

    names = list(CATEGORIES)
    pick = rng.choice(len(names), n, p=[0.30, 0.20, 0.16, 0.08, 0.07, 0.12, 0.07])
    category = np.array(names)[pick]
    median, spread = np.array([CATEGORIES[c] for c in names]).T
    amount = np.round(median[pick] * np.exp(rng.normal(0, spread[pick])), 2)
    channel = np.where(
        rng.random(n) < np.where(np.isin(category, ["travel", "entertainment"]), 0.7, 0.3),
        CHANNELS[1],
        CHANNELS[0],
    )
    day = rng.integers(0, 365, n)
    date = (np.datetime64("2024-01-01") + day.astype("timedelta64[D]")).astype(str)
    order = np.lexsort((day, customer_id))
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": customer_id[order],
            "date": date[order],
            "state": home_state[customer_id[order] - 1],
            "category": category[order],
            "channel": channel[order],
            "amount": amount[order],
        }
    )


def write_bundled(
    folder: str | Path, patient_rows: int = 5_000, customers: int = 800
) -> list[Path]:
    """Write ``patients.csv`` and ``transactions.csv`` into ``folder`` (the notebooks' data)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        ("patients", patients(patient_rows)),
        ("transactions", transactions(customers)),
    ):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written


__all__ = [
    "CATEGORIES",
    "DIAGNOSES",
    "PATIENT_BOUNDS",
    "SEXES",
    "STATES",
    "TRANSACTION_BOUNDS",
    "patients",
    "transactions",
    "write_bundled",
]
