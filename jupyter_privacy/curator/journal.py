"""Idempotent requests: every charging request id is journalled before it runs.

A request is written as ``started`` (durably) before the workspace may charge anything, and as
``done`` with its full response afterwards. The same client sending the same id again gets the
stored response; an id left ``started`` by a curator that died gets a refusal saying the budget
may have been charged and nothing was released: never a second charge, never a free release.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_privacy.core.ledger import now

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    client TEXT NOT NULL, request_id TEXT NOT NULL, digest TEXT NOT NULL, status TEXT NOT NULL,
    response TEXT, created TEXT NOT NULL, PRIMARY KEY (client, request_id)
);
"""


@dataclass(frozen=True)
class Entry:
    digest: str
    status: str
    response: dict[str, Any] | None


class Journal:
    """One SQLite file beside the ledger, written only by the curator."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, client: str, request_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest, status, response FROM requests WHERE client = ? AND request_id = ?",
                (client, request_id),
            ).fetchone()
        if row is None:
            return None
        return Entry(row[0], row[1], json.loads(row[2]) if row[2] else None)

    def start(self, client: str, request_id: str, digest: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO requests VALUES (?, ?, ?, 'started', NULL, ?)",
                (client, request_id, digest, now()),
            )

    def finish(self, client: str, request_id: str, response: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE requests SET status = 'done', response = ? WHERE client = ? AND "
                "request_id = ?",
                (json.dumps(response, allow_nan=True), client, request_id),
            )
