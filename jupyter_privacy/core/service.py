"""The release service: what frames, the API, the comm and the widgets ask of a workspace.

Two implementations: ``Workspace`` (the data and the ledger in this process; its release store
is the ledger's cache, or a manifest when a reviewer replays) and the curator client (both in
another process). Callers read ``mode`` instead of probing attributes, and ``subscribe`` to
events that carry the release record itself, so no listener reads the ledger again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from jupyter_privacy.core.record import ReleaseRecord

if TYPE_CHECKING:
    from jupyter_privacy.core.ledger import VerifyResult
    from jupyter_privacy.core.plan import Query
    from jupyter_privacy.core.pricing import BudgetState
    from jupyter_privacy.core.registration import SourceDeclaration
    from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
    from jupyter_privacy.core.source import SourceSpec

#: ``local``: data and ledger here; ``replay``: a reviewer's session answering from a manifest;
#: ``curator``: data and ledger in a curator process.
Mode = Literal["local", "replay", "curator"]
EventType = Literal["source_registered", "charge", "release"]


@dataclass(frozen=True)
class Event:
    """Something a display may want to redraw for; a release event carries its record."""

    type: EventType
    source: str
    record: ReleaseRecord | None = None
    replayed: bool = False

    @property
    def release_id(self) -> str | None:
        return self.record.id if self.record is not None else None


Listener = Callable[[Event], None]


class EventHub:
    """Listeners of one service; a broken display never breaks a release."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every event until the returned function is called."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def subscribed(self, listener: Listener) -> bool:
        return listener in self._listeners

    def __len__(self) -> int:
        return len(self._listeners)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken display must never break a release
                continue


@runtime_checkable
class ReleaseService(Protocol):
    """Sources, releases, budget, audit and events, wherever the data and the ledger live."""

    @property
    def mode(self) -> Mode: ...

    @property
    def sources(self) -> Mapping[str, SourceSpec]: ...

    #: Public facts about where a release is asked for (the kernel sets the cell and notebook).
    context: Callable[[], dict[str, Any]]

    def source(self, name: str) -> SourceSpec: ...

    def add_source(self, data: Any, declared: SourceDeclaration) -> SourceSpec: ...

    def run(
        self,
        query: Query,
        *,
        epsilon: float | None = None,
        accuracy: float | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        dry_run: bool = False,
    ) -> Release | ReleaseTable | Estimate: ...

    def budget_state(self, name: str) -> BudgetState: ...

    def releases(self, source: str | None = None) -> list[ReleaseRecord]: ...

    def audit_rows(self) -> list[dict[str, Any]]: ...

    def verify(self) -> VerifyResult: ...

    def export_manifest(self) -> dict[str, Any]: ...

    def load_manifest(self, manifest: dict[str, Any] | None) -> None: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def close(self) -> None: ...


__all__ = ["Event", "EventHub", "Listener", "Mode", "ReleaseService"]
