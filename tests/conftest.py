"""Shared fixtures: a fresh ledger folder per test and a small synthetic patients table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from IPython.core.interactiveshell import InteractiveShell

import jupyter_privacy as jp
from jupyter_privacy.core.workspace import Workspace

STATES = ["CA", "NY", "TX", "WA"]

# Exact fractions of tiny floats are slow to add; timing is not what these properties test.
settings.register_profile("default", deadline=None, max_examples=100)
settings.load_profile("default")


def make_patients(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "patient_id": np.arange(n),
            "age": rng.integers(18, 91, n),
            "income": rng.gamma(2.0, 20_000.0, n),
            "state": rng.choice(STATES, n),
            "city": rng.choice([f"c{i}" for i in range(5)], n),
        }
    )


@pytest.fixture
def patients_df() -> pd.DataFrame:
    return make_patients()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The process-wide workspace points at a fresh folder for the test."""
    jp.use_workspace(tmp_path)
    yield tmp_path
    jp.use_workspace(tmp_path / "closed")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = Workspace(tmp_path)
    yield w
    w.close()


@contextlib.contextmanager
def extension_loaded(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """An IPython shell working in ``folder`` with ``%load_ext jupyter_privacy`` done (so a
    ``privacy.toml`` there is read); afterwards the extension is unloaded and the namespace reset."""
    monkeypatch.chdir(folder)
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_privacy")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "jupyter_privacy")
        ip.user_ns.clear()
        ip.init_user_ns()


def register_patients(df: pd.DataFrame, **overrides: object) -> jp.SensitiveFrame:
    kwargs: dict[str, object] = dict(
        name="patients",
        privacy_unit="patient_id",
        budget=jp.Budget(epsilon=100.0),
        bounds={"age": (18, 90), "income": (0, 250_000)},
        keys={"state": STATES},
    )
    kwargs.update(overrides)
    return jp.register(df, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def patients(home: Path, patients_df: pd.DataFrame) -> jp.SensitiveFrame:
    return register_patients(patients_df)
