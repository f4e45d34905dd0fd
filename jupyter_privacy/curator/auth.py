"""Who may talk to the curator: tokens in owner-only files, and the peer's uid on a Unix socket.

A client is a name, an optional uid and the SHA-256 of its token. The curator keeps the list in
``clients.json`` in its home folder (mode 0600); it never stores a token itself. A token file is
written once with mode 0600 and refused if anyone but its owner can read it.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import json
import os
import secrets
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from jupyter_privacy.core.errors import PolicyError


@dataclass(frozen=True)
class Client:
    """One authorised client. ``uid`` None means "any uid" (TCP, or a socket shared on purpose)."""

    name: str
    token_sha256: str
    uid: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "uid": self.uid, "token_sha256": self.token_sha256}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _refuse(path: Path, reason: str, fix: str) -> PolicyError:
    return PolicyError("read the curator token", str(path), reason, [], [fix])


def check_private(path: Path) -> os.stat_result:
    """The file's stat, if only its owner can read or write it; refuse otherwise."""
    try:
        info = path.stat()
    except OSError:
        raise _refuse(
            path, "the token file cannot be read", "jupyter-privacy token add ..."
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "the token path is not a regular file", "point token_file at a file")
    if info.st_mode & 0o077:
        raise _refuse(
            path,
            f"the token file is readable by others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"chmod 600 {path}",
        )
    return info


def read_token(path: Path) -> str:
    """Read a token from an owner-only file."""
    path = Path(path).expanduser()
    check_private(path)
    token = path.read_text().strip()
    if not 16 <= len(token) <= 256 or not token.isprintable():
        raise _refuse(path, "the token file does not hold a token", "jupyter-privacy token add ...")
    return token


def write_token(path: Path, uid: int | None = None) -> str:
    """Create a new token file, mode 0600 (owned by ``uid`` when we may chown); never overwrite."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _refuse(
            path, "the token file already exists", f"rm {path}   # then issue a new token"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)  # whatever the umask
    if uid is not None and uid != os.getuid():
        os.chown(path, uid, -1)
    return token


class Registry:
    """The curator's list of clients (``clients.json``, mode 0600), plus in-memory extras."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.extra: list[Client] = []

    def clients(self) -> list[Client]:
        found = list(self.extra)
        if self.path.is_file():
            check_private(self.path)
            data = json.loads(self.path.read_text())
            found += [Client(c["name"], c["token_sha256"], c.get("uid")) for c in data["clients"]]
        return found

    def add(self, client: Client) -> None:
        existing = [c for c in self.clients() if c not in self.extra and c.name != client.name]
        body = json.dumps(
            {"version": 1, "clients": [c.to_json() for c in [*existing, client]]}, indent=1
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        if os.getuid() == 0:  # an administrator issuing tokens: the curator must still read it
            owner = self.path.parent.stat()
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, self.path)

    def authenticate(self, token: str, peer_uid: int | None) -> Client | None:
        """The client holding ``token``; on a socket, also the one whose uid matches the peer."""
        wanted = digest(token)
        match = None
        for client in self.clients():
            if hmac.compare_digest(client.token_sha256, wanted):
                match = client
        if match is None:
            return None
        if peer_uid is not None and match.uid is not None and match.uid != peer_uid:
            return None
        return match


def issue(registry: Registry, name: str, out: Path, uid: int | None) -> Client:
    """A new token for ``name``: written to ``out`` (0600, owned by ``uid``), its hash registered."""
    token = write_token(out, uid)
    client = Client(name, digest(token), uid)
    registry.add(client)
    return client


def own_token(path: Path) -> Client:
    """Single-user set-up: the server's own user, with a token file created on first start."""
    path = Path(path).expanduser()
    token = read_token(path) if path.exists() else write_token(path)
    info = check_private(path)
    if info.st_uid != os.getuid():
        raise _refuse(
            path,
            "the token file belongs to another user",
            "jupyter-privacy token add NAME --out FILE --uid UID  # for other users",
        )
    try:
        name = getpass.getuser()
    except Exception:  # no login name in some containers
        name = f"uid{os.getuid()}"
    return Client(name, digest(token), os.getuid())


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``), else None."""
    if sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)
