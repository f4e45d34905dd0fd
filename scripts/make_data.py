"""Generate the bundled synthetic patients table (no real person is in it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

STATES = ["AL", "AK", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "NY", "OH", "PA", "TX", "WA"]


def synthetic_patients(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(47, 18, n).round(), 0, 105).astype(int)
    income = np.round(rng.lognormal(10.6, 0.6, n), -1)
    return pd.DataFrame(
        {
            "patient_id": np.arange(1, n + 1),
            "age": age,
            "income": income,
            "state": rng.choice(
                STATES, n, p=np.linspace(2, 1, len(STATES)) / np.linspace(2, 1, len(STATES)).sum()
            ),
            "diagnosis": rng.choice(
                ["asthma", "diabetes", "hypertension", "none"], n, p=[0.1, 0.15, 0.25, 0.5]
            ),
            "visits": rng.poisson(3, n),
            "smoker": rng.random(n) < 0.18,
        }
    )


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    out = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else Path(__file__).parent.parent / "notebooks" / "data" / "patients.csv"
    )
    synthetic_patients(rows).to_csv(out, index=False)
    print(f"wrote {rows} rows to {out}")
