"""The kernel's side of the curator red team: use the API, then hunt for a planted canary.

The canary is a random string written into the data by another process; the kernel knows only
its SHA-256 and its shape (``JPCANARY`` and 24 hex digits), so the search pattern itself can never
match. Every hunt returns where a string hashing to the canary was found (empty: not found).

    python tests/curator/red_team_kernel.py ADDRESS TOKEN_FILE DATA_PATH CANARY_SHA256 CURATOR_PID

prints one JSON object: what each hunt found, and what reading the data file did.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import jupyter_privacy as jp
from jupyter_privacy.curator.client import CuratorService

SHAPE = re.compile(rb"JPCANARY[0-9a-f]{24}")


def _hits(blob: bytes, sha: str) -> bool:
    return any(hashlib.sha256(m.group()).hexdigest() == sha for m in SHAPE.finditer(blob))


def _as_bytes(obj: object) -> bytes | None:
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogatepass")
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj)
    return None


def hunt_gc(sha: str) -> list[str]:
    """Every object the collector tracks, and everything they refer to."""
    found = []
    for obj in gc.get_objects():
        for item in (obj, *gc.get_referents(obj)):
            blob = _as_bytes(item)
            if blob is not None and _hits(blob, sha):
                found.append(type(obj).__name__)
    return found


def hunt_frames(sha: str) -> list[str]:
    """Every local and global of every live frame of every thread."""
    found = []
    for frame in sys._current_frames().values():
        f: Any = frame
        while f is not None:
            for name, value in [*f.f_locals.items(), *f.f_globals.items()]:
                blob = _as_bytes(value) or _as_bytes(repr(value)[:100_000])
                if blob is not None and _hits(blob, sha):
                    found.append(f"{f.f_code.co_name}:{name}")
            f = f.f_back
    return found


def hunt_ctypes(sha: str) -> list[str]:
    """The raw memory of every reachable str and bytes, read with ctypes past any Python guard."""
    found, seen = [], set()
    for obj in gc.get_objects():
        for item in (obj, *gc.get_referents(obj)):  # strings are reached through containers
            if id(item) in seen:
                continue
            seen.add(id(item))
            # str and bytes hold their text inline, in exactly getsizeof bytes, so that is where
            # ctypes can find text past any Python-level guard. Other objects hold text only
            # through pointers (followed by the referents walk) or in native buffers (read by
            # hunt_process_memory); reading a guessed size of them can fault and crash the hunt.
            if type(item) not in (str, bytes):
                continue
            if _hits(ctypes.string_at(id(item), sys.getsizeof(item)), sha):
                found.append(type(item).__name__)
    return found


def hunt_process_memory(sha: str) -> list[str]:
    """Every writable mapping of this process, read through /proc/self/mem."""
    found = []
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            if not parts[1].startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else "[anon]"
            if name.startswith("/") or hi - lo > 1 << 30:
                continue
            try:
                mem.seek(lo)
                blob = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if _hits(blob, sha):
                found.append(name)
    return found


def session(ws: CuratorService) -> list[str]:
    """The whole frame API, and the row-access attempts; returns the refusals' text."""
    p = ws["patients"]
    outputs: list[Any] = [
        p, p.count(), p.income.sum(), p.income.mean(), p.income.median(), p.describe(),
        p.income.quantile([0.1, 0.9]), p.income.hist(bins=5), p.state.value_counts(),
        p[p.income > 50_000].count(), p.groupby("state").income.mean(), p.mean(),
        p.query("age >= 30 and state == 'TX'").count(), p.income.mean(dry_run=True), p.budget,
        ws.releases(), ws.audit_rows(), ws.export_manifest(),
        jp.lineage().to_dict(), jp.audit(),
    ]  # fmt: skip
    texts = [repr(o) for o in outputs]
    for attempt in (
        lambda: p.head(), lambda: p.city.values, lambda: p.city.value_counts(),
        lambda: p.groupby("city").size(), lambda: p.groupby("note").size(),
        lambda: p.note.describe(), lambda: list(p), lambda: p.city.to_numpy(),
        lambda: p[p.city == "x"].count(), lambda: p.income.apply(float),
    ):  # fmt: skip
        try:
            texts.append(repr(attempt()))
        except jp.PrivacyError as exc:
            texts.append(str(exc))
    return texts


def _try_read(path: str) -> str:
    try:
        Path(path).read_bytes()
    except OSError as exc:
        return type(exc).__name__
    return "read"


def attack(
    ws: CuratorService, trace: list[bytes], data_path: str, sha: str, curator_pid: int = 0
) -> dict[str, Any]:
    texts = session(ws)
    return {
        "read_data_file": _try_read(data_path),
        "read_curator_memory": _try_read(f"/proc/{curator_pid}/maps") if curator_pid else "-",
        "outputs": sum(_hits(t.encode(), sha) for t in texts),
        "messages": sum(_hits(line, sha) for line in trace),
        "path_in_messages": sum(data_path.encode() in line for line in trace),
        "message_count": len(trace),
        "gc": hunt_gc(sha),
        "frames": hunt_frames(sha),
        "ctypes": hunt_ctypes(sha),
        "memory": hunt_process_memory(sha),
    }


def main() -> None:
    address, token_file, data_path, sha, pid = sys.argv[1:6]
    trace: list[bytes] = []
    ws = CuratorService.connect(address, token_file=token_file, trace=trace)
    jp.api._workspace = ws  # the process-wide workspace, as jp.connect would set it
    print(json.dumps(attack(ws, trace, data_path, sha, int(pid))))


if __name__ == "__main__":
    main()
