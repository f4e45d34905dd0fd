"""The curator protocol over HTTP: SPEC's ``url = "http://127.0.0.1:8765"``.

The messages are the JSON-lines protocol's, one per ``POST /v1``. ``hello`` carries its token in
the message as on a socket; every other request carries it as ``Authorization: Bearer …`` (HTTP
has no connection to authenticate once). Answers, refusals included, are ``200``; failures of the
request itself also carry a status: 400 malformed, 401 unauthenticated, 404 other paths, 405 other
methods, 411 no length, 413 too large, 429 rate limited, 503 busy. Like ``tcp://``, loopback only
and no TLS: on a shared host, prefer the Unix socket, which also checks the peer's uid.
"""

from __future__ import annotations

import contextlib
import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jupyter_privacy.curator import protocol

if TYPE_CHECKING:
    from jupyter_privacy.curator.server import Curator

PATH = "/v1"
DISCARD_AT_MOST = 16 << 20  # an oversized body is read (and dropped) up to this, then we close


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    curator: Curator


class Handler(BaseHTTPRequestHandler):
    """One HTTP connection (kept alive between requests)."""

    protocol_version = "HTTP/1.1"
    server_version = "jupyter-privacy-curator"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is closed; the client opens a new one
    # Headers and body leave in two writes; with Nagle's algorithm the body would wait for the
    # client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True
    server: Server

    def do_POST(self) -> None:
        curator = self.server.curator
        with curator.slot() as admitted:
            if not admitted:
                self._reply(503, protocol.error(None, "busy", "too many connections; retry later"))
                return
            status, answer = self._answer(curator)
            self._reply(status, answer)

    def _answer(self, curator: Curator) -> tuple[int, dict[str, Any]]:
        if urlsplit(self.path).path != PATH:
            return 404, protocol.error(None, "not_found", f"the curator answers POST {PATH}")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            return 411, protocol.error(None, "length_required", "send a Content-Length")
        size, limit = int(length), curator.limits.max_request_bytes
        if size > limit:
            self._discard(size)
            self.close_connection = True
            return 413, protocol.error(None, "too_large", f"a request may be at most {limit} bytes")
        try:
            message = protocol.parse_request(self.rfile.read(size))
        except protocol.Malformed as bad:
            return 400, protocol.error(bad.request_id, bad.code, bad.message)
        mid, op = message["id"], message["op"]
        token = message["token"] if op == "hello" else _bearer(self.headers.get("Authorization"))
        client = curator.registry.authenticate(token, None) if token else None
        if client is None:
            reason = (
                "the token is not accepted"
                if token
                else "send the token as Authorization: Bearer <token>"
            )
            return 401, protocol.error(mid, "unauthenticated", reason)
        if op == "hello":
            return 200, protocol.ok(mid, curator.hello_result(client, None))
        if not curator.bucket(client).take():
            return 429, protocol.error(
                mid,
                "rate_limited",
                f"more than {curator.limits.rate:g} requests per second; slow down",
            )
        return 200, curator.handle(client, f"{client.name} (curator client, http)", message)

    def _not_allowed(self) -> None:
        self._reply(405, protocol.error(None, "method_not_allowed", f"use POST {PATH}"))

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def _discard(self, size: int) -> None:
        """Read what the client is still sending (bounded): closing with unread input resets the
        connection, and the client would lose our answer."""
        left = min(size, DISCARD_AT_MOST)
        with contextlib.suppress(OSError):
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)

    def _reply(self, status: int, message: dict[str, Any]) -> None:
        body = protocol.encode(message)
        with contextlib.suppress(OSError):  # the client left; a charge's answer is journalled
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 405:
                self.send_header("Allow", "POST")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged to stderr: the audit log records what matters."""


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Dropped(Exception):
    """The HTTP exchange broke before a whole answer arrived."""


class Exchange:
    """The client's end: one keep-alive connection, one request at a time."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=None)
        self._token = token
        self._conn.connect()  # raises OSError when nothing listens, as a socket would

    def send(self, body: bytes) -> bytes:
        """The answer's body for a request body; raises ``Dropped`` if the exchange broke."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"}
        try:
            self._conn.request("POST", PATH, body, headers)
            response = self._conn.getresponse()
            answer = response.read(protocol.MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException):
            raise Dropped() from None
        if response.will_close:
            self._conn.close()  # the next request opens a new connection
        if len(answer) > protocol.MAX_RESPONSE_BYTES or not answer.endswith(b"\n"):
            raise Dropped()
        return answer

    def close(self) -> None:
        self._conn.close()
