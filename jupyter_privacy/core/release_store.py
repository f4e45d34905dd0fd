"""Where a repeated query finds its earlier release: the ledger's cache, or a manifest.

Re-running a cell replays its release for free when the same plan at the same cost and interval
level already ran on the same data version (``LedgerCache``). A reviewer without the data replays
from a published manifest instead (``ManifestStore``): every query must be in it. The choice of
store is the workspace's mode; nothing else changes between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.fingerprints import Fingerprints
from jupyter_privacy.core.ledger import Ledger, replayed_ids
from jupyter_privacy.core.record import ReleaseRecord
from jupyter_privacy.core.source import SourceSpec

MANIFEST_VERSIONS = (1, 2)


class ReleaseStore(Protocol):
    """Earlier releases, for replay and for the lists a user sees."""

    def lookup(self, spec: SourceSpec, plan_hash: str, cost_key: str) -> ReleaseRecord | None: ...

    def releases(self, ledger: Ledger, source: str | None = None) -> list[ReleaseRecord]: ...


class LedgerCache:
    """Releases of this ledger, matched on the data version's fingerprint."""

    def __init__(self, ledger: Ledger, fingerprints: Fingerprints) -> None:
        self.ledger = ledger
        self.fingerprints = fingerprints

    def lookup(self, spec: SourceSpec, plan_hash: str, cost_key: str) -> ReleaseRecord | None:
        return self.ledger.lookup(spec.name, self.fingerprints.of(spec), plan_hash, cost_key)

    def releases(self, ledger: Ledger, source: str | None = None) -> list[ReleaseRecord]:
        return ledger.releases(source)


class ManifestStore:
    """A published manifest: each query's release by (source, plan hash, cost key)."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        version = manifest.get("version")
        if version not in MANIFEST_VERSIONS:
            raise PolicyError(
                "load a release manifest",
                "-",
                "the manifest version is not one this workbench reads",
                [("version", repr(version)), ("readable", "1, 2")],
            )
        records = [_published(r, version) for r in manifest.get("releases", [])]
        self.by_key = {(r.source, r.plan_hash, r.cost_key): r for r in records}
        self.by_id = {r.id: r for r in records}
        #: Each source's public description, by name.
        self.sources: dict[str, dict[str, Any]] = dict(manifest.get("sources", {}))

    def lookup(self, spec: SourceSpec, plan_hash: str, cost_key: str) -> ReleaseRecord | None:
        return self.by_key.get((spec.name, plan_hash, cost_key))

    def releases(self, ledger: Ledger, source: str | None = None) -> list[ReleaseRecord]:
        """The manifest's releases that this session replayed, oldest first: the published
        values, whatever the local ledger holds for the same query. Their plans stay out of
        lineage (hung from the source) as a reviewer's session keeps none of its own."""
        order = dict.fromkeys(i for i in replayed_ids(ledger.audit_rows()) if i in self.by_id)
        found = [replace(self.by_id[i], plan=None) for i in order]
        return [r for r in found if source is None or r.source == source]


def _published(entry: Mapping[str, Any], version: int) -> ReleaseRecord:
    if version == 1:  # {"source", "plan_hash", "cost_key", "plan", "payload": {...}}
        payload = entry["payload"]
        meta = {
            **payload["meta"],
            "plan_hash": entry["plan_hash"],
            "cost_key": entry["cost_key"],
        }
        record = ReleaseRecord.from_payload({**payload, "meta": meta})
    else:
        record = ReleaseRecord.from_json(entry)
    return record.published()


__all__ = ["LedgerCache", "ManifestStore", "ReleaseStore"]
