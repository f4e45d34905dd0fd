"""Data versions: a keyed hash of each source's content and of its declaration (kinds, bounds,
keys, nullability, contribution bound), so replays match only the same data read the same way.

Keyed with a per-workspace secret: an unkeyed content hash in the ledger would let someone who
knows all rows but one test guesses for the last. The hash is kept in the ledger and never
published (manifests and lineage leave it out).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_privacy.core import engine
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.core.source import SourceSpec


def declaration(spec: SourceSpec) -> str:
    """How the source is read, as registered: a column with automatic bounds counts as "auto"
    whichever bounds its release gave (they are keyed separately, by the release's id)."""
    columns = {c: _read_as(i, c in spec.auto_bounds) for c, i in spec.schema.items()}
    return json.dumps(
        [columns, spec.privacy_unit, spec.max_rows_per_unit], sort_keys=True, default=repr
    )


def _read_as(info: ColumnInfo, auto: bool) -> dict[str, object]:
    """A column's declaration with bounds as floats: (0, 110) and (0.0, 110.0) read the same."""
    out = info.to_json()
    out["bounds"] = "auto" if auto else [float(b) for b in info.bounds or ()] or None
    return out


class Fingerprints:
    """The keyed fingerprint of each source's current data version, computed once per version."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._cache: dict[str, tuple[Any, str]] = {}
        self._lock = threading.Lock()

    def forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)

    def of(self, spec: SourceSpec) -> str:
        stamp = (engine.data_stamp(spec.data), declaration(spec))
        cached = self._cache.get(spec.name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        content = f"{engine.fingerprint(spec.data)}\n{stamp[1]}"
        fp = hmac.new(self._secret(), content.encode(), "sha256").hexdigest()[:16]
        with self._lock:
            self._cache[spec.name] = (stamp, fp)
        return fp

    def _secret(self) -> bytes:
        path = self.home / "fingerprint.key"
        if not path.is_file():
            self.home.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another kernel made it first
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
        for _ in range(100):
            key = path.read_bytes()
            if len(key) == 32:
                return key
            time.sleep(0.01)  # the other kernel is still writing it
        raise PolicyError(
            "read the fingerprint key",
            str(path),
            "the key file is damaged",
            fixes=["delete the file; release caches start afresh"],
        )


__all__ = ["Fingerprints"]
