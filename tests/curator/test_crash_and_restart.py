"""Kill the curator mid-release and restart it: no free release, no double charge.

The curators here are real ``jupyter-privacy serve`` processes (or the same server with a
listener that calls ``os._exit`` at one point of a release); each is stopped by its pid.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.ledger import Ledger
from jupyter_privacy.curator.client import CuratorService
from tests.curator.conftest import (
    Process,
    Raw,
    Site,
    read_token,
    run_message,
    serve_process,
)

HERE = Path(__file__).resolve().parent


def faulty(site: Site, stage: str) -> Process:
    return Process(
        [
            sys.executable,
            str(HERE / "faulty_curator.py"),
            str(site.policy),
            str(site.home),
            site.socket(),
            str(site.token_file),
            stage,
        ]
    )


def ledger_facts(site: Site) -> dict[str, Any]:
    ledger = Ledger(site.home / "ledger.sqlite")
    try:
        _, spent = ledger.totals("patients")
        outcomes = [r["outcome"] for r in ledger.audit_rows() if r["source"] == "patients"]
        return {
            "spent": spent.epsilon,
            "releases": len(ledger.releases("patients")),
            "outcomes": outcomes,
            "chain_ok": ledger.verify().ok,
        }
    finally:
        ledger.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for proc in started:
        proc.stop()


def _release_in_thread(ws: CuratorService) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = ws["patients"].age.mean(epsilon=1.0)
        except jp.PrivacyError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    return thread, outcome


def test_killed_after_the_charge_the_retry_says_so_and_charges_nothing_more(
    site: Site, processes: list[Process]
) -> None:
    processes.append(faulty(site, "charge"))
    ws = CuratorService.connect(site.socket(), token_file=site.token_file, retry_seconds=120)
    thread, outcome = _release_in_thread(ws)
    assert processes[0].proc.wait(timeout=120) == 70  # it died right after charging
    processes.append(serve_process(site, site.socket()))  # restarted; the client reconnects
    thread.join(timeout=120)
    error = outcome.get("error")
    assert isinstance(error, jp.ReleaseFailedError), outcome
    assert "the curator stopped while this request was running" in str(error)
    facts = ledger_facts(site)
    assert facts["spent"] == Fraction(1) and facts["releases"] == 0  # one charge, no value
    assert facts["outcomes"] == ["charged", "interrupted"] and facts["chain_ok"]
    again = ws["patients"].age.mean(epsilon=1.0)  # a new request: a new, honest charge
    assert not again.replayed and ledger_facts(site)["spent"] == Fraction(2)
    ws.close()


def test_killed_after_the_release_a_rerun_replays_it_without_a_second_charge(
    site: Site, processes: list[Process]
) -> None:
    processes.append(faulty(site, "release"))
    ws = CuratorService.connect(site.socket(), token_file=site.token_file, retry_seconds=120)
    thread, outcome = _release_in_thread(ws)
    assert processes[0].proc.wait(timeout=120) == 70
    processes.append(serve_process(site, site.socket()))
    thread.join(timeout=120)
    assert isinstance(outcome.get("error"), jp.ReleaseFailedError), outcome
    assert ledger_facts(site)["spent"] == Fraction(1)
    rerun = ws["patients"].age.mean(epsilon=1.0)
    assert rerun.replayed  # the release that was made is the one returned, free
    facts = ledger_facts(site)
    assert facts["spent"] == Fraction(1) and facts["releases"] == 1 and facts["chain_ok"]
    ws.close()


def test_the_same_request_id_is_answered_from_the_journal_after_a_restart(
    site: Site, processes: list[Process]
) -> None:
    processes.append(serve_process(site, site.socket()))
    raw = Raw(site.socket())
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    first = raw.ask(run_message("same-id-1", epsilon=0.5))
    raw.close()
    assert first is not None and first["ok"]
    processes[0].stop()
    processes.append(serve_process(site, site.socket()))
    raw = Raw(site.socket())
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    second = raw.ask(run_message("same-id-1", epsilon=0.5))
    reused = raw.ask(run_message("same-id-1", epsilon=0.7))  # same id, another request
    raw.close()
    assert second is not None and second["result"] == first["result"]
    assert reused is not None and reused["error"]["code"] == "request_id_reused"
    assert ledger_facts(site)["spent"] == Fraction(1, 2)


def test_a_response_lost_on_the_wire_is_not_charged_twice(
    site: Site, processes: list[Process]
) -> None:
    processes.append(serve_process(site, "tcp://127.0.0.1:0"))
    address = processes[0].address
    raw = Raw(address)
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    raw.send(run_message("lost-1", epsilon=0.25, statistic="sum"))
    raw.close()  # hang up before the answer
    raw = Raw(address)
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    answer = raw.ask(run_message("lost-1", epsilon=0.25, statistic="sum"))
    raw.close()
    assert answer is not None and answer["ok"] and answer["result"]["replayed"] is False
    facts = ledger_facts(site)
    assert facts["spent"] == Fraction(1, 4) and facts["releases"] == 1


def test_an_idle_client_reconnects_to_a_restarted_curator(
    site: Site, processes: list[Process]
) -> None:
    processes.append(serve_process(site, site.socket()))
    ws = CuratorService.connect(site.socket(), token_file=site.token_file, retry_seconds=120)
    ws["patients"].count(epsilon=0.5)
    processes[0].stop()
    processes.append(serve_process(site, site.socket()))
    assert ws.budget_state("patients").epsilon_spent == 0.5
    assert ws["patients"].count(epsilon=0.5).replayed
    ws.close()


def test_a_curator_that_stays_away_fails_clearly_and_a_rerun_reuses_the_request(
    site: Site, processes: list[Process]
) -> None:
    processes.append(serve_process(site, site.socket()))
    ws = CuratorService.connect(site.socket(), token_file=site.token_file, retry_seconds=0.5)
    processes[0].stop()
    with pytest.raises(jp.PrivacyError) as gone:
        ws["patients"].income.sum(epsilon=0.5)
    assert gone.value.code == "curator_unavailable"
    assert "the curator cannot be reached" in str(gone.value)
    (pending,) = ws._unanswered.values()
    processes.append(serve_process(site, site.socket()))
    ws["patients"].income.sum(epsilon=0.5)
    journal = sqlite3.connect(site.home / "curator.sqlite")
    ids = [r[0] for r in journal.execute("SELECT request_id FROM requests")]
    journal.close()
    assert ids == [pending] and ledger_facts(site)["spent"] == Fraction(1, 2)
    ws.close()
