"""``jupyter-privacy ledger reset``: an instructor gives a workshop a fresh budget in one command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_privacy as jp
from jupyter_privacy.cli import main
from jupyter_privacy.core.ledger import Ledger
from tests.conftest import register_patients


def _spend(home: Path, patients_df: object) -> None:
    jp.use_workspace(home)
    p = register_patients(patients_df, budget=jp.Budget(epsilon=1.0))
    p.count(epsilon=0.5)
    p.age.mean(epsilon=0.5)
    with pytest.raises(jp.BudgetExceededError):
        p.count(epsilon=0.1)
    jp.use_workspace(home / "closed")


def test_reset_needs_yes_without_a_terminal_and_changes_nothing(
    tmp_path: Path, patients_df: object
) -> None:
    _spend(tmp_path, patients_df)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_privacy.cli",
            "--home",
            str(tmp_path),
            "ledger",
            "reset",
            "--source",
            "patients",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert run.returncode == 2 and "refusing without --yes" in run.stderr
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        assert ledger.totals("patients")[1].epsilon == 1
        assert len(ledger.releases("patients")) == 2
    finally:
        ledger.close()


def test_reset_gives_the_budget_back_keeps_the_chain_and_records_itself(
    tmp_path: Path, patients_df: object, capsys: pytest.CaptureFixture[str]
) -> None:
    _spend(tmp_path, patients_df)
    before = Ledger(tmp_path / "ledger.sqlite")
    entries = len(before.audit_rows())
    before.close()

    assert main(["--home", str(tmp_path), "ledger", "reset", "--source", "patients", "--yes"]) == 0
    assert "patients: reset (2 charges, 2 releases forgotten)" in capsys.readouterr().out

    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        assert ledger.totals("patients")[1].epsilon == 0
        assert ledger.releases("patients") == [] and ledger.naive_epsilon("patients") == 0
        rows = ledger.audit_rows()
        assert len(rows) == entries + 1 and rows[-1]["outcome"] == "reset"
        assert '"forgot_spent": {"delta": "0", "epsilon": "1", "rho": "0"}' in rows[-1]["detail"]
        assert ledger.verify().ok
    finally:
        ledger.close()
    assert main(["--home", str(tmp_path), "audit", "verify"]) == 0

    jp.use_workspace(tmp_path)  # students start again: the same question is charged afresh
    try:
        p = register_patients(patients_df, budget=jp.Budget(epsilon=1.0))
        again = p.count(epsilon=0.5)
        assert not again.replayed and p.budget.epsilon_spent == 0.5
    finally:
        jp.use_workspace(tmp_path / "closed")


def test_reset_all_and_unknown_sources(
    tmp_path: Path, patients_df: object, capsys: pytest.CaptureFixture[str]
) -> None:
    _spend(tmp_path, patients_df)
    assert main(["--home", str(tmp_path), "ledger", "reset", "--source", "nope", "--yes"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "ledger", "reset", "--yes"]) == 2
    assert main(["--home", str(tmp_path), "ledger", "reset", "--all", "--yes"]) == 0
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        assert ledger.totals("patients")[1].epsilon == 0
    finally:
        ledger.close()


def test_a_tampered_reset_entry_is_caught(tmp_path: Path, patients_df: object) -> None:
    _spend(tmp_path, patients_df)
    assert main(["--home", str(tmp_path), "ledger", "reset", "--all", "--yes"]) == 0
    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        ledger._db.execute("UPDATE audit SET detail = '{}' WHERE outcome = 'reset'")
        result = ledger.verify()
        assert not result.ok and result.first_broken == len(ledger.audit_rows())
    finally:
        ledger.close()
