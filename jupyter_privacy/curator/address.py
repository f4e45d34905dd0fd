"""Where a curator listens: a Unix socket path, ``tcp://HOST:PORT`` or ``http://HOST:PORT``.

Shared by the server (to listen) and the client (to connect); neither imports the other.
"""

from __future__ import annotations

from typing import NamedTuple

from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.curator import http_binding


class Address(NamedTuple):
    scheme: str  # "unix", "tcp" (JSON lines) or "http" (one POST per message)
    path: str | None  # the socket, for "unix"
    host: str
    port: int | None


def parse_address(target: str) -> Address:
    """``tcp://host:port``, ``http://host:port[/v1]``, or a socket path / ``unix://path``."""
    scheme, sep, rest = target.partition("://")
    if not sep or scheme == "unix":
        return Address("unix", target.removeprefix("unix://"), "", None)
    if scheme not in ("tcp", "http"):
        raise PolicyError(
            "reach the curator",
            target,
            f"the curator is reached over a Unix socket, tcp:// or http://, not {scheme}://",
            [("TLS", "not served: keep the curator on loopback or behind a socket")],
            ['socket = "curator.sock"', 'url = "http://127.0.0.1:8765"'],
        )
    where = rest.removesuffix("/").removesuffix(http_binding.PATH) if scheme == "http" else rest
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit() or "/" in where:
        raise PolicyError(
            "reach the curator",
            target,
            f"the address reads {scheme}://HOST:PORT",
            [],
            [f"{scheme}://127.0.0.1:8765"],
        )
    return Address(scheme, None, host.strip("[]"), int(port))


__all__ = ["Address", "parse_address"]
