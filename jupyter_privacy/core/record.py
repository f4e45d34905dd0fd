"""The release record: one released result and how it was made, in one frozen type.

The record is what the ledger stores, the curator sends, events carry, lineage and the sidebar
draw and manifests publish, always in the one JSON form of ``to_json``. Older ledgers and
version-1 manifests stored a ``{"scalar", "cells", "meta"}`` payload; ``from_payload`` reads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_privacy.core.release import Cell, Meta, Release, ReleaseTable


def finite(value: Any) -> Any:
    """Strict JSON has no NaN or infinity: those become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@dataclass(frozen=True)
class ReleaseRecord:
    """One release: its cells (public, noised), its cost, its plan and where it was asked for."""

    id: str
    source: str
    query: str  # the call as the analyst would type it
    plan: Mapping[str, Any] | None  # the plan's JSON (``Query.to_json``)
    plan_hash: str
    cost_key: str  # the cost and interval level the release was made at: replay matches on both
    scalar: bool
    cells: tuple[Cell, ...]
    epsilon: float
    delta: float
    rho: float
    alpha: float
    mechanism: str
    created: str
    by: tuple[str, ...] = ()  # what the cells are keyed by
    context: Mapping[str, Any] = field(default_factory=dict)  # cell number, cell id, notebook
    #: The data version (keyed hash), kept in the ledger so replays match the same data; None
    #: in anything published.
    fingerprint: str | None = None

    def published(self) -> ReleaseRecord:
        """The record as a manifest carries it: no data fingerprint."""
        return replace(self, fingerprint=None)

    def to_release(self, replayed: bool) -> Release | ReleaseTable:
        """The value the analyst's cell returns."""
        meta = Meta(
            self.id,
            self.source,
            self.query,
            self.alpha,
            self.epsilon,
            self.delta,
            self.rho,
            self.mechanism,
            replayed,
            self.created,
            self.by,
        )
        if self.scalar and len(self.cells) == 1:
            return Release(self.cells[0], meta)
        return ReleaseTable(list(self.cells), meta)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "query": self.query,
            "plan": dict(self.plan) if self.plan is not None else None,
            "plan_hash": self.plan_hash,
            "cost_key": self.cost_key,
            "scalar": self.scalar,
            "cells": [c.to_json() for c in self.cells],
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "alpha": self.alpha,
            "mechanism": self.mechanism,
            "created": self.created,
            "by": list(self.by),
            "context": dict(self.context),
            "fingerprint": self.fingerprint,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ReleaseRecord:
        if "meta" in data:  # a stored payload of an older version
            return ReleaseRecord.from_payload(data, plan=data.get("plan"))
        return ReleaseRecord(
            id=str(data["id"]),
            source=str(data["source"]),
            query=str(data["query"]),
            plan=data.get("plan"),
            plan_hash=str(data["plan_hash"]),
            cost_key=str(data["cost_key"]),
            scalar=bool(data["scalar"]),
            cells=tuple(Cell.from_json(c) for c in data["cells"]),
            epsilon=float(data["epsilon"]),
            delta=float(data["delta"]),
            rho=float(data["rho"]),
            alpha=float(data["alpha"]),
            mechanism=str(data["mechanism"]),
            created=str(data["created"]),
            by=tuple(data.get("by") or ()),
            context=dict(data.get("context") or {}),
            fingerprint=data.get("fingerprint"),
        )

    @staticmethod
    def from_payload(
        payload: Mapping[str, Any],
        *,
        plan: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
        created: str | None = None,
    ) -> ReleaseRecord:
        """A release stored as ``{"id", "scalar", "cells", "meta"}`` (ledgers and manifests of
        version 1)."""
        m = payload["meta"]
        return ReleaseRecord(
            id=str(payload["id"]),
            source=str(m["source"]),
            query=str(m["query"]),
            plan=plan,
            plan_hash=str(m.get("plan_hash", "")),
            cost_key=str(m.get("cost_key", "")),
            scalar=bool(payload["scalar"]),
            cells=tuple(Cell.from_json(c) for c in payload["cells"]),
            epsilon=float(m["epsilon"]),
            delta=float(m["delta"]),
            rho=float(m["rho"]),
            alpha=float(m["alpha"]),
            mechanism=str(m["mechanism"]),
            created=str(m.get("created") or created or ""),
            by=tuple(m.get("by") or ()),
            context=dict(m.get("context") or {}),
            fingerprint=fingerprint if fingerprint is not None else m.get("fingerprint"),
        )


__all__ = ["ReleaseRecord", "finite"]
