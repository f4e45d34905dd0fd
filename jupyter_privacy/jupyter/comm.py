"""The kernel end of the ``jupyter_privacy`` comm: versioned JSON snapshots and events.

The schema is written down in ``docs/comm-schema.md``. Only released values and public metadata
ever go on the wire: messages are built from the ledger's release records and budget states,
never from a frame.
"""

from __future__ import annotations

import math
from typing import Any

from jupyter_privacy.core.workspace import Workspace

TARGET = "jupyter_privacy"
SCHEMA = "jupyter-privacy/1"


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def release_summary(record: dict[str, Any]) -> dict[str, Any]:
    """One release as the frontend shows it (newest-first lists are built from these)."""
    meta = record["meta"]
    cells = [
        {
            "key": c["key"],
            "statistic": c["statistic"],
            "value": _finite(c["value"]),
            "ci": [_finite(v) for v in c["ci"]] if c.get("ci") else None,
            "rank_error": _finite(c.get("rank_error")),
        }
        for c in record["cells"]
    ]
    return {
        "id": record["id"],
        "source": meta["source"],
        "query": meta["query"],
        "epsilon": meta["epsilon"],
        "delta": meta["delta"],
        "alpha": meta["alpha"],
        "mechanism": meta["mechanism"],
        "created": meta["created"],
        "execution_count": (meta.get("context") or {}).get("execution_count"),
        "scalar": record["scalar"],
        "cells": cells[:50],
        "cell_count": len(cells),
    }


def budget_payload(ws: Workspace) -> list[dict[str, Any]]:
    return [ws.budget_state(name).to_dict() for name in sorted(ws.sources)]


def snapshot(ws: Workspace, limit: int = 100) -> dict[str, Any]:
    from jupyter_privacy.core.lineage import build_lineage

    releases = [
        release_summary(r) for r in reversed(ws.ledger.releases()) if r["source"] in ws.sources
    ][:limit]
    return {
        "schema": SCHEMA,
        "type": "snapshot",
        "budget": budget_payload(ws),
        "releases": releases,
        "lineage": build_lineage(ws),
    }


def event_message(ws: Workspace, event: dict[str, Any]) -> dict[str, Any]:
    release = None
    if event.get("release_id"):
        match = [
            r for r in ws.ledger.releases(event.get("source")) if r["id"] == event["release_id"]
        ]
        release = release_summary(match[0]) if match else None
    public_event = {k: event[k] for k in ("type", "source", "release_id", "replayed") if k in event}
    return {
        "schema": SCHEMA,
        "type": "event",
        "event": public_event,
        "budget": budget_payload(ws),
        "release": release,
    }


class CommChannel:
    """Keeps the open comms and pushes an event to each on every workspace event."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.comms: list[Any] = []
        self.sent: list[dict[str, Any]] = []  # the last messages, for tests and debugging
        ws.listeners.append(self.on_event)

    def close(self) -> None:
        if self.on_event in self.ws.listeners:
            self.ws.listeners.remove(self.on_event)
        for comm in list(self.comms):
            comm.close()
        self.comms.clear()

    def _send(self, comm: Any, message: dict[str, Any]) -> None:
        self.sent = [*self.sent[-49:], message]
        comm.send(message)

    def open(self, comm: Any, open_msg: dict[str, Any] | None = None) -> None:
        """The frontend opened a comm: answer with a full snapshot, then stream events."""
        self.comms.append(comm)
        comm.on_msg(lambda msg: self.on_message(comm, msg))
        comm.on_close(lambda msg: self.comms.remove(comm) if comm in self.comms else None)
        self._send(comm, snapshot(self.ws))

    def on_message(self, comm: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {}) if isinstance(msg, dict) else {}
        if data.get("type") == "request_snapshot":
            self._send(comm, snapshot(self.ws))

    def on_event(self, event: dict[str, Any]) -> None:
        if not self.comms:
            return
        message = event_message(self.ws, event)
        for comm in list(self.comms):
            self._send(comm, message)
