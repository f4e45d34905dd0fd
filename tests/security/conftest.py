"""The red team's target, per trust mode.

``guarded`` is a registered source with a planted sentinel, built in every mode listed in
``MODES``. Today that is only guard-rail mode (the source lives in this process). Curator mode
adds ``"curator"`` to ``MODES`` and a branch in ``_build`` that registers the same data in a
curator process and hands back the client-side frame.

Attempts that guard-rail mode cannot stop by design (``gc``, frame inspection, ``ctypes``, reading
the file, private attributes, monkeypatching the engine) are marked ``curator_only``: their test
body asserts that the attempt fails to reach the data, so in guard-rail mode it is an expected,
strict failure (xfail) that documents the bypass, and in curator mode it must pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from tests.conftest import STATES, make_patients

MODES = ["guard-rail", "curator"]
SENTINEL_INCOME = 98_765.4321
SENTINEL_CITY = "Zyxwvut"
SENTINEL_ID = 777_777
#: spellings of the sentinel that no release, hash or id can contain by chance
SECRETS = ("98765.43", "98,765.4", SENTINEL_CITY, str(SENTINEL_ID))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "curator_only: an attempt guard-rail mode cannot stop by design; must pass in curator mode",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("curator_only") is None:
            continue
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("mode") if callspec is not None else None
        if mode is None:
            raise pytest.UsageError(f"{item.nodeid}: curator_only tests must use the mode fixture")
        if mode == "guard-rail":
            item.add_marker(
                pytest.mark.xfail(
                    strict=True,
                    raises=AssertionError,  # the bypass worked; any other error is a broken test
                    reason="guard-rail mode is not a security boundary (docs/threat-model.md)",
                )
            )


@dataclass
class Target:
    """A registered source holding the sentinel, and how it was made."""

    mode: str
    frame: jp.SensitiveFrame
    csv: Path
    stop: Callable[[], None] | None = None  # curator mode: stops the curator process


def planted(n: int = 400) -> pd.DataFrame:
    df = make_patients(n, seed=9)
    df.loc[17, ["income", "city", "patient_id"]] = [SENTINEL_INCOME, SENTINEL_CITY, SENTINEL_ID]
    return df


def _build(mode: str, home: Path) -> Target:
    csv = home / "canary.csv"
    planted().to_csv(csv, index=False)
    if mode == "guard-rail":
        frame = jp.register(
            csv,
            name="canary",
            privacy_unit="patient_id",
            budget=jp.Budget(epsilon=10.0, delta=1e-6),
            bounds={"age": (18, 90), "income": (0, 250_000)},
            keys={"state": STATES},
            dtypes={"patient_id": "int", "city": "str"},
        )
        return Target(mode, frame, csv)
    if mode == "curator":  # the same source, served by a curator in another process
        from tests.curator.harness import serve_csv

        process, address, token_file = serve_csv(
            csv,
            "canary",
            privacy_unit="patient_id",
            budget=jp.Budget(epsilon=10.0, delta=1e-6),
            bounds={"age": (18, 90), "income": (0, 250_000)},
            keys={"state": STATES},
            dtypes={"patient_id": "int", "city": "str"},
        )
        jp.connect(address, token_file=token_file)
        return Target(mode, jp.source("canary"), csv, process.stop)
    raise NotImplementedError(f"mode {mode!r}")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def guarded(mode: str, home: Path) -> Iterator[Target]:
    target = _build(mode, home)
    yield target
    if target.stop is not None:
        target.stop()


def leaked(text: str) -> list[str]:
    """Which sentinel spellings appear in ``text``."""
    return [s for s in SECRETS if s in text]
