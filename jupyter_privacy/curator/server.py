"""The curator: a separate process that owns the sources, the ledger and the audit log.

Clients send plans and receive releases; no message carries a row, a path, a pickle or a callable.
Each connection authenticates once with a token (and, on a Unix socket, the peer's uid from
``SO_PEERCRED``; over HTTP every request carries the token); every later request is validated against the protocol schema, rate-limited per
client, and answered with either a result or a clear error. A malformed request changes nothing.

Workspace calls are serialised by one lock, so the workspace's caches and its ledger connection
see one request at a time (a release already spreads its OpenDP selections over the cores). The
ledger's check-and-charge stays atomic across curators sharing a ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from jupyter_privacy.core.budget import Cost
from jupyter_privacy.core.errors import PolicyError, PrivacyError, ReleaseFailedError
from jupyter_privacy.core.ledger import acting_user
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.policy import Policy, load_policy
from jupyter_privacy.core.release import Estimate
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator import http_binding, protocol
from jupyter_privacy.curator.address import parse_address
from jupyter_privacy.curator.auth import Client, Registry, own_token, peer_uid
from jupyter_privacy.curator.journal import Journal

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Limits:
    """Per-client request rate (token bucket), connection count and message size."""

    rate: float = 50.0
    burst: int = 100
    max_connections: int = 32
    max_request_bytes: int = protocol.MAX_REQUEST_BYTES
    auth_timeout: float = 10.0
    max_auth_failures: int = 3


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        t = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (t - self.stamp) * self.rate)
        self.stamp = t
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def public_source(ws: Workspace, name: str) -> dict[str, Any]:
    """What a client may know about a source: schema, bounds, keys, budget; never its path."""
    described = ws.source(name).describe()
    described.pop("path", None)
    described["origin"] = "curator"
    return described


class Curator:
    """The request logic, independent of the transport (the tests drive it over real sockets)."""

    def __init__(self, ws: Workspace, registry: Registry, limits: Limits | None = None) -> None:
        self.ws = ws
        self.registry = registry
        self.limits = limits or Limits()
        self.journal = Journal(ws.home / "curator.sqlite")
        self._ws_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._connections = 0

    def close(self) -> None:
        self.journal.close()
        self.ws.close()

    # --- one connection ------------------------------------------------------------------------
    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Count a connection (an HTTP request) while it lasts; False when there are too many."""
        with self._state_lock:
            self._connections += 1
            admitted = self._connections <= self.limits.max_connections
        try:
            yield admitted
        finally:
            with self._state_lock:
                self._connections -= 1

    def serve_connection(self, sock: socket.socket, rfile: BinaryIO, wfile: BinaryIO) -> None:
        with self.slot() as admitted:
            if not admitted:
                self._send(wfile, protocol.error(None, "busy", "too many connections; retry later"))
                return
            self._converse(sock, rfile, wfile)

    def _converse(self, sock: socket.socket, rfile: BinaryIO, wfile: BinaryIO) -> None:
        uid = peer_uid(sock)
        client: Client | None = None
        failures = 0
        sock.settimeout(self.limits.auth_timeout)
        limit = self.limits.max_request_bytes
        while True:
            try:
                line = rfile.readline(limit + 1)
            except (TimeoutError, OSError):
                if client is None:
                    self._send(wfile, protocol.error(None, "unauthenticated", "say hello first"))
                return
            if not line:
                return
            if len(line) > limit:
                self._send(
                    wfile,
                    protocol.error(None, "too_large", f"a request may be at most {limit} bytes"),
                )
                _drain(sock, rfile)  # let the client read the answer before we close
                return
            try:
                message = protocol.parse_request(line)
            except protocol.Malformed as bad:
                self._send(wfile, protocol.error(bad.request_id, bad.code, bad.message))
                continue
            mid = message["id"]
            if message["op"] == "hello":
                client = self.registry.authenticate(message["token"], uid)
                if client is None:
                    failures += 1
                    self._send(
                        wfile, protocol.error(mid, "unauthenticated", "the token is not accepted")
                    )
                    if failures >= self.limits.max_auth_failures:
                        return
                    continue
                sock.settimeout(None)
                self._send(wfile, protocol.ok(mid, self.hello_result(client, uid)))
                continue
            if client is None:
                failures += 1
                self._send(
                    wfile, protocol.error(mid, "unauthenticated", "say hello with a token first")
                )
                if failures >= self.limits.max_auth_failures:
                    return
                continue
            if not self.bucket(client).take():
                self._send(
                    wfile,
                    protocol.error(
                        mid,
                        "rate_limited",
                        f"more than {self.limits.rate:g} requests per second; slow down",
                    ),
                )
                continue
            label = f"{client.name} (curator client" + (
                f", uid {uid})" if uid is not None else ", tcp)"
            )
            self._send(wfile, self.handle(client, label, message))

    def bucket(self, client: Client) -> _Bucket:
        """The client's rate limiter (shared by all its connections)."""
        with self._state_lock:
            bucket = self._buckets.get(client.name)
            if bucket is None:
                bucket = self._buckets[client.name] = _Bucket(self.limits.rate, self.limits.burst)
            return bucket

    def hello_result(self, client: Client, uid: int | None) -> dict[str, Any]:
        return {
            "protocol": protocol.PROTOCOL,
            "version": protocol.VERSION,
            "client": client.name,
            "peer_uid": uid,
            "limits": asdict(self.limits),
        }

    @staticmethod
    def _send(wfile: BinaryIO, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the client left; a charge's response is journalled
            wfile.write(protocol.encode(message))
            wfile.flush()

    # --- one request ---------------------------------------------------------------------------
    def handle(self, client: Client, label: str, message: dict[str, Any]) -> dict[str, Any]:
        """Answer one validated request."""
        mid, op = message["id"], message["op"]
        token = acting_user.set(label)
        try:
            if op == "run":
                return self._run(client, message)
            with self._ws_lock:
                return protocol.ok(mid, self._read(op, message))
        except PrivacyError as exc:
            return protocol.error(mid, exc.code, str(exc), refusal=protocol.refusal_payload(exc))
        finally:
            acting_user.reset(token)

    def _read(self, op: str, message: dict[str, Any]) -> Any:
        ws = self.ws
        if op == "ping":
            return {"pong": True}
        if op == "sources":
            return {name: public_source(ws, name) for name in sorted(ws.sources)}
        if op == "budget":
            return ws.budget_state(message["source"]).to_dict()
        if op == "releases":
            wanted = message.get("source")
            return [r.to_json() for r in ws.releases(wanted)]
        if op == "audit":
            return [r for r in ws.audit_rows() if r["source"] in ws.sources]
        if op == "verify":
            return asdict(ws.verify())
        manifest = ws.export_manifest()
        for described in manifest["sources"].values():
            described.pop("path", None)
        return manifest

    def _run(self, client: Client, message: dict[str, Any]) -> dict[str, Any]:
        mid = message["id"]
        options = message["options"]
        if options.get("dry_run"):
            with self._ws_lock:
                return self._execute(message)
        key = (client.name, message["request_id"])
        # The context (cell number) is not part of the request: a rerun cell may reuse the id.
        body = json.dumps([message["plan"], options], sort_keys=True, allow_nan=False)
        digest = hashlib.sha256(body.encode()).hexdigest()
        while True:
            with self._state_lock:
                waiting = self._inflight.get(key)
                if waiting is None:
                    entry = self.journal.get(*key)
                    if entry is None:
                        self.journal.start(*key, digest)  # durable before anything is charged
                        done = self._inflight[key] = threading.Event()
                        break
                    if entry.digest != digest:
                        return protocol.error(
                            mid,
                            "request_id_reused",
                            "this request id was already used for a different request",
                        )
                    if entry.status == "done" and entry.response is not None:
                        return {**entry.response, "id": mid}
                    response = self._interrupted(message)
                    self.journal.finish(*key, response)
                    return {**response, "id": mid}
            waiting.wait()  # the same request is still running (the client reconnected)
        response = {"v": protocol.VERSION, "id": mid, "ok": False}
        try:
            with self._ws_lock:
                response = self._execute(message)
        finally:
            with self._state_lock:
                self.journal.finish(*key, response)
                self._inflight.pop(key, None)
                done.set()
        return response

    def _interrupted(self, message: dict[str, Any]) -> dict[str, Any]:
        plan = message["plan"]
        exc = ReleaseFailedError(
            f"compute {plan['statistic']}",
            plan["source"],
            "the curator stopped while this request was running",
            [
                ("request", message["request_id"]),
                ("charged", "at most once; no value was released"),
            ],
            ["run the query again (a new request)"],
        )
        with self._ws_lock:
            self.ws.ledger.audit(
                plan["source"] if plan["source"] in self.ws.sources else "-",
                json.dumps(plan, sort_keys=True, separators=(",", ":")),
                Cost(),
                "interrupted",
                {"request": message["request_id"]},
            )
        return protocol.error(
            message["id"], exc.code, str(exc), refusal=protocol.refusal_payload(exc)
        )

    def _execute(self, message: dict[str, Any]) -> dict[str, Any]:
        mid = message["id"]
        try:
            query = Query.from_json(message["plan"])
        except (ValueError, TypeError, KeyError):
            return protocol.error(mid, "invalid_plan", "the plan is not a valid query")
        options = message["options"]
        context = message.get("context") or {}
        self.ws.context = lambda: dict(context)
        try:
            result = self.ws.release(
                query,
                epsilon=options.get("epsilon"),
                accuracy=options.get("accuracy"),
                alpha=options.get("alpha"),
                delta=options.get("delta"),
                dry_run=bool(options.get("dry_run", False)),
            )
        except PrivacyError as exc:
            return protocol.error(mid, exc.code, str(exc), refusal=protocol.refusal_payload(exc))
        except Exception as exc:  # a plan the schema allowed but the engine cannot read
            return protocol.error(
                mid, "invalid_plan", f"the plan cannot be evaluated ({type(exc).__name__})"
            )
        finally:
            self.ws.context = dict
        if isinstance(result, Estimate):
            return protocol.ok(mid, {"kind": "estimate", "estimate": asdict(result)})
        return protocol.ok(
            mid, {"kind": "release", "replayed": result.replayed, "record": result.record.to_json()}
        )


# --- transports -------------------------------------------------------------------------------
class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        curator: Curator = getattr(self.server, "curator")  # noqa: B009  (set by CuratorServer)
        curator.serve_connection(self.connection, self.rfile, self.wfile)  # type: ignore[arg-type]


class _Threaded(socketserver.ThreadingMixIn):
    daemon_threads = True


class _UnixServer(_Threaded, socketserver.UnixStreamServer):
    pass


class _TCPServer(_Threaded, socketserver.TCPServer):
    allow_reuse_address = True


class CuratorServer:
    """A running curator on a Unix socket (default) or a loopback port (``tcp`` JSON lines, or
    ``http``: the same messages, one POST each)."""

    def __init__(
        self,
        curator: Curator,
        *,
        socket_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        socket_mode: int = 0o660,
        scheme: str = "tcp",
    ) -> None:
        self.scheme = scheme if socket_path is None else "unix"
        self.curator = curator
        self.socket_path = Path(socket_path) if socket_path is not None else None
        server: socketserver.BaseServer
        if self.socket_path is not None:
            _clear_stale_socket(self.socket_path)
            self.socket_path.parent.mkdir(parents=True, exist_ok=True)
            server = _UnixServer(str(self.socket_path), _Handler)
            os.chmod(self.socket_path, socket_mode)
        else:
            if host not in LOOPBACK:
                raise PolicyError(
                    "start the curator",
                    host,
                    "without TLS the curator listens on loopback only",
                    [("host", host)],
                    [
                        f"jupyter-privacy serve --url {scheme}://127.0.0.1:8765",
                        "use the Unix socket",
                    ],
                )
            tcp: socketserver.TCPServer = (
                http_binding.Server((host, port or 0), http_binding.Handler)
                if scheme == "http"
                else _TCPServer((host, port or 0), _Handler)
            )
            self._tcp: tuple[str, int] = tcp.socket.getsockname()[:2]
            server = tcp
        setattr(server, "curator", curator)  # noqa: B010  (read by _Handler)
        self._server = server
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """What a client passes to ``jp.connect``."""
        if self.socket_path is not None:
            return str(self.socket_path)
        host, port = self._tcp
        return f"{self.scheme}://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> CuratorServer:
        """Serve in a background thread (tests, notebooks that host their own curator)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="curator")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        self.curator.close()


def _drain(sock: socket.socket, rfile: BinaryIO, limit: int = 16 << 20) -> None:
    """Stop writing, then discard what the client still sends (bounded): closing a socket with
    unread input resets it, and the client would lose our answer."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        while limit > 0:
            chunk = rfile.read1(65536) if hasattr(rfile, "read1") else rfile.read(65536)
            if not chunk:
                break
            limit -= len(chunk)


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket left by a curator that died; refuse if one is still listening."""
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise PolicyError(
            "start the curator",
            str(path),
            "the socket path exists and is not a socket",
            [],
            ["choose another --socket path"],
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: a stale socket
        return
    finally:
        probe.close()
    raise PolicyError(
        "start the curator",
        str(path),
        "another curator is already listening there",
        [],
        ["stop it first, or choose another --socket path"],
    )


def build(
    policy_path: Path,
    *,
    home: Path | None = None,
    target: str | None = None,
    token_file: Path | None = None,
    limits: Limits | None = None,
    socket_mode: int = 0o660,
) -> CuratorServer:
    """A curator for a policy file: its sources registered, its clients loaded, not yet serving."""
    policy: Policy = load_policy(Path(policy_path))
    ws = Workspace(home)
    for source in policy.sources:
        ws.add_source(source.path, source.declaration)
    registry = Registry(ws.home / "clients.json")
    token_file = token_file or (policy.curator.token_file if policy.curator else None)
    if token_file is not None:
        registry.extra.append(own_token(token_file))
    target = target or (policy.curator.target if policy.curator else None)
    if target is None:
        raise PolicyError(
            "start the curator",
            str(policy_path),
            "no address to listen on",
            [],
            ["jupyter-privacy serve --socket curator.sock", '[curator] socket = "curator.sock"'],
        )
    address = parse_address(target)
    return CuratorServer(
        Curator(ws, registry, limits),
        socket_path=address.path,
        host=address.host or "127.0.0.1",
        port=address.port,
        socket_mode=socket_mode,
        scheme=address.scheme,
    )
