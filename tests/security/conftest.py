"""The red team's target, per trust mode.

``guarded`` is a registered source with a planted sentinel, built in every mode listed in
``MODES``: in guard-rail mode the source lives in this process; in curator mode a curator process
serves the same data and this process holds the client-side frame.

Attempts that guard-rail mode cannot stop by design (``gc``, frame inspection, ``ctypes``, reading
the file, private attributes, monkeypatching the engine) are marked ``curator_only``: their test
body asserts that the attempt fails to reach the data, so in guard-rail mode it is an expected,
strict failure (xfail) that documents the bypass, and in curator mode it must pass.

Curator mode is a boundary only in its deployment's shape, so for ``curator_only`` tests the
curator runs as its own OS user (``jp-curator``), owning the data, its ledger and its token, and
the attempt runs in a kernel process of another user (``jp-kernel``) that holds only its token
(``Target.attempt``, ``tests/curator/harness.py``). That takes root or passwordless ``sudo -n``;
without either, the attempts that need another user are xfailed, saying why.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import jupyter_privacy as jp
from tests.conftest import STATES, make_patients
from tests.curator.harness import (
    IsolatedCurator,
    Users,
    find_admin,
    make_users,
    serve_csv,
    serve_isolated,
)

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
    ledger: Path  # the ledger file holding the source's budget
    stop: Callable[[], None] | None = None  # curator mode: stops the curator process
    kernel: IsolatedCurator | None = None  # curator mode as deployed: a kernel of another user
    unisolated: str | None = None  # curator mode without that: why

    def attempt(self, function: Callable[..., Any], **facts: Any) -> Any:
        """``function(frame, **facts)``: here, or with an isolated curator in a kernel process
        of another OS user (``facts`` are JSON: paths as strings). Returns what it returned;
        an AssertionError inside it (the bypass worked) is an AssertionError here."""
        if self.kernel is None:
            return function(self.frame, **facts)
        return self.kernel.run_as_kernel(function, **facts)


def planted(n: int = 400) -> pd.DataFrame:
    df = make_patients(n, seed=9)
    df.loc[17, ["income", "city", "patient_id"]] = [SENTINEL_INCOME, SENTINEL_CITY, SENTINEL_ID]
    return df


REGISTRATION: dict[str, Any] = {
    "privacy_unit": "patient_id",
    "bounds": {"age": (18, 90), "income": (0, 250_000)},
    "keys": {"state": STATES},
    "dtypes": {"patient_id": "int", "city": "str"},
}


def _budget() -> jp.Budget:
    return jp.Budget(epsilon=10.0, delta=1e-6)


def build_target(mode: str, home: Path, users: Users | str | None = None) -> Target:
    """``users``: in curator mode, serve as ``jp-curator`` for a kernel of ``jp-kernel`` (Users),
    or as this process's own user because that cannot be done (str: why), or just so (None)."""
    csv = home / "canary.csv"
    planted().to_csv(csv, index=False)
    if mode == "guard-rail":
        frame = jp.register(csv, name="canary", budget=_budget(), **REGISTRATION)
        return Target(mode, frame, csv, jp.workspace().home / "ledger.sqlite")
    if mode == "curator" and isinstance(users, Users):
        kernel = serve_isolated(users, csv, "canary", budget=_budget(), **REGISTRATION)
        try:
            jp.connect(kernel.address, token_file=kernel.operator_token)  # this process's view
            frame = jp.source("canary")
        except BaseException:
            kernel.stop()
            raise
        ledger = kernel.site.home / "ledger.sqlite"
        return Target(mode, frame, kernel.site.data, ledger, kernel.stop, kernel=kernel)
    if mode == "curator":  # the same source, served by a curator in another process
        process, site = serve_csv(csv, "canary", budget=_budget(), **REGISTRATION)

        def stop() -> None:
            process.stop()
            shutil.rmtree(site.root, ignore_errors=True)

        try:
            jp.connect(process.address, token_file=site.token_file)
            frame = jp.source("canary")
        except BaseException:
            stop()
            raise
        return Target(mode, frame, csv, site.home / "ledger.sqlite", stop, unisolated=users)
    raise NotImplementedError(f"mode {mode!r}")


@pytest.fixture(scope="session")
def isolation() -> Users | str:
    """The curator's and the kernel's OS users, created once; or why they cannot be."""
    admin = find_admin()
    if isinstance(admin, str):
        return (
            "curator mode is a boundary only when the curator's files belong to another OS user, "
            f"and this run cannot create one: {admin}"
        )
    return make_users(admin)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def guarded(mode: str, home: Path, request: pytest.FixtureRequest) -> Iterator[Target]:
    isolate = mode == "curator" and request.node.get_closest_marker("curator_only") is not None
    target = build_target(mode, home, request.getfixturevalue("isolation") if isolate else None)
    yield target
    if target.stop is not None:
        target.stop()


def leaked(text: str) -> list[str]:
    """Which sentinel spellings appear in ``text``."""
    return [s for s in SECRETS if s in text]
