"""The wire protocol: strict JSON, one schema, limits; malformed messages change nothing.

The fuzzing runs against a real curator on a Unix socket and on TCP; after every message the
ledger (budget, audit chain, releases) and the request journal are exactly as before.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_privacy.curator import protocol
from jupyter_privacy.curator.server import CuratorServer, Limits
from tests.curator.conftest import Raw, Site, read_token, run_message, start


def test_the_documented_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(protocol.request_schema())


def test_a_valid_run_request_parses() -> None:
    message = run_message("r1")
    assert protocol.parse_request(json.dumps(message).encode()) == message


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        (b"not json", "malformed", "one line of JSON"),
        (b"[1, 2]", "malformed", "JSON object"),
        (b"\xff\xfe", "malformed", "UTF-8"),
        (b'{"v": 1, "id": "a", "op": "ping", "x": NaN}', "malformed", "NaN"),
        (b'{"v": 2, "id": "a", "op": "ping"}', "unsupported_version", "version 1"),
        (b'{"v": 1, "id": "a", "op": "pickle"}', "malformed", "'op'"),
        (b'{"v": 1, "id": "a", "op": "ping", "extra": 1}', "malformed", "extra"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed", "JSON"),
    ],
)
def test_malformed_lines_are_named(line: bytes, code: str, words: str) -> None:
    with pytest.raises(protocol.Malformed) as bad:
        protocol.parse_request(line)
    assert bad.value.code == code and words in bad.value.message


def test_deep_but_short_messages_are_refused_before_validation() -> None:
    nested: Any = 0
    for _ in range(protocol.MAX_DEPTH + 5):
        nested = [nested]
    message = {**run_message("r1"), "plan": {**run_message("r1")["plan"], "params": {"q": nested}}}
    with pytest.raises(protocol.Malformed, match="nested deeper"):
        protocol.parse_request(json.dumps(message).encode())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("plan", "statistic"), "apply"),
        (("plan", "source"), "../../etc/passwd"),
        (("plan", "steps"), [{"kind": "filter", "expr": ["eval", "os.system('id')"]}]),
        (("plan", "steps"), [{"kind": "filter"}]),
        (("plan", "params"), {"udf": {"py/object": "os.system"}}),
        (("options", "callback"), "os.system"),
        (("path",), "/srv/data/patients.csv"),
        (("pickle",), "gASVCgAAAAAAAACMBHBvc2l4lC4="),
    ],
)
def test_no_callables_paths_or_pickles_get_through(path: tuple[str, ...], value: Any) -> None:
    message = run_message("r1")
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(protocol.Malformed):
        protocol.parse_request(json.dumps(message).encode())


def test_non_finite_released_values_travel_as_strict_json() -> None:
    line = protocol.encode(protocol.ok("a", {"value": float("nan"), "ci": [float("-inf"), 1.0]}))
    assert b"NaN" not in line and b"Infinity" not in line
    back = protocol.decode_response(line)["result"]
    assert back["value"] != back["value"] and back["ci"][0] == float("-inf")


# --- against a running curator ------------------------------------------------------------------
@pytest.fixture(params=["unix", "tcp"], scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[tuple[CuratorServer, Site]]:
    from tests.curator.conftest import make_site

    site = make_site()
    srv = start(site, request.param, Limits(rate=1e9, burst=10**9))
    yield srv, site
    srv.stop()


def _state(srv: CuratorServer) -> tuple[Any, ...]:
    ws = srv.curator.ws
    rows = ws.ledger.audit_rows()
    journal = srv.curator.journal._db.execute("SELECT COUNT(*) FROM requests").fetchone()
    return (ws.ledger.totals("patients"), len(rows), len(ws.releases()), journal)


@pytest.fixture(scope="module")
def conn(server: tuple[CuratorServer, Site]) -> Iterator[Raw]:
    srv, site = server
    raw = Raw(srv.address)
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    yield raw
    raw.close()


def _assert_refused_without_change(srv: CuratorServer, raw: Raw, line: bytes) -> dict[str, Any]:
    before = _state(srv)
    raw.send_line(line)
    answer = raw.receive()
    assert answer is not None and answer["ok"] is False
    assert answer["error"]["code"] and answer["error"]["message"]
    assert _state(srv) == before
    pong = raw.ask({"v": 1, "id": "p", "op": "ping"})
    assert pong is not None and pong["ok"]  # the connection is still usable
    return answer


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FUZZ = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(junk=st.binary(max_size=300).filter(lambda b: b"\n" not in b))
def test_random_bytes_are_refused_and_change_nothing(
    server: tuple[CuratorServer, Site], conn: Raw, junk: bytes
) -> None:
    _assert_refused_without_change(server[0], conn, junk)


@FUZZ
@given(value=JSON)
def test_random_json_is_refused_and_changes_nothing(
    server: tuple[CuratorServer, Site], conn: Raw, value: Any
) -> None:
    _assert_refused_without_change(server[0], conn, json.dumps(value).encode())


BAD = {
    ("v",): ["1", None, 1.5, True, 2],
    ("id",): ["", "x" * 65, "no spaces", 5],
    ("op",): ["eval", 1, None],
    ("request_id",): ["", "y" * 65, "../etc", 3],
    ("plan",): ["plan", 1, [], None],
    ("plan", "version"): [2, "1", None],
    ("plan", "source"): ["../../etc/passwd", "", 1, "a b"],
    ("plan", "steps"): ["x", [1], [{"kind": "drop"}], [{"kind": "select", "columns": []}]],
    ("plan", "statistic"): ["__import__", "apply", 1],
    ("plan", "column"): [1, [], ""],
    ("plan", "params"): [[], "x", {"bad key": 1}],
    ("plan", "by"): ["state", [1]],
    ("options",): [None, [], {"callback": "os.system"}],
    ("options", "epsilon"): ["0.1", [0.1], {"a": 1}, True],
    ("options", "dry_run"): ["yes", 1, None],
    ("context",): [{"execution_count": "x"}, {"path": "/etc"}, {"execution_count": -1}],
}
REQUIRED = [("v",), ("id",), ("op",), ("request_id",), ("plan",), ("options",), ("plan", "steps")]


@FUZZ
@given(
    where=st.sampled_from(sorted(BAD)),
    pick=st.integers(min_value=0, max_value=10),
    extra=st.text(min_size=1, max_size=10).filter(
        lambda k: k not in ("v", "id", "op", "request_id", "plan", "options", "context")
    ),
    drop=st.sampled_from(REQUIRED),
    mode=st.sampled_from(["replace", "add", "drop"]),
    value=JSON,
)
def test_mutated_run_requests_are_refused_and_charge_nothing(
    server: tuple[CuratorServer, Site],
    conn: Raw,
    where: tuple[str, ...],
    pick: int,
    extra: str,
    drop: tuple[str, ...],
    mode: str,
    value: Any,
) -> None:
    message = copy.deepcopy(run_message("fuzz1", epsilon=0.5))
    if mode == "replace":
        target = message
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = BAD[where][pick % len(BAD[where])]
    elif mode == "add":
        message[extra] = value
    else:
        target = message
        for key in drop[:-1]:
            target = target[key]
        del target[drop[-1]]
    _assert_refused_without_change(server[0], conn, json.dumps(message).encode())


def test_an_oversized_message_is_answered_then_the_connection_closes(
    server: tuple[CuratorServer, Site],
) -> None:
    srv, site = server
    raw = Raw(srv.address)
    try:
        assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
        before = _state(srv)
        message = run_message("big")
        message["plan"]["params"] = {"q": ["x" * 1000] * 2000}  # ~2 MB
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            raw.send(message)  # the curator may stop reading before the end
        answer = raw.receive()
        assert answer is not None and answer["error"]["code"] == "too_large"
        assert raw.receive() is None  # closed
        assert _state(srv) == before
    finally:
        raw.close()


def test_requests_before_hello_are_refused_and_three_strikes_close(
    server: tuple[CuratorServer, Site],
) -> None:
    srv, _ = server
    raw = Raw(srv.address)
    try:
        before = _state(srv)
        first = raw.ask(run_message("nohello"))
        assert first is not None and first["error"]["code"] == "unauthenticated"
        second = raw.hello("not-the-token-" + "x" * 20)
        assert second is not None and second["error"]["code"] == "unauthenticated"
        third = raw.ask({"v": 1, "id": "s", "op": "sources"})
        assert third is not None and third["error"]["code"] == "unauthenticated"
        assert raw.receive() is None
        assert _state(srv) == before
    finally:
        raw.close()


def test_a_rate_limited_client_is_told_and_nothing_runs(site: Site) -> None:
    srv = start(site, "unix", Limits(rate=0.001, burst=3))
    raw = Raw(srv.address)
    try:
        assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
        answers = [raw.ask({"v": 1, "id": f"p{i}", "op": "ping"}) for i in range(3)]
        assert all(a is not None and a["ok"] for a in answers)
        before = _state(srv)
        limited = raw.ask(run_message("rate1"))
        assert limited is not None and limited["error"]["code"] == "rate_limited"
        assert _state(srv) == before
    finally:
        raw.close()
        srv.stop()
