"""The HTTP binding (SPEC's ``url = "http://…"``): what a client that is not ours may send.

The release semantics over HTTP are the shared curator tests (the ``curator`` fixture runs each of
them over a Unix socket, tcp:// and http://); here raw ``http.client`` requests check the
binding's own refusals, and that none of them charges or records anything.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import jupyter_privacy as jp
from jupyter_privacy.curator.server import CuratorServer, Limits
from tests.curator.conftest import Site, read_token, run_message, serve_process, start


def _state(srv: CuratorServer) -> tuple[Any, ...]:
    ws = srv.curator.ws
    journal = srv.curator.journal._db.execute("SELECT COUNT(*) FROM requests").fetchone()
    return (
        ws.ledger.totals("patients"),
        len(ws.ledger.audit_rows()),
        len(ws.releases()),
        journal,
    )


def _port(srv: CuratorServer) -> int:
    return int(srv.address.rsplit(":", 1)[1])


def post(
    srv: CuratorServer,
    body: bytes | dict[str, Any],
    token: str | None = None,
    *,
    path: str = "/v1",
    method: str = "POST",
) -> tuple[int, dict[str, Any] | None, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", _port(srv), timeout=60)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, data if method == "POST" else None, headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, (json.loads(raw) if raw else None), response


@pytest.fixture
def srv(site: Site) -> Iterator[CuratorServer]:
    server = start(site, "http")
    yield server
    server.stop()


def test_the_curator_answers_http_and_names_it(srv: CuratorServer, site: Site) -> None:
    assert srv.address.startswith("http://127.0.0.1:")
    token = read_token(site)
    status, hello, _ = post(
        srv,
        {"v": 1, "id": "h", "op": "hello", "protocol": "jupyter-privacy-curator", "token": token},
    )
    assert status == 200 and hello is not None and hello["result"]["peer_uid"] is None
    status, answer, _ = post(srv, run_message("http-1"), token)
    assert status == 200 and answer is not None and answer["ok"]
    assert answer["result"]["replayed"] is False
    users = [r.get("user") for r in srv.curator.ws.ledger.audit_rows()]
    assert any("(curator client, http)" in str(u) for u in users)


@pytest.mark.parametrize(
    "token, words",
    [(None, "Authorization: Bearer"), ("x" * 40, "the token is not accepted")],
)
def test_a_request_without_a_good_token_is_refused_and_changes_nothing(
    srv: CuratorServer, token: str | None, words: str
) -> None:
    before = _state(srv)
    status, answer, _ = post(srv, run_message("noauth-1"), token)
    assert status == 401 and answer is not None
    assert answer["error"]["code"] == "unauthenticated" and words in answer["error"]["message"]
    assert answer["id"] == run_message("noauth-1")["id"]
    assert _state(srv) == before


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/v1", 405, "method_not_allowed"),
        ("DELETE", "/v1", 405, "method_not_allowed"),
        ("POST", "/", 404, "not_found"),
        ("POST", "/v2", 404, "not_found"),
    ],
)
def test_other_methods_and_paths_are_refused(
    srv: CuratorServer, site: Site, method: str, path: str, status: int, code: str
) -> None:
    before = _state(srv)
    got, answer, response = post(
        srv, run_message("path-1"), read_token(site), path=path, method=method
    )
    assert got == status and answer is not None and answer["error"]["code"] == code
    if status == 405:
        assert response.getheader("Allow") == "POST"
    assert _state(srv) == before


@pytest.mark.parametrize(
    "body, code",
    [
        (b"not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b'{"v": 1, "id": "x", "op": "run"}', "malformed"),
        (b'{"v": 9, "id": "x", "op": "ping"}', "unsupported_version"),
        (b"\xff\xfe", "malformed"),
    ],
)
def test_malformed_bodies_get_400_with_a_named_error(
    srv: CuratorServer, site: Site, body: bytes, code: str
) -> None:
    before = _state(srv)
    status, answer, _ = post(srv, body, read_token(site))
    assert status == 400 and answer is not None and answer["error"]["code"] == code
    assert _state(srv) == before


def test_an_oversized_body_gets_413_and_the_curator_carries_on(site: Site) -> None:
    srv = start(site, "http", Limits(max_request_bytes=2000))
    try:
        token = read_token(site)
        before = _state(srv)
        message = run_message("big-1")
        message["plan"]["padding"] = "x" * 5000
        status, answer, _ = post(srv, message, token)
        assert status == 413 and answer is not None and answer["error"]["code"] == "too_large"
        assert _state(srv) == before
        status, answer, _ = post(srv, {"v": 1, "id": "p", "op": "ping"}, token)
        assert status == 200 and answer is not None and answer["ok"]
    finally:
        srv.stop()


def test_a_request_without_a_length_gets_411(srv: CuratorServer, site: Site) -> None:
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=60) as sock:
        sock.sendall(
            b"POST /v1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + read_token(site).encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        head = sock.recv(65536).split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 411")


def test_a_rate_limited_client_gets_429_and_nothing_runs(site: Site) -> None:
    srv = start(site, "http", Limits(rate=0.001, burst=2))
    try:
        token = read_token(site)
        for i in range(2):
            assert post(srv, {"v": 1, "id": f"p{i}", "op": "ping"}, token)[0] == 200
        before = _state(srv)
        status, answer, _ = post(srv, run_message("rate-1"), token)
        assert status == 429 and answer is not None
        assert answer["error"]["code"] == "rate_limited"
        assert _state(srv) == before
    finally:
        srv.stop()


def test_a_request_repeated_after_a_lost_answer_is_charged_once(
    srv: CuratorServer, site: Site
) -> None:
    token = read_token(site)
    body = json.dumps(run_message("lost-http", epsilon=0.25, statistic="sum")).encode()
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=60) as sock:
        sock.sendall(
            b"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )  # and hang up without reading the answer
    status, answer, _ = post(srv, body, token)
    assert status == 200 and answer is not None and answer["ok"]
    _, spent = srv.curator.ws.ledger.totals("patients")
    assert spent.epsilon == pytest.approx(0.25)
    assert len(srv.curator.ws.ledger.releases("patients")) == 1


def test_the_client_reconnects_when_the_curator_closes_an_idle_connection(
    srv: CuratorServer, site: Site
) -> None:
    ws = jp.connect(srv.address, token_file=site.token_file)
    first = ws["patients"].count(epsilon=0.5)
    http_conn = ws.connection._http
    assert http_conn is not None
    sock = http_conn._conn.sock
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)  # as if the server had timed the keep-alive out
    again = ws["patients"].count(epsilon=0.5)
    assert again.replayed and float(again) == float(first)
    ws.close()


def test_jupyter_privacy_serve_listens_on_an_http_url(site: Site) -> None:
    process = serve_process(site, "http://127.0.0.1:0")
    try:
        assert process.address.startswith("http://127.0.0.1:")
        ws = jp.connect(process.address, token_file=site.token_file)
        assert ws["patients"].count(epsilon=0.5).epsilon == 0.5
        ws.close()
    finally:
        process.stop()
