"""Several clients, one budget: together they can never spend more than the source holds."""

from __future__ import annotations

import os
import threading
from fractions import Fraction

import pytest

import jupyter_privacy as jp
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.curator.server import CuratorServer
from tests.curator.conftest import Site

CLIENTS = 4
EPSILON = 0.25  # the source holds 10.0: exactly 40 releases fit


def test_concurrent_clients_share_one_budget_and_never_overspend(
    curator: CuratorServer, site: Site
) -> None:
    released: list[str] = []
    refused: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        ws = CuratorService.connect(curator.address, token_file=site.token_file)
        p = ws["patients"]
        barrier.wait()
        try:
            for i in range(15):  # 60 distinct queries in all; only 40 can be paid for
                try:
                    r = p[p.age >= 18 + n * 15 + i].count(epsilon=EPSILON)
                except jp.BudgetExceededError:
                    with lock:
                        refused.append(f"{n}:{i}")
                    continue
                assert not r.replayed
                with lock:
                    released.append(r.id)
        except BaseException as exc:  # surface assertion errors from the thread
            failures.append(exc)
        finally:
            ws.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(released) == 40 and len(set(released)) == 40 and len(refused) == 20
    ledger = curator.curator.ws.ledger
    total, spent = ledger.totals("patients")
    assert spent.epsilon == total.epsilon == Fraction(10)
    outcomes = [r["outcome"] for r in ledger.audit_rows()]
    assert outcomes.count("charged") == 40 and outcomes.count("released") == 40
    assert ledger.verify().ok


@pytest.mark.parametrize("curator", ["unix"], indirect=True)
def test_each_client_is_named_in_the_audit_log(curator: CuratorServer, site: Site) -> None:
    from jupyter_privacy.curator.auth import Client, digest

    curator.curator.registry.extra.append(Client("bob", digest("b" * 32), None))
    alice = CuratorService.connect(curator.address, token_file=site.token_file)
    bob = CuratorService.connect(curator.address, token="b" * 32)
    alice["patients"].count(epsilon=0.5)
    bob["patients"].income.sum(epsilon=0.5)
    users = [r["user"] for r in curator.curator.ws.ledger.audit_rows() if r["outcome"] == "charged"]
    assert users[0].endswith(f"(curator client, uid {os.getuid()})")
    assert users[1].startswith("bob (curator client")
    assert alice.budget_state("patients").epsilon_spent == 1.0  # one budget for both
    alice.close()
    bob.close()
