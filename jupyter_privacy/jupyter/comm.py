"""The kernel end of the ``jupyter_privacy`` comm: versioned JSON snapshots and events.

The schema is written down in ``docs/comm-schema.md``. Only released values and public metadata
ever go on the wire: messages are built from the ledger's release records and budget states,
never from a frame.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from jupyter_privacy.core.workspace import Workspace

TARGET = "jupyter_privacy"
SCHEMA = "jupyter-privacy/1"
MAX_SNAPSHOT_RELEASES = 1000


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


def _now_ms() -> float:
    """Wall-clock time in ms, so the frontend can measure release-to-sidebar latency."""
    return time.time() * 1000.0


def cell_context(shell: Any) -> dict[str, Any]:
    """The running cell: its execution count and, from the request's metadata, its cell id.

    JupyterLab puts ``cellId`` in the metadata of each execute request; the sidebar uses it to
    scroll to the cell that made a release. Both are public notebook metadata.
    """
    count = getattr(shell, "execution_count", None)
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:  # an older kernel, or no request: no cell id
        parent = None
    parent = parent if isinstance(parent, dict) else {}
    content = parent.get("content") or {}
    header = parent.get("header") or {}
    if (
        isinstance(count, int)
        and header.get("msg_type") == "execute_request"
        and content.get("store_history", True)
        and not content.get("silent", False)
    ):
        count -= 1  # IPython counts the running cell before it runs; its prompt shows one less
    cell_id = (parent.get("metadata") or {}).get("cellId")
    return {"execution_count": count, "cell_id": cell_id if isinstance(cell_id, str) else None}


def budget_payload(ws: Workspace) -> list[dict[str, Any]]:
    return [ws.budget_state(name).to_dict() for name in sorted(ws.sources)]


def snapshot(ws: Workspace, limit: int = 100) -> dict[str, Any]:
    limit = max(1, min(int(limit), MAX_SNAPSHOT_RELEASES))
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
        "sent_at": _now_ms(),
    }


def event_message(
    ws: Workspace, event: dict[str, Any], context: dict[str, Any] | None = None
) -> dict[str, Any]:
    release = None
    if event.get("release_id"):
        match = [
            r for r in ws.ledger.releases(event.get("source")) if r["id"] == event["release_id"]
        ]
        release = release_summary(match[0]) if match else None
    public_event: dict[str, Any] = {
        k: event[k] for k in ("type", "source", "release_id", "replayed") if k in event
    }
    if context is not None:
        public_event["context"] = {
            "execution_count": context.get("execution_count"),
            "cell_id": context.get("cell_id"),
        }
    message: dict[str, Any] = {
        "schema": SCHEMA,
        "type": "event",
        "event": public_event,
        "budget": budget_payload(ws),
        "release": release,
    }
    message["sent_at"] = _now_ms()
    return message


def lineage_message(ws: Workspace) -> dict[str, Any]:
    """The lineage graph alone: the frontend asks for it after releases, and the kernel answers
    once the running cell is done, so a long lineage never delays a release or its event."""
    from jupyter_privacy.core.lineage import build_lineage

    return {"schema": SCHEMA, "type": "lineage", "lineage": build_lineage(ws), "sent_at": _now_ms()}


class CommChannel:
    """Keeps the open comms and pushes an event to each on every workspace event.

    Comms come from both ends: the frontend opens one to the ``jupyter_privacy`` target when it
    connects to a kernel that already loaded the extension (``open``), and the kernel opens one
    to the frontend's target when ``%load_ext`` runs (``announce``), so the sidebar goes live
    without polling whichever came first.
    """

    def __init__(
        self, ws: Workspace, cell_context: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.ws = ws
        self.cell_context = cell_context
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

    def _attach(self, comm: Any) -> None:
        self.comms.append(comm)
        comm.on_msg(lambda msg: self.on_message(comm, msg))
        comm.on_close(lambda msg: self.comms.remove(comm) if comm in self.comms else None)

    def open(self, comm: Any, open_msg: dict[str, Any] | None = None) -> None:
        """The frontend opened a comm: answer with a full snapshot, then stream events."""
        self._attach(comm)
        data = (open_msg or {}).get("content", {}).get("data") or {}
        self._send(comm, snapshot(self.ws, _limit(data)))

    def announce(self) -> Any:
        """Open a comm to the frontend's ``jupyter_privacy`` target, the snapshot as its data.

        A frontend without the sidebar closes it at once, which removes it again.
        """
        from comm import create_comm

        message = snapshot(self.ws)
        self.sent = [*self.sent[-49:], message]
        comm = create_comm(target_name=TARGET, data=message)
        self._attach(comm)
        return comm

    def on_message(self, comm: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {}) if isinstance(msg, dict) else {}
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "request_snapshot":
            self._send(comm, snapshot(self.ws, _limit(data)))
        elif kind == "request_lineage":
            self._send(comm, lineage_message(self.ws))

    def on_event(self, event: dict[str, Any]) -> None:
        if not self.comms:
            return
        context = self.cell_context() if self.cell_context is not None else None
        message = event_message(self.ws, event, context)
        for comm in list(self.comms):
            self._send(comm, message)


def _limit(data: Any) -> int:
    """How many releases a snapshot request asks for (100 unless it says, at most 1,000)."""
    limit = data.get("limit") if isinstance(data, dict) else None
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return min(limit, MAX_SNAPSHOT_RELEASES)
    return 100
