"""The ledger: budgets, charges, the release cache and a hash-chained audit log, in SQLite.

WAL mode with ``synchronous=FULL``: a charge is on disk before its release is returned. Every
check-and-charge is one ``BEGIN IMMEDIATE`` transaction, so many kernels can share one ledger and
none can overspend. Amounts are stored as exact fractions in text.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from jupyter_privacy.core.budget import Cost, Mode, fits
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.record import ReleaseRecord

GENESIS = "0" * 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY, mode TEXT NOT NULL, total TEXT NOT NULL, spent TEXT NOT NULL,
    budget TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, cost TEXT NOT NULL, fingerprint TEXT NOT NULL,
    plan_hash TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, fingerprint TEXT NOT NULL, plan_hash TEXT NOT NULL,
    cost_key TEXT NOT NULL, plan TEXT NOT NULL, payload TEXT NOT NULL, created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_by_key ON releases (source, fingerprint, plan_hash, cost_key);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, user TEXT NOT NULL, source TEXT NOT NULL,
    plan TEXT NOT NULL, cost TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
"""
AUDIT_FIELDS = ("seq", "time", "user", "source", "plan", "cost", "outcome", "detail")
#: Who the audit log records as asking; a curator sets it per request to the client's identity.
acting_user: ContextVar[str | None] = ContextVar("acting_user", default=None)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    body = json.dumps([entry[f] for f in AUDIT_FIELDS], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _record(
    release_id: str, source: str, fingerprint: str, plan: str, payload: str, created: str
) -> ReleaseRecord:
    """A stored release; rows written before records had one JSON form hold a payload."""
    data = json.loads(payload)
    if "meta" in data:
        return ReleaseRecord.from_payload(
            {"id": release_id, **data},
            plan=json.loads(plan),
            fingerprint=fingerprint,
            created=created,
        )
    return ReleaseRecord.from_json({**data, "plan": json.loads(plan)})


def replayed_ids(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The release id of each ``replayed`` audit entry, in log order (repeats included)."""
    for row in rows:
        if row["outcome"] != "replayed":
            continue
        try:
            release_id = json.loads(row["detail"]).get("release")
        except (ValueError, AttributeError):
            continue
        if isinstance(release_id, str):
            yield release_id


@dataclass(frozen=True)
class Refusal:
    """Why a charge did not fit: the exact amounts, for the refusal message."""

    spent: Cost
    total: Cost


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_broken: int | None
    message: str


class Ledger:
    """One SQLite file per workspace; safe to share between processes."""

    def __init__(self, path: Path, busy_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise PolicyError(
                "open the ledger",
                str(self.path),
                "the file is not a readable ledger database",
                [("error", type(exc).__name__)],
                ["move the file aside and restart, or set JUPYTER_PRIVACY_HOME to another folder"],
            ) from None

    def close(self) -> None:
        self._db.close()

    def _unusable(self, exc: sqlite3.Error) -> PolicyError:
        """A locked or damaged ledger: a clear refusal; the transaction changed nothing."""
        locked = "locked" in str(exc) or "busy" in str(exc)
        return PolicyError(
            "use the ledger",
            str(self.path),
            "another process holds the ledger locked"
            if locked
            else "the ledger database is damaged",
            [("error", f"{type(exc).__name__}: {exc}")],
            ["run the query again once the other process is done"]
            if locked
            else ["move the file aside and restart, or set JUPYTER_PRIVACY_HOME to another folder"],
        )

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._unusable(exc) from None
            try:
                yield self._db
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise self._unusable(exc) from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise self._unusable(exc) from None

    # --- budgets ---------------------------------------------------------------------------------
    def ensure_source(self, name: str, mode: Mode, total: Cost, budget: dict[str, float]) -> None:
        """Record a source's budget on first registration; refuse a different one later."""
        with self._immediate() as db:
            row = db.execute("SELECT mode, budget FROM sources WHERE name = ?", (name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        mode,
                        json.dumps(total.to_json()),
                        json.dumps(Cost().to_json()),
                        json.dumps(budget),
                        now(),
                    ),
                )
                return
        recorded = json.loads(row[1])
        if recorded != budget:
            raise PolicyError(
                "register",
                name,
                "the ledger already holds a different budget for this source",
                [
                    ("recorded", f"ε = {recorded['epsilon']}, δ = {recorded['delta']}"),
                    ("given", f"ε = {budget['epsilon']}, δ = {budget['delta']}"),
                ],
                [
                    f"jp.register(..., budget=jp.Budget(epsilon={recorded['epsilon']}"
                    + (f", delta={recorded['delta']}))" if recorded["delta"] else "))"),
                    "jp.register(..., name='a_new_name')",
                ],
            )

    def totals(self, name: str) -> tuple[Cost, Cost]:
        """(total, spent) for a source."""
        try:
            row = self._db.execute(
                "SELECT total, spent FROM sources WHERE name = ?", (name,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        if row is None:
            raise KeyError(name)
        return Cost.from_json(json.loads(row[0])), Cost.from_json(json.loads(row[1]))

    def naive_epsilon(self, name: str) -> Fraction:
        """Sum of the per-query ε charged (what composition would cost without zCDP)."""
        total = Fraction(0)
        for (cost,) in self._db.execute("SELECT cost FROM charges WHERE source = ?", (name,)):
            total += Cost.from_json(json.loads(cost)).epsilon
        return total

    def source_names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM sources ORDER BY name")]

    # --- check and charge ----------------------------------------------------------------------------
    def charge(
        self, source: str, cost: Cost, mode: Mode, fingerprint: str, plan: str, plan_hash: str
    ) -> int | Refusal:
        """Charge ``cost`` if it fits, durably, with its audit entry; else return a ``Refusal``."""
        with self._immediate() as db:
            total_json, spent_json = db.execute(
                "SELECT total, spent FROM sources WHERE name = ?", (source,)
            ).fetchone()
            total, spent = (
                Cost.from_json(json.loads(total_json)),
                Cost.from_json(json.loads(spent_json)),
            )
            if not fits(cost, spent, total, mode):
                refusal = Refusal(spent, total)
            else:
                db.execute(
                    "UPDATE sources SET spent = ? WHERE name = ?",
                    (json.dumps((spent + cost).to_json()), source),
                )
                cur = db.execute(
                    "INSERT INTO charges (source, cost, fingerprint, plan_hash, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (source, json.dumps(cost.to_json()), fingerprint, plan_hash, now()),
                )
                charge_id = int(cur.lastrowid or 0)
                self._append(db, source, plan, cost, "charged", {"charge": charge_id})
                return charge_id
        self.audit(source, plan, cost, "refused", {"reason": "budget_exceeded"})
        return refusal

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        """Forget a source's spent budget and cached releases (a workshop's fresh start).

        The audit log is append-only: the reset is one more chained entry that records what was
        forgotten, so ``verify`` still passes and the history stays readable.
        """
        with self._immediate() as db:
            row = db.execute("SELECT spent FROM sources WHERE name = ?", (source,)).fetchone()
            if row is None:
                raise KeyError(source)
            spent = Cost.from_json(json.loads(row[0]))
            charges = db.execute("DELETE FROM charges WHERE source = ?", (source,)).rowcount
            releases = db.execute("DELETE FROM releases WHERE source = ?", (source,)).rowcount
            db.execute(
                "UPDATE sources SET spent = ? WHERE name = ?",
                (json.dumps(Cost().to_json()), source),
            )
            detail = {
                "reason": reason,
                "forgot_spent": spent.to_json(),
                "charges": charges,
                "releases": releases,
            }
            self._append(db, source, "{}", Cost(), "reset", detail)
        return detail

    # --- releases ------------------------------------------------------------------------------------
    def lookup(
        self, source: str, fingerprint: str, plan_hash: str, cost_key: str
    ) -> ReleaseRecord | None:
        """The release made from the same plan at the same cost on the same data version."""
        try:
            row = self._db.execute(
                "SELECT id, source, fingerprint, plan, payload, created FROM releases "
                "WHERE source = ? AND fingerprint = ? AND plan_hash = ? AND cost_key = ? "
                "ORDER BY created LIMIT 1",
                (source, fingerprint, plan_hash, cost_key),
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        return None if row is None else _record(*row)

    def record_release(self, record: ReleaseRecord, plan: str, cost: Cost) -> None:
        """Store a release and its audit entry in one transaction."""
        with self._immediate() as db:
            db.execute(
                "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.source,
                    record.fingerprint or "",
                    record.plan_hash,
                    record.cost_key,
                    plan,
                    # the plan has a column of its own
                    json.dumps({**record.to_json(), "plan": None}, allow_nan=True),
                    now(),
                ),
            )
            self._append(db, record.source, plan, cost, "released", {"release": record.id})

    def releases(self, source: str | None = None) -> list[ReleaseRecord]:
        sql = "SELECT id, source, fingerprint, plan, payload, created FROM releases"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        return [_record(*row) for row in self._db.execute(sql + " ORDER BY created", args)]

    # --- audit log -------------------------------------------------------------------------------------
    def _append(
        self,
        db: sqlite3.Connection,
        source: str,
        plan: str,
        cost: Cost,
        outcome: str,
        detail: dict[str, Any],
    ) -> None:
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        entry = {
            "seq": seq,
            "time": now(),
            "user": acting_user.get() or _user(),
            "source": source,
            "plan": plan,
            "cost": json.dumps(cost.to_json(), sort_keys=True),
            "outcome": outcome,
            "detail": json.dumps(detail, sort_keys=True),
        }
        digest = entry_hash(prev, entry)
        db.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*[entry[f] for f in AUDIT_FIELDS], prev, digest),
        )

    def audit(
        self, source: str, plan: str, cost: Cost, outcome: str, detail: dict[str, Any]
    ) -> None:
        """Record an attempt that charged nothing (refused, replayed) or failed after a charge."""
        with self._immediate() as db:
            self._append(db, source, plan, cost, outcome, detail)

    def audit_rows(self) -> list[dict[str, Any]]:
        cols = (*AUDIT_FIELDS, "prev_hash", "hash")
        return [
            dict(zip(cols, r, strict=True))
            for r in self._db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY seq")
        ]

    def head(self) -> tuple[int, str]:
        """(entries, hash of the last entry): what a reviewer keeps to detect a truncated log."""
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def verify(self, head_hash: str | None = None, head_entries: int | None = None) -> VerifyResult:
        """Walk the hash chain; name the first entry whose hash or link does not match.

        With an exported head (``head_hash``, optionally its entry number) the log must still
        contain that entry unchanged: truncating the tail, or rewriting the whole chain, is caught.
        Each source's spent budget must equal its charges in the chain since its last reset.
        """
        prev, count = GENESIS, 0
        expected_seq = 1
        head_seen: int | None = None
        charged: dict[str, Cost] = {}
        for row in self.audit_rows():
            count += 1
            if row["seq"] != expected_seq:
                return VerifyResult(
                    False,
                    count,
                    expected_seq,
                    f"entry {expected_seq} is missing (next is {row['seq']})",
                )
            if row["prev_hash"] != prev:
                return VerifyResult(
                    False,
                    count,
                    row["seq"],
                    f"entry {row['seq']} does not link to entry {row['seq'] - 1}",
                )
            if entry_hash(prev, row) != row["hash"]:
                return VerifyResult(False, count, row["seq"], f"entry {row['seq']} was altered")
            if row["hash"] == head_hash:
                head_seen = row["seq"]
            if row["outcome"] == "reset":
                charged[row["source"]] = Cost()
            elif row["outcome"] == "charged":
                cost = Cost.from_json(json.loads(row["cost"]))
                charged[row["source"]] = charged.get(row["source"], Cost()) + cost
            prev = row["hash"]
            expected_seq += 1
        if head_hash is not None and (
            head_seen is None or (head_entries is not None and head_seen != head_entries)
        ):
            where = head_entries if head_entries is not None else count + 1
            return VerifyResult(
                False,
                count,
                where,
                f"entry {where} of the exported head is not in the log "
                f"(it ends at entry {count}): it was truncated or rewritten",
            )
        for name in self.source_names():
            _, spent = self.totals(name)
            if spent != charged.get(name, Cost()):
                return VerifyResult(
                    False,
                    count,
                    None,
                    f"the spent budget of '{name}' does not match the charges in the audit log",
                )
        return VerifyResult(True, count, None, f"audit log intact: {count} entries")
