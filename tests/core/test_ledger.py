"""The ledger: durable charges, no overspend across processes, a verifiable audit chain."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.cli import main as cli
from jupyter_privacy.core.budget import Cost, exact
from jupyter_privacy.core.engine.data import ROW_CACHE
from jupyter_privacy.core.ledger import Ledger, Refusal
from tests.conftest import make_patients, register_patients


def _ledger(tmp_path: Path, epsilon: float = 1.0) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.ensure_source(
        "s", "pure", Cost(epsilon=exact(epsilon)), {"epsilon": epsilon, "delta": 0.0}
    )
    return ledger


def test_the_ledger_uses_wal_and_full_sync(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_charge_over_budget_is_refused_and_records_nothing_spent(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    assert isinstance(ledger.charge("s", Cost(epsilon=exact(0.6)), "pure", "fp", "{}", "h"), int)
    refusal = ledger.charge("s", Cost(epsilon=exact(0.5)), "pure", "fp", "{}", "h")
    assert isinstance(refusal, Refusal)
    assert ledger.totals("s")[1].epsilon == exact(0.6)
    outcomes = [r["outcome"] for r in ledger.audit_rows()]
    assert outcomes == ["charged", "refused"]


def test_re_registering_with_another_budget_is_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    with pytest.raises(jp.PolicyError, match="already holds a different budget"):
        ledger.ensure_source("s", "pure", Cost(epsilon=exact(2.0)), {"epsilon": 2.0, "delta": 0.0})


def test_audit_verify_passes_then_names_the_first_altered_entry(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 10.0)
    for _ in range(5):
        ledger.charge("s", Cost(epsilon=exact(0.1)), "pure", "fp", '{"q":1}', "h")
    assert ledger.verify().ok
    assert cli(["--home", str(tmp_path), "audit", "verify"]) == 0
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    db.execute("UPDATE audit SET cost = ? WHERE seq = 3", ('{"epsilon":"0"}',))
    db.commit()
    result = ledger.verify()
    assert not result.ok and result.first_broken == 3
    assert cli(["--home", str(tmp_path), "audit", "verify"]) == 1


def test_audit_verify_detects_a_deleted_entry(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 10.0)
    for _ in range(4):
        ledger.charge("s", Cost(epsilon=exact(0.1)), "pure", "fp", "{}", "h")
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    db.execute("DELETE FROM audit WHERE seq = 2")
    db.commit()
    assert ledger.verify().first_broken == 2


def test_the_cli_prints_an_error_and_exits_2_on_a_missing_ledger(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no ledger"):
        cli(["--home", str(tmp_path / "none"), "ledger", "show"])


def test_a_corrupt_ledger_file_gives_a_policy_error(tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(jp.PolicyError) as err:
        Ledger(tmp_path / "ledger.sqlite")
    assert "not a readable ledger database" in str(err.value)


def _spend(home: str, n: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    ledger = Ledger(Path(home) / "ledger.sqlite")
    ok = 0
    for _ in range(n):
        if isinstance(ledger.charge("s", Cost(epsilon=exact(0.01)), "pure", "fp", "{}", "h"), int):
            ok += 1
    out.put(ok)


def test_many_processes_sharing_a_ledger_never_overspend(tmp_path: Path) -> None:
    _ledger(tmp_path, 0.5).close()
    queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
    procs = [
        mp.get_context("spawn").Process(target=_spend, args=(str(tmp_path), 25, queue))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    granted = sum(queue.get(timeout=5) for _ in procs)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert granted == 50
    assert ledger.totals("s")[1].epsilon == exact(0.5)
    assert ledger.verify().ok


def test_a_new_process_sees_the_same_remaining_budget_and_replays_for_free(
    home: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "patients.csv"
    make_patients().to_csv(csv, index=False)
    script = textwrap.dedent(f"""
        import jupyter_privacy as jp
        jp.use_workspace({str(home)!r})
        p = jp.register({str(csv)!r}, name="patients", budget=jp.Budget(epsilon=1.0),
                        bounds={{"age": (18, 90)}})
        r = p.age.mean(epsilon=0.3)
        print(repr(float(r)), r.replayed, p.budget.epsilon_spent)
    """)
    first = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    second = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    v1, replayed1, spent1 = first.stdout.split()
    v2, replayed2, spent2 = second.stdout.split()
    assert (replayed1, replayed2) == ("False", "True")
    assert v1 == v2 and spent1 == spent2 == "0.3"
    p = jp.register(csv, name="patients", budget=jp.Budget(epsilon=1.0), bounds={"age": (18, 90)})
    assert p.budget.epsilon_remaining == pytest.approx(0.7)


def test_a_changed_data_version_does_not_replay_but_shares_the_budget(
    home: Path, patients_df: pd.DataFrame
) -> None:
    p = register_patients(patients_df, budget=jp.Budget(epsilon=1.0))
    first = p.age.mean(epsilon=0.25)
    again = p.age.mean(epsilon=0.25)
    assert again.replayed and float(again) == float(first) and again.id == first.id
    changed = patients_df.copy()
    changed.loc[0, "age"] = 19 if changed.loc[0, "age"] != 19 else 20
    p2 = register_patients(changed, budget=jp.Budget(epsilon=1.0))
    fresh = p2.age.mean(epsilon=0.25)
    assert not fresh.replayed
    assert p2.budget.epsilon_spent == pytest.approx(0.5)
    outcomes = [r["outcome"] for r in jp.workspace().ledger.audit_rows()]
    assert outcomes.count("replayed") == 1 and outcomes.count("released") == 2


def test_a_release_that_fails_after_the_charge_keeps_the_charge(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    make_patients().to_csv(csv, index=False)
    p = jp.register(csv, name="d", budget=jp.Budget(epsilon=1.0), bounds={"age": (18, 90)})
    ROW_CACHE.settle()  # overwriting a file polars is still mapping in the background is a SIGBUS
    csv.write_text("garbage")  # the file changes under the source: reading it now fails
    with pytest.raises(jp.ReleaseFailedError) as err:
        p.age.mean(epsilon=0.2)
    assert "after the budget was charged" in str(err.value)
    assert p.budget.epsilon_spent == pytest.approx(0.2)
    assert [r["outcome"] for r in jp.workspace().ledger.audit_rows()][-2:] == ["charged", "failed"]


def test_releases_stored_before_records_had_one_form_still_read_and_replay(
    home: Path, tmp_path: Path
) -> None:
    """A ledger written by an earlier version stores ``{"scalar", "cells", "meta"}`` payloads."""
    csv = tmp_path / "d.csv"
    make_patients().to_csv(csv, index=False)
    p = jp.register(csv, name="d", budget=jp.Budget(epsilon=1.0), bounds={"age": (18, 90)})
    made = p.age.mean(epsilon=0.2)
    ws = jp.workspace()
    (record,) = ws.releases("d")
    legacy = {
        "scalar": record.scalar,
        "cells": [c.to_json() for c in record.cells],
        "meta": {
            "source": "d",
            "query": record.query,
            "alpha": record.alpha,
            "epsilon": record.epsilon,
            "delta": record.delta,
            "rho": record.rho,
            "mechanism": record.mechanism,
            "created": record.created,
            "by": [],
            "fingerprint": record.fingerprint,
            "context": {},
            "cost_key": record.cost_key,
            "plan_hash": record.plan_hash,
        },
    }
    with sqlite3.connect(home / "ledger.sqlite") as db:
        db.execute("UPDATE releases SET payload = ?", (json.dumps(legacy),))
    db.close()
    (old,) = ws.releases("d")
    assert (old.id, old.plan_hash, old.cells) == (record.id, record.plan_hash, record.cells)
    again = p.age.mean(epsilon=0.2)
    assert again.replayed and float(again) == float(made)
    assert p.budget.epsilon_spent == pytest.approx(0.2)
