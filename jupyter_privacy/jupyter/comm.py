"""The kernel end of the ``jupyter_privacy`` comm: versioned JSON snapshots and events.

The schema is written down in ``docs/comm-schema.md``. Only released values and public metadata
ever go on the wire: messages are built from the ledger's release records and budget states,
never from a frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_privacy.core.lineage import release_call
from jupyter_privacy.core.record import ReleaseRecord, finite
from jupyter_privacy.core.service import Event, ReleaseService

TARGET = "jupyter_privacy"
#: Version 1.1 adds fields to version 1 (a 1.0 frontend reads it unchanged): ``mode`` and
#: ``notebook`` on snapshots; ``label``, ``cell_id``, ``notebook`` and ``published`` on releases;
#: ``notebook`` in event contexts; the ``hello`` request.
SCHEMA = "jupyter-privacy/1.1"
MAX_SNAPSHOT_RELEASES = 1000


def release_summary(record: ReleaseRecord, published: bool = False) -> dict[str, Any]:
    """One release as the frontend shows it (newest-first lists are built from these).

    ``published``: the release comes from the manifest being replayed (a reviewer's session),
    not from this ledger.
    """
    context = record.context
    cells = [
        {
            "key": list(c.key),
            "statistic": c.statistic,
            "value": finite(c.value),
            "ci": [finite(c.ci_low), finite(c.ci_high)] if c.ci_low is not None else None,
            "rank_error": finite(c.rank_error),
        }
        for c in record.cells
    ]
    return {
        "id": record.id,
        "source": record.source,
        "query": record.query,
        "label": release_call(record),
        "epsilon": record.epsilon,
        "delta": record.delta,
        "alpha": record.alpha,
        "mechanism": record.mechanism,
        "created": record.created,
        "execution_count": context.get("execution_count"),
        "cell_id": context.get("cell_id"),
        "notebook": context.get("notebook"),
        "published": published,
        "scalar": record.scalar,
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


def notebook_from_environment(shell: Any) -> str | None:
    """The notebook this kernel was started for, as the server or VS Code told it.

    Jupyter Server names it in ``JPY_SESSION_NAME`` (ipykernel copies it to ``__session__``),
    VS Code in ``__vsc_ipynb_file__``; both are absolute paths, kept relative to the kernel's
    working folder (the notebook's folder), so no home folder or user name is recorded.
    """
    ns = getattr(shell, "user_ns", None) or {}
    for named in (
        ns.get("__vsc_ipynb_file__"),
        ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ):
        if isinstance(named, str) and named.endswith(".ipynb"):
            path = Path(named)
            if not path.is_absolute():
                return path.as_posix()
            try:
                return path.relative_to(Path.cwd()).as_posix()
            except ValueError:
                return path.name
    return None


class KernelContext:
    """Public facts about where a release is asked for, recorded with it (``Workspace.context``):
    the cell's execution count and id, and the notebook's path.

    The frontend names the notebook (its path on the server, also after a rename) with a
    ``hello`` message; before that, or without a frontend of ours, the environment does.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._notebook: str | None = None
        self.earlier: list[str] = []  # names this notebook had before a rename, in this session
        #: Releases this kernel returned, made or replayed (a replay of another notebook's
        #: release is this notebook's result too).
        self.returned: dict[str, None] = {}

    @property
    def notebook(self) -> str | None:
        return self._notebook

    @notebook.setter
    def notebook(self, path: str | None) -> None:
        """The frontend's name for the notebook; a new one is a rename (the old one is kept)."""
        previous = self.notebook_path()
        if previous and path and previous != path and previous not in self.earlier:
            self.earlier.append(previous)
        self._notebook = path

    def notebook_path(self) -> str | None:
        return self._notebook or notebook_from_environment(self.shell)

    def notebook_names(self) -> list[str]:
        """Every name this notebook had in this session, the current one first."""
        current = self.notebook_path()
        return ([current] if current else []) + [n for n in self.earlier if n != current]

    def __call__(self) -> dict[str, Any]:
        return {**cell_context(self.shell), "notebook": self.notebook_path()}

    def on_event(self, event: Event) -> None:
        """A workspace listener: remember every release returned here."""
        if event.release_id is not None:
            self.returned[event.release_id] = None

    def select_releases(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """This notebook's part of a release manifest: the releases made in it (under any of
        its names) and those it got back as replays. Everything when the notebook is unknown."""
        names = self.notebook_names()
        if not names:
            return manifest

        def ours(entry: dict[str, Any]) -> bool:  # a release record's JSON form
            if entry.get("id") in self.returned:
                return True
            recorded = (entry.get("context") or {}).get("notebook")
            return any(same_notebook(recorded, name) for name in names)

        return {
            **manifest,
            "releases": [r for r in manifest["releases"] if ours(r)],
            "notebook": names[0],
        }


def same_notebook(recorded: Any, current: str | None) -> bool:
    """Whether a release recorded in notebook ``recorded`` belongs to ``current`` (paths may be
    relative to the server's root or to the notebook's folder: one may end the other)."""
    if not isinstance(recorded, str) or not recorded or not current:
        return False
    a, b = recorded.strip("/"), current.strip("/")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def budget_payload(ws: ReleaseService) -> list[dict[str, Any]]:
    return [ws.budget_state(name).to_dict() for name in sorted(ws.sources)]


def mode(ws: ReleaseService) -> str:
    """``replay`` (a reviewer re-running published releases), ``curator`` or ``guard-rail``."""
    return "guard-rail" if ws.mode == "local" else ws.mode


def lineage_graph(ws: ReleaseService) -> dict[str, Any]:
    from jupyter_privacy.core.lineage import build_lineage

    return build_lineage(ws)


def snapshot(ws: ReleaseService, limit: int = 100, notebook: str | None = None) -> dict[str, Any]:
    limit = max(1, min(int(limit), MAX_SNAPSHOT_RELEASES))
    published = ws.mode == "replay"
    releases = [release_summary(r, published) for r in reversed(ws.releases())][:limit]
    return {
        "schema": SCHEMA,
        "type": "snapshot",
        "mode": mode(ws),
        "notebook": notebook,
        "budget": budget_payload(ws),
        "releases": releases,
        "lineage": lineage_graph(ws),
        "sent_at": _now_ms(),
    }


def event_message(
    ws: ReleaseService, event: Event, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The event with its release record (no ledger read); in replay mode the record is the
    published one, whatever this ledger holds."""
    release = (
        release_summary(event.record, published=ws.mode == "replay")
        if event.record is not None
        else None
    )
    public_event: dict[str, Any] = {"type": event.type, "source": event.source}
    if event.type == "release":
        public_event.update(release_id=event.release_id, replayed=event.replayed)
    if context is not None:
        public_event["context"] = {
            "execution_count": context.get("execution_count"),
            "cell_id": context.get("cell_id"),
            "notebook": context.get("notebook"),
        }
    message: dict[str, Any] = {
        "schema": SCHEMA,
        "type": "event",
        "mode": mode(ws),
        "event": public_event,
        "budget": budget_payload(ws),
        "release": release,
    }
    message["sent_at"] = _now_ms()
    return message


def lineage_message(ws: ReleaseService) -> dict[str, Any]:
    """The lineage graph alone: the frontend asks for it after releases, and the kernel answers
    once the running cell is done, so a long lineage never delays a release or its event."""
    return {"schema": SCHEMA, "type": "lineage", "lineage": lineage_graph(ws), "sent_at": _now_ms()}


class CommChannel:
    """Keeps the open comms and pushes an event to each on every workspace event.

    Comms come from both ends: the frontend opens one to the ``jupyter_privacy`` target when it
    connects to a kernel that already loaded the extension (``open``), and the kernel opens one
    to the frontend's target when ``%load_ext`` runs (``announce``), so the sidebar goes live
    without polling whichever came first. ``switch`` follows ``jp.use_workspace``.
    """

    def __init__(
        self,
        ws: ReleaseService,
        cell_context: Callable[[], dict[str, Any]] | None = None,
        kernel_context: KernelContext | None = None,
    ) -> None:
        self.ws = ws
        self.cell_context = cell_context
        self.kernel_context = kernel_context
        self.comms: list[Any] = []
        self.sent: list[dict[str, Any]] = []  # the last messages, for tests and debugging
        self._unsubscribe = ws.subscribe(self.on_event)

    def notebook(self) -> str | None:
        return self.kernel_context.notebook_path() if self.kernel_context is not None else None

    def close(self) -> None:
        self._unsubscribe()
        for comm in list(self.comms):
            comm.close()
        self.comms.clear()

    def switch(self, ws: ReleaseService) -> None:
        """Follow a new workspace (``jp.use_workspace``, ``jp.connect``): every open comm gets
        its snapshot at once, and its events from now on."""
        if ws is self.ws:
            return
        self._unsubscribe()
        self.ws = ws
        self._unsubscribe = ws.subscribe(self.on_event)
        for comm in list(self.comms):
            self._send(comm, self._snapshot())

    def _snapshot(self, limit: int = 100) -> dict[str, Any]:
        return snapshot(self.ws, limit, self.notebook())

    def _send(self, comm: Any, message: dict[str, Any]) -> None:
        self.sent = [*self.sent[-49:], message]
        comm.send(message)

    def _attach(self, comm: Any) -> None:
        self.comms.append(comm)
        comm.on_msg(lambda msg: self.on_message(comm, msg))
        comm.on_close(lambda msg: self.comms.remove(comm) if comm in self.comms else None)

    def _hello(self, data: Any) -> None:
        """The frontend says which notebook this kernel runs (its path, also after a rename)."""
        notebook = data.get("notebook") if isinstance(data, dict) else None
        if (
            self.kernel_context is not None
            and isinstance(notebook, str)
            and 0 < len(notebook) <= 1000
            and notebook.endswith(".ipynb")
        ):
            self.kernel_context.notebook = notebook

    def open(self, comm: Any, open_msg: dict[str, Any] | None = None) -> None:
        """The frontend opened a comm: answer with a full snapshot, then stream events."""
        self._attach(comm)
        data = (open_msg or {}).get("content", {}).get("data") or {}
        self._hello(data)
        self._send(comm, self._snapshot(_limit(data)))

    def announce(self) -> Any:
        """Open a comm to the frontend's ``jupyter_privacy`` target, the snapshot as its data.

        A frontend without the sidebar closes it at once, which removes it again.
        """
        from comm import create_comm

        message = self._snapshot()
        self.sent = [*self.sent[-49:], message]
        comm = create_comm(target_name=TARGET, data=message)
        self._attach(comm)
        return comm

    def on_message(self, comm: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data", {}) if isinstance(msg, dict) else {}
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "hello":
            self._hello(data)
        elif kind == "request_snapshot":
            self._hello(data)
            self._send(comm, self._snapshot(_limit(data)))
        elif kind == "request_lineage":
            self._send(comm, lineage_message(self.ws))

    def on_event(self, event: Event) -> None:
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
