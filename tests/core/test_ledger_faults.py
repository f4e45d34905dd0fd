"""The ledger under load, SIGKILL, tampering, corruption and locks.

* 16 processes × 200 charges race for a budget that affords exactly 1,000 of them (on tmpfs
  where there is one: the race is under test, not the disk's fsync; durability settings unchanged).
* 80 runs of a small analysis are killed with SIGKILL: 40 at injected points inside the release
  protocol (in and after the charge transaction, before, in and after the release record) and 40
  at random times. Children are forked from a warm "zygote" process (imports paid once; it never
  ran a polars query, so forking it is safe), so a run costs a fraction of a second.
* Edits, deletions, reorderings and truncation of the audit log are caught by
  ``jupyter-privacy audit verify`` (truncation with the head a reviewer kept from ``audit head``).
* A corrupt or locked ledger gives a ``PolicyError`` and loses nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

import jupyter_privacy as jp
from jupyter_privacy.cli import main as cli
from jupyter_privacy.core.budget import Cost, exact
from jupyter_privacy.core.ledger import Ledger
from tests.conftest import make_patients

# --- many processes, one budget ----------------------------------------------------------------

SPENDER = """
import os, sys, time
from pathlib import Path
from jupyter_privacy.core.budget import Cost, exact
from jupyter_privacy.core.ledger import Ledger
home, n = Path(sys.argv[1]), int(sys.argv[2])
ledger = Ledger(home / "ledger.sqlite")
(home / f"ready-{os.getpid()}").touch()
while not (home / "go").exists():
    time.sleep(0.005)
granted = sum(
    isinstance(ledger.charge("s", Cost(epsilon=exact("0.001")), "pure", "fp", "{}", "h"), int)
    for _ in range(n)
)
print(granted)
"""


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """tmpfs where there is one: fsync is cheap there, and the race, not the disk, is under test."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="jp-ledger-race-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_sixteen_processes_racing_for_one_budget_are_granted_exactly_what_it_affords(
    fast_dir: Path,
) -> None:
    """ε = 1 affords exactly 1,000 charges of ε = 0.001 (exact fractions); 3,200 are asked for."""
    tmp_path = fast_dir
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.ensure_source("s", "pure", Cost(epsilon=exact(1.0)), {"epsilon": 1.0, "delta": 0.0})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPENDER, str(tmp_path), "200"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(16)
    ]
    while len(list(tmp_path.glob("ready-*"))) < len(procs):  # all imported, all at the line
        assert all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (tmp_path / "go").touch()
    granted = [int(p.communicate(timeout=600)[0]) for p in procs]
    print(f"\ngranted per process: {granted}; total {sum(granted)} of 3200 asked")
    assert all(p.returncode == 0 for p in procs)
    assert sum(granted) == 1000
    assert ledger.totals("s")[1].epsilon == 1
    outcomes = Counter(r["outcome"] for r in ledger.audit_rows())
    assert outcomes == {"charged": 1000, "refused": 2200}
    assert ledger.verify().ok
    ledger.close()
    assert cli(["--home", str(tmp_path), "audit", "verify"]) == 0


# --- SIGKILL at injected points and at random times -----------------------------------------------

ZYGOTE = textwrap.dedent('''
    import json, os, signal, sys, traceback
    import jupyter_privacy as jp
    from jupyter_privacy.core.engine import opendp_api  # noqa: F401  (OpenDP loaded once, here)
    from jupyter_privacy.core.ledger import Ledger

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def inject(point):
        """Kill this process at ``point`` of the first release it makes."""
        append, charge, record = Ledger._append, Ledger.charge, Ledger.record_release

        def _append(self, db, source, plan, cost, outcome, detail):
            append(self, db, source, plan, cost, outcome, detail)
            if (point, outcome) in (("in_charge", "charged"), ("in_record", "released")):
                die()  # the entry is written, the transaction not committed

        def _charge(self, *args):
            out = charge(self, *args)
            if point == "after_charge":
                die()  # charged and committed; no noise drawn yet
            return out

        def _record(self, *args):
            if point == "before_record":
                die()  # charged, noise drawn, nothing recorded
            record(self, *args)
            if point == "after_record":
                die()  # recorded, not yet returned to the analyst

        Ledger._append, Ledger.charge, Ledger.record_release = _append, _charge, _record

    def scenario(home, csv, run, point, out):
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        inject(point)
        jp.use_workspace(home)
        p = jp.register(csv, name="p", budget=jp.Budget(epsilon=1000.0),
                        bounds={"age": (18, 90), "income": (0, 250000)})
        asks = [
            lambda: p.age.mean(epsilon=0.5, alpha=0.05 + run * 1e-6),  # new in this run
            lambda: p.age.mean(epsilon=0.5, alpha=0.05 + (run - 1) * 1e-6),  # the last run's
            lambda: p.count(epsilon=0.1),  # the same in every run
            lambda: p.income.sum(epsilon=0.3, alpha=0.05 + run * 1e-6),
        ]
        for ask in asks:
            r = ask()
            line = json.dumps([r.query, r.alpha, r.epsilon, float(r), r.replayed, r.id])
            os.write(fd, (line + "\\n").encode())  # what the analyst saw, the moment it returned

    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                scenario(**cmd)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os._exit(3)
        print(pid, flush=True)
        sys.stdin.readline()  # the parent has killed the child, or let it finish: reap it now
        print(os.waitpid(pid, 0)[1], flush=True)
''')
POINTS = ("in_charge", "after_charge", "before_record", "in_record", "after_record")
RUNS = 80


class Zygote:
    def __init__(self, script: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, cmd: dict[str, object], kill_after: float | None = None) -> int:
        """Fork one child for ``cmd``; SIGKILL it after ``kill_after`` seconds; its wait status."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        if kill_after is not None:
            time.sleep(kill_after)
            os.kill(pid, signal.SIGKILL)  # not yet reaped: the pid cannot have been reused
        self.proc.stdin.write("reap\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    script = tmp_path / "zygote.py"
    script.write_text(ZYGOTE)
    z = Zygote(script)
    yield z
    z.close()


def killed(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_sigkill_anywhere_never_releases_without_a_charge_nor_redraws_a_seen_value(
    tmp_path: Path, zygote: Zygote
) -> None:
    home, csv, out = tmp_path / "home", tmp_path / "p.csv", tmp_path / "seen.jsonl"
    make_patients(300).to_csv(csv, index=False)
    rng = random.Random(6)

    def cmd(run: int, point: str | None) -> dict[str, object]:
        return {"home": str(home), "csv": str(csv), "run": run, "point": point, "out": str(out)}

    assert zygote.run(cmd(-1, None)) == 0  # clean runs; the second times a warm run, which sets
    started = time.perf_counter()  # the scale of random kill times
    assert zygote.run(cmd(0, None)) == 0
    clean = time.perf_counter() - started
    statuses = []
    for run in range(1, RUNS + 1):
        if run <= 40:
            status = zygote.run(cmd(run, POINTS[run % len(POINTS)]))
            assert killed(status), f"run {run}: the injected kill did not fire ({status})"
        else:
            status = zygote.run(cmd(run, None), kill_after=rng.uniform(0, 1.2 * clean))
            assert killed(status) or status == 0, f"run {run} failed ({status}), not killed"
        statuses.append(status)
    assert zygote.run(cmd(RUNS + 1, None)) == 0  # afterwards, a clean run still works
    print(f"\n{RUNS} crash runs: {sum(map(killed, statuses))} killed "
          f"({sum(map(killed, statuses[40:]))} of 40 at random times), the rest finished")  # fmt: skip

    ledger = Ledger(home / "ledger.sqlite")
    # 1. the audit chain is intact and the spent budget equals the charges it records
    assert ledger.verify().ok, ledger.verify().message
    charges = ledger._db.execute("SELECT plan_hash, cost FROM charges").fetchall()
    spent = sum((Cost.from_json(json.loads(c)) for _, c in charges), Cost())
    assert ledger.totals("p")[1] == spent
    # 2. no release without a charge: per plan, at least as many charges as releases
    per_plan = Counter(h for h, _ in charges)
    recorded = ledger.releases("p")
    for plan_hash, n in Counter(r.plan_hash for r in recorded).items():
        assert per_plan[plan_hash] >= n
    # 3. once recorded, never re-drawn: one release per plan and cost
    keys = Counter((r.plan_hash, r.cost_key) for r in recorded)
    assert max(keys.values()) == 1
    # 4. every value an analyst saw was recorded first, and every later ask saw the same value
    values_by_id = {r.id: r.cells[0].value for r in recorded}
    seen: dict[tuple[str, float, float], set[float]] = defaultdict(set)
    for line in out.read_text().splitlines():
        query, alpha, epsilon, value, _replayed, release_id = json.loads(line)
        assert values_by_id[release_id] == value
        seen[(query, alpha, epsilon)].add(value)
    assert all(len(v) == 1 for v in seen.values()), "a value the analyst saw was drawn again"
    # 5. charges without a recorded release are exactly the lost ones (budget lost, not privacy)
    lost = len(charges) - len(recorded)
    print(
        f"{len(charges)} charges, {len(recorded)} releases recorded, {lost} charges lost to kills"
    )
    assert lost >= 16  # before_record and in_record kills lose their charge (8 runs each)
    ledger.close()


# --- tampering ------------------------------------------------------------------------------------


def _filled(tmp_path: Path, n: int = 6) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.ensure_source("s", "pure", Cost(epsilon=exact(10.0)), {"epsilon": 10.0, "delta": 0.0})
    for i in range(n):
        ledger.charge("s", Cost(epsilon=exact(0.1)), "pure", "fp", json.dumps({"q": i}), "h")
    return ledger


def _tamper(tmp_path: Path, *statements: str) -> None:
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()


def _verify(tmp_path: Path, *extra: str) -> tuple[int, str]:
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        code = cli(["--home", str(tmp_path), "audit", "verify", *extra])
    return code, buffer.getvalue()


@pytest.mark.parametrize(
    "label, statements, message",
    [
        ("edited plan", ["UPDATE audit SET plan = '{\"q\":99}' WHERE seq = 3"], "entry 3 was altered"),
        ("edited cost", ["UPDATE audit SET cost = '{}' WHERE seq = 2"], "entry 2 was altered"),
        ("edited outcome", ["UPDATE audit SET outcome = 'refused' WHERE seq = 5"], "entry 5 was altered"),
        ("deleted entry", ["DELETE FROM audit WHERE seq = 4"], "entry 4 is missing"),
        (
            "reordered entries",
            [
                "UPDATE audit SET seq = -2 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = -2",
            ],
            "entry 2 does not link to entry 1",
        ),
        (
            "spent budget reset",
            ["UPDATE sources SET spent = '{\"epsilon\": \"0\", \"rho\": \"0\", \"delta\": \"0\"}'"],
            "the spent budget of 's' does not match the charges in the audit log",
        ),
        ("truncated tail", ["DELETE FROM audit WHERE seq >= 5"], "does not match the charges"),
    ],
)  # fmt: skip
def test_audit_verify_detects_tampering(
    tmp_path: Path, label: str, statements: list[str], message: str
) -> None:
    _filled(tmp_path).close()
    assert _verify(tmp_path)[0] == 0
    _tamper(tmp_path, *statements)
    code, said = _verify(tmp_path)
    assert code == 1 and message in said and said.startswith("audit log BROKEN"), said


def test_a_truncation_that_keeps_the_books_balanced_is_caught_by_the_reviewers_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refusals charge nothing: dropping trailing refusals leaves a valid chain and balanced books;
    only the head a reviewer exported earlier shows that entries are gone."""
    ledger = _filled(tmp_path, 3)
    for _ in range(3):
        ledger.charge("s", Cost(epsilon=exact(100.0)), "pure", "fp", "{}", "h")  # refused
    ledger.close()
    assert cli(["--home", str(tmp_path), "audit", "head"]) == 0
    head = capsys.readouterr().out
    (tmp_path / "head.txt").write_text(head)
    assert head.split()[0] == "6" and len(head.split()[1]) == 64
    assert _verify(tmp_path, "--head", str(tmp_path / "head.txt"))[0] == 0
    _tamper(tmp_path, "DELETE FROM audit WHERE seq > 4")
    assert _verify(tmp_path)[0] == 0  # without the head the shorter log looks fine
    for kept in (str(tmp_path / "head.txt"), head.strip(), head.split()[1]):
        code, said = _verify(tmp_path, "--head", kept)
        assert code == 1 and "truncated or rewritten" in said, said


def test_a_rewritten_chain_with_fresh_hashes_is_caught_by_the_reviewers_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone with write access recomputes every hash after an edit: the chain verifies, the
    reviewer's head does not."""
    from jupyter_privacy.core.ledger import GENESIS, entry_hash

    _filled(tmp_path).close()
    cli(["--home", str(tmp_path), "audit", "head"])
    head = capsys.readouterr().out.strip()
    _tamper(tmp_path, 'UPDATE audit SET plan = \'{"q":"other"}\' WHERE seq = 2')
    ledger = Ledger(tmp_path / "ledger.sqlite")
    rows = ledger.audit_rows()
    ledger.close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    prev = GENESIS
    for row in rows:
        digest = entry_hash(prev, row)
        db.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row["seq"])
        )
        prev = digest
    db.commit()
    db.close()
    assert _verify(tmp_path)[0] == 0
    assert _verify(tmp_path, "--head", head)[0] == 1


# --- corrupt and locked ledgers -------------------------------------------------------------------


def test_a_corrupt_page_gives_a_policy_error_and_charges_nothing(home: Path) -> None:
    p = jp.register(
        make_patients(), name="p", budget=jp.Budget(epsilon=10.0), bounds={"age": (0, 99)}
    )
    for i in range(30):
        p.age.mean(epsilon=0.1, alpha=0.05 + i / 1000)
    jp.use_workspace(home / "elsewhere")
    db = sqlite3.connect(home / "ledger.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(home / "ledger.sqlite", "r+b") as fh:
        fh.seek(4096 * 3)
        fh.write(b"\xff" * 4096)
    jp.use_workspace(home)
    with pytest.raises(jp.PolicyError) as err:
        p = jp.register(
            make_patients(), name="p", budget=jp.Budget(epsilon=10.0), bounds={"age": (0, 99)}
        )
        p.age.mean(epsilon=0.1, alpha=0.5)
    assert "the ledger database is damaged" in str(err.value)
    assert str(err.value).startswith("Refused to use the ledger on ")


def test_a_locked_ledger_gives_a_policy_error_then_works_and_loses_nothing(tmp_path: Path) -> None:
    ledger = _filled(tmp_path, 3)
    ledger.close()
    blocker = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    waiting = Ledger(tmp_path / "ledger.sqlite", busy_timeout=0.2)
    with pytest.raises(jp.PolicyError) as err:
        waiting.charge("s", Cost(epsilon=exact(0.1)), "pure", "fp", "{}", "h")
    assert "another process holds the ledger locked" in str(err.value)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert waiting.totals("s")[1].epsilon == Fraction(3, 10)  # nothing charged by the failure
    assert isinstance(waiting.charge("s", Cost(epsilon=exact(0.1)), "pure", "fp", "{}", "h"), int)
    assert waiting.totals("s")[1].epsilon == Fraction(4, 10)
    assert waiting.verify().ok and waiting.verify().entries == 4
    waiting.close()
