"""The kernel end of curator mode: a release service whose sources, ledger and audit log are
remote.

``CuratorService`` implements ``core.service.ReleaseService`` over a ``Connection``, so the same
``SensitiveFrame`` and the same widgets work unchanged. The kernel holds plans, public
schemas and bounds, and releases: nothing else ever arrives.

A dropped connection is re-opened and the request sent again with the same request id; the
curator answers a repeated id from its journal, so a release is never charged twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from jupyter_privacy.core import errors
from jupyter_privacy.core.budget import check_parameter
from jupyter_privacy.core.errors import InvalidArgumentError, PolicyError, PrivacyError
from jupyter_privacy.core.ledger import VerifyResult
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.pricing import STATE_FIELDS, BudgetState
from jupyter_privacy.core.record import ReleaseRecord
from jupyter_privacy.core.registration import SourceDeclaration, declare
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.service import Event, EventHub, Listener, Mode
from jupyter_privacy.core.source import SourceSpec
from jupyter_privacy.curator import http_binding, protocol
from jupyter_privacy.curator.address import parse_address
from jupyter_privacy.curator.auth import read_token
from jupyter_privacy.curator.protocol import CuratorError, CuratorUnavailableError
from jupyter_privacy.frame import SensitiveFrame

_REFUSALS: dict[str, type[PrivacyError]] = {
    cls.code: cls
    for cls in (
        errors.RowAccessError,
        errors.BudgetExceededError,
        errors.MissingBoundsError,
        errors.UnsupportedOperationError,
        errors.ReplayMissError,
        errors.PolicyError,
        errors.InvalidArgumentError,
        errors.ReleaseFailedError,
        CuratorError,
        CuratorUnavailableError,
    )
}


class _Dropped(Exception):
    """The connection broke before a whole response arrived."""


class Connection:
    """One authenticated connection that re-opens itself; one request at a time."""

    def __init__(
        self,
        target: str,
        token: str,
        *,
        retry_seconds: float = 10.0,
        trace: list[bytes] | None = None,
    ) -> None:
        self.target = target
        self._address = parse_address(target)
        self._token = token
        self.retry_seconds = retry_seconds
        #: Every line sent and received, when a list is given (the red-team tests scan it).
        self.trace = trace
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._rfile: BinaryIO | None = None
        self._http: http_binding.Exchange | None = None
        self.identity: dict[str, Any] = {}
        with self._lock:
            self._open()

    # --- transport -----------------------------------------------------------------------------
    def _open(self) -> None:
        address = self._address
        if address.scheme == "http":
            self._http = http_binding.Exchange(address.host, address.port or 0, self._token)
        elif address.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            try:
                sock.connect(address.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((address.host, address.port or 0), timeout=10)
        if address.scheme != "http":
            sock.settimeout(None)
            self._sock, self._rfile = sock, sock.makefile("rb")
        hello = {
            "v": protocol.VERSION,
            "id": "hello",
            "op": "hello",
            "protocol": protocol.PROTOCOL,
            "token": self._token,
        }
        response = self._exchange(hello)
        if not response.get("ok"):
            self.close()
            raise self._error(response, "connect", self.target)
        self.identity = response["result"]

    def close(self) -> None:
        if self._http is not None:
            with contextlib.suppress(OSError):
                self._http.close()
            self._http = None
        if self._rfile is not None:
            with contextlib.suppress(OSError):
                self._rfile.close()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = self._rfile = None

    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        line = protocol.encode(message)
        if self._http is not None:
            if self.trace is not None:
                self.trace.append(line)
            try:
                answer = self._http.send(line)
            except http_binding.Dropped:
                raise _Dropped() from None
        else:
            answer = self._send_line(line)
        if self.trace is not None:
            self.trace.append(answer)
        return protocol.decode_response(answer)

    def _send_line(self, line: bytes) -> bytes:
        if self._sock is None or self._rfile is None:
            raise _Dropped()
        if self.trace is not None:
            self.trace.append(line)
        try:
            self._sock.sendall(line)
            answer = self._rfile.readline(protocol.MAX_RESPONSE_BYTES + 1)
        except OSError:
            raise _Dropped() from None
        if not answer.endswith(b"\n"):
            raise _Dropped()
        return answer

    # --- requests ------------------------------------------------------------------------------
    def call(
        self,
        op: str,
        args: Mapping[str, Any] | None = None,
        *,
        operation: str = "reach the curator",
        source: str = "-",
    ) -> Any:
        """Send one request (again, on a new connection, if the old one dropped); its result."""
        args = dict(args or {})
        message = {"v": protocol.VERSION, "id": uuid.uuid4().hex[:16], "op": op, **args}
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.05
        with self._lock:
            while True:
                try:
                    response = self._exchange(message)
                    break
                except _Dropped:
                    self.close()
                while True:
                    if time.monotonic() > deadline:
                        raise self._unavailable(operation, source, args.get("request_id"))
                    try:
                        self._open()
                        break
                    except (OSError, _Dropped):
                        self.close()
                        time.sleep(pause)
                        pause = min(pause * 2, 1.0)
        if not response.get("ok"):
            raise self._error(response, operation, source)
        return response["result"]

    def _unavailable(self, operation: str, source: str, request_id: str | None) -> PrivacyError:
        details = [("curator", self.target), ("waited", f"{self.retry_seconds:g} s")]
        if request_id:
            details.append(("request", f"{request_id}: charged at most once; rerun to find out"))
        return CuratorUnavailableError(
            operation,
            source,
            "the curator cannot be reached",
            details,
            ["run the cell again when the curator is back (the same query is never charged twice)"],
        )

    @staticmethod
    def _error(response: dict[str, Any], operation: str, source: str) -> PrivacyError:
        err = response.get("error") or {}
        refusal = err.get("refusal")
        if isinstance(refusal, dict):
            cls = _REFUSALS.get(str(refusal.get("code")), PrivacyError)
            return cls(
                str(refusal["operation"]),
                str(refusal["source"]),
                str(refusal["reason"]),
                [(str(k), str(v)) for k, v in refusal.get("details", [])],
                [str(f) for f in refusal.get("fixes", [])],
            )
        return CuratorError(
            operation,
            source,
            f"the curator answered {err.get('code', 'error')}: {err.get('message', '')}",
        )


def _token(token: str | None, token_file: str | Path | None) -> str:
    if token is not None and token_file is not None:
        raise InvalidArgumentError(
            "connect to the curator",
            "-",
            "give token= or token_file=, not both",
            [],
            ["jp.connect('curator.sock', token_file='curator.token')"],
        )
    if token is not None:
        return token
    if token_file is None:
        raise InvalidArgumentError(
            "connect to the curator",
            "-",
            "a token is needed",
            [],
            ["jp.connect('curator.sock', token_file='~/.jupyter_privacy/curator.token')"],
        )
    return read_token(Path(token_file))


class CuratorService:
    """The release service of a curator: sources, ledger and audit log in the curator's process;
    this object holds only public facts (schemas, bounds, budgets) and releases."""

    mode: Mode = "curator"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.address = connection.target
        self.events = EventHub()
        self.sources: dict[str, SourceSpec] = {}
        #: Public facts about where a release was asked for (the kernel sets the cell number).
        self.context: Callable[[], dict[str, Any]] = dict
        # request digest -> request id of a run that got no answer: a rerun reuses the id.
        self._unanswered: dict[str, str] = {}
        self.refresh()

    @classmethod
    def connect(
        cls,
        target: str | Path,
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        retry_seconds: float = 10.0,
        trace: list[bytes] | None = None,
    ) -> CuratorService:
        secret = _token(token, token_file)
        try:
            connection = Connection(str(target), secret, retry_seconds=retry_seconds, trace=trace)
        except OSError:
            raise CuratorUnavailableError(
                "connect to the curator",
                str(target),
                "nothing is listening there",
                [],
                ["jupyter-privacy serve --policy privacy.toml   # on the curator's host"],
            ) from None
        return cls(connection)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.events.subscribe(listener)

    def close(self) -> None:
        self.connection.close()

    def __getitem__(self, name: str) -> SensitiveFrame:
        self.source(name)
        return SensitiveFrame(self, name)

    def __repr__(self) -> str:
        who = self.connection.identity.get("client", "?")
        names = ", ".join(sorted(self.sources)) or "(none)"
        return f"<curator {self.address} as {who}: sources {names}>"

    # --- sources ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch the public description of every source the curator serves."""
        described = self.connection.call("sources", operation="list sources")
        self.sources = {name: _spec(d) for name, d in described.items()}

    def add_source(self, data: Any, declared: SourceDeclaration) -> SourceSpec:
        raise PolicyError(
            "register",
            str(declared.name or "-"),
            "in curator mode the curator declares the sources; the kernel never names a file",
            [("curator", self.address), ("served", ", ".join(sorted(self.sources)) or "(none)")],
            ["jp.source('patients')", "add the source to the curator's privacy.toml"],
        )

    def source(self, name: str) -> SourceSpec:
        if name not in self.sources:
            self.refresh()
        try:
            return self.sources[name]
        except KeyError:
            raise InvalidArgumentError(
                "find a source",
                name,
                "the curator serves no source of that name",
                [("served", ", ".join(sorted(self.sources)) or "(none)")],
                ["add the source to the curator's privacy.toml"],
            ) from None

    # --- reading ---------------------------------------------------------------------------------
    def budget_state(self, name: str) -> BudgetState:
        self.source(name)
        state = self.connection.call(
            "budget", {"source": name}, operation="read the budget", source=name
        )
        return BudgetState(**{k: state[k] for k in STATE_FIELDS})

    def releases(self, source: str | None = None) -> list[ReleaseRecord]:
        found = self.connection.call(
            "releases", {"source": source}, operation="list releases", source=source or "-"
        )
        return [ReleaseRecord.from_json(r) for r in found]

    def audit_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.connection.call("audit", operation="read the audit log")
        return rows

    def verify(self) -> VerifyResult:
        """The curator walks its own chain (checks against a kept head run on its host)."""
        return VerifyResult(**self.connection.call("verify", operation="verify the audit log"))

    def load_manifest(self, manifest: dict[str, Any] | None) -> None:
        if manifest is None:
            return
        raise PolicyError(
            "load a release manifest",
            self.address,
            "replay runs without a curator",
            [],
            ["jp.use_workspace(None); jp.replay('releases.json')"],
        )

    def export_manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = self.connection.call("export", operation="export releases")
        return manifest

    # --- releasing --------------------------------------------------------------------------------
    def run(
        self,
        query: Query,
        *,
        epsilon: float | None = None,
        accuracy: float | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        dry_run: bool = False,
    ) -> Release | ReleaseTable | Estimate:
        spec = self.source(query.source)
        op = f"compute {query.statistic}" + (f" of '{query.column}'" if query.column else "")
        options = {"epsilon": epsilon, "accuracy": accuracy, "alpha": alpha, "delta": delta}
        _check_sendable(options, spec.name, op)
        plan = query.to_json()
        body = {"plan": plan, "options": {**options, "dry_run": bool(dry_run)}}
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        request_id = self._unanswered.get(key) or uuid.uuid4().hex
        if not dry_run:
            self._unanswered[key] = request_id
        try:
            result = self.connection.call(
                "run",
                {"request_id": request_id, "context": _context(self.context()), **body},
                operation=op,
                source=spec.name,
            )
        except CuratorUnavailableError:
            raise  # unanswered: the same query later reuses this request id
        except PrivacyError:
            self._unanswered.pop(key, None)
            raise
        self._unanswered.pop(key, None)
        if result["kind"] == "estimate":
            return Estimate(**result["estimate"])
        replayed = bool(result["replayed"])
        record = ReleaseRecord.from_json(result["record"])
        if not replayed:
            self.events.emit(Event("charge", spec.name))
        self.events.emit(Event("release", spec.name, record, replayed=replayed))
        return record.to_release(replayed)


def _spec(described: dict[str, Any]) -> SourceSpec:
    """A ``SourceSpec`` with no data: the public half of the curator's registration."""
    return replace(declare(None, SourceDeclaration.from_description(described)), origin="curator")


def _check_sendable(options: Mapping[str, Any], source: str, op: str) -> None:
    """Values JSON cannot carry (NaN, inf, non-numbers) are refused here, as in-process."""
    for name, value in options.items():
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value):
            continue
        if name == "alpha":
            raise InvalidArgumentError(
                op,
                source,
                "alpha must be a number strictly between 0 and 1",
                [("given", repr(value))],
                ["alpha=0.05"],
            )
        check_parameter(name, value, allow_zero=name == "delta", source=source, operation=op)


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    """What the protocol carries of the kernel's context: the cell and the notebook."""
    count = context.get("execution_count")
    ok = isinstance(count, int) and not isinstance(count, bool) and count >= 0
    texts = {
        k: v if isinstance(v, str) and len(v) <= 1024 else None
        for k, v in ((k, context.get(k)) for k in ("cell_id", "notebook"))
    }
    return {"execution_count": count if ok else None, **texts}


def connect(
    target: str | Path,
    *,
    token: str | None = None,
    token_file: str | Path | None = None,
    retry_seconds: float = 10.0,
) -> CuratorService:
    """Connect to a curator: a Unix socket path, ``tcp://127.0.0.1:PORT`` (JSON lines) or
    ``http://127.0.0.1:PORT`` (the same messages, one POST each)."""
    return CuratorService.connect(
        target, token=token, token_file=token_file, retry_seconds=retry_seconds
    )


__all__ = ["Connection", "CuratorService", "connect"]
