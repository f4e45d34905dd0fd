"""Raw protocol messages the Python API cannot produce: the curator validates them with the same
pass as the kernel, refuses them before anything is charged, and runs whatever validates."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_privacy.curator.server import CuratorServer, Limits
from tests.curator.conftest import Raw, Site, make_site, read_token, run_message, start


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[CuratorServer, Raw]]:
    site: Site = make_site(epsilon=1000.0)
    srv = start(site, "unix", Limits(rate=1e9, burst=10**9))
    raw = Raw(srv.address)
    assert raw.hello(read_token(site))["ok"]  # type: ignore[index]
    yield srv, raw
    raw.close()
    srv.stop()


def col(name: str) -> dict[str, Any]:
    return {"expr": ["col", name]}


def lit(value: Any) -> dict[str, Any]:
    return {"expr": ["lit", value]}


def plan_message(request_id: str, **plan: Any) -> dict[str, Any]:
    message = copy.deepcopy(run_message(request_id, epsilon=0.5))
    message["plan"].update(plan)
    return message


REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "a share of a column that is not a condition",
        {"statistic": "proportion", "column": "age"},
        {},
        "unsupported_operation",
        "'age' is not a condition (float)",
    ),
    (
        "a parameter no statistic takes",
        {"statistic": "count", "column": None, "params": {"raw": True}},
        {},
        "invalid_argument",
        "count does not take the parameter 'raw'",
    ),
    (
        "a number compared with text",
        {"steps": [{"kind": "filter", "expr": ["gt", col("income"), lit("x")]}]},
        {},
        "unsupported_operation",
        "'>' needs two numbers or two texts",
    ),
    (
        "an expression with a missing argument",
        {"steps": [{"kind": "filter", "expr": ["not"]}]},
        {},
        "invalid_argument",
        "the plan is malformed",
    ),
    (
        "a column name that is not text",
        {"steps": [{"kind": "assign", "name": "x", "expr": ["col", 5]}]},
        {},
        "invalid_argument",
        "there is no column '5'",
    ),
    (
        "an integer literal beyond int64",
        {"steps": [{"kind": "assign", "name": "x", "expr": ["add", col("age"), lit(2**70)]}]},
        {},
        "invalid_argument",
        "an int64",
    ),
    (
        "a text column cast to bool",
        {"steps": [{"kind": "filter", "expr": ["cast", col("state"), "bool"]}]},
        {},
        "unsupported_operation",
        "a str column cannot be cast to bool",
    ),
    (
        "cut edges that repeat",
        {
            "steps": [
                {"kind": "assign", "name": "b", "expr": ["cut", col("age"), [0, 0, 1], ["x", "y"]]}
            ],
            "statistic": "value_counts",
            "column": "b",
        },
        {},
        "invalid_argument",
        "cut edges must be strictly increasing",
    ),
    (
        "cut labels that repeat",
        {
            "steps": [
                {
                    "kind": "assign",
                    "name": "b",
                    "expr": ["cut", col("age"), [0, 50, 99], ["x", "x"]],
                }
            ],
            "statistic": "value_counts",
            "column": "b",
        },
        {},
        "invalid_argument",
        "cut needs one distinct text label per bin",
    ),
    (
        "a histogram over a subnormal width",
        {
            "steps": [{"kind": "assign", "name": "a", "expr": ["clip", col("age"), 0, 5e-324]}],
            "statistic": "hist",
            "column": "a",
            "params": {"bins": 2},
        },
        {},
        "invalid_argument",
        "too narrow for 2 equal bins",
    ),
    (
        "a bin count past the cap",
        {"statistic": "hist", "column": "age", "params": {"bins": 10_001}},
        {},
        "invalid_argument",
        "bins must be an integer between 1 and 10000",
    ),
    (
        "a tiny epsilon",
        {},
        {"epsilon": 1e-17},
        "invalid_argument",
        "epsilon must be between 1e-06 and 10000",
    ),
    (
        "an assigned name reserved for the engine",
        {"steps": [{"kind": "assign", "name": "__bin__", "expr": lit(1)["expr"]}]},
        {},
        "invalid_argument",
        "not starting with '__'",
    ),
]


@pytest.mark.parametrize(
    "plan, options, code, words", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_plan_the_api_cannot_build_is_refused_before_the_charge(
    server: tuple[CuratorServer, Raw],
    plan: dict[str, Any],
    options: dict[str, Any],
    code: str,
    words: str,
) -> None:
    srv, raw = server
    ws = srv.curator.ws
    spent_before = ws.ledger.totals("patients")[1]
    releases_before = len(ws.releases())
    message = plan_message(f"raw-{abs(hash(words)) % 10**9}", **plan)
    message["options"].update(options)
    answer = raw.ask(message)
    assert answer is not None and answer["ok"] is False
    assert answer["error"]["code"] == code, answer
    assert words in answer["error"]["message"]
    assert ws.ledger.totals("patients")[1] == spent_before
    assert len(ws.releases()) == releases_before
    assert ws.ledger.audit_rows()[-1]["outcome"] == "refused"


def test_a_cross_product_of_cuts_is_capped_before_any_key_is_built(
    server: tuple[CuratorServer, Raw],
) -> None:
    _, raw = server
    edges = [18 + i * 72 / 1000 for i in range(1001)]
    labels = [f"b{i}" for i in range(1000)]
    steps = [
        {"kind": "assign", "name": n, "expr": ["cut", col("age"), edges, labels]} for n in "abc"
    ]
    answer = raw.ask(
        plan_message("cuts3", steps=steps, statistic="size", column=None, by=list("abc"))
    )
    assert answer is not None and answer["ok"] is False
    assert "1,000,000,000 cells, more than the cap of 10,000" in answer["error"]["message"]


def test_a_plan_that_validates_runs(server: tuple[CuratorServer, Raw]) -> None:
    """What the API could not build but the grammar allows is released, not failed."""
    srv, raw = server
    steps = [
        {"kind": "assign", "name": "r", "expr": ["truediv", col("income"), col("age")]},
        {"kind": "filter", "expr": ["isin", col("state"), ["CA", "NY"]]},
        {
            "kind": "assign",
            "name": "b",
            "expr": ["cut", {"expr": ["clip", col("r"), 0, 1e4]}, [0, 100, 1e4], ["low", "high"]],
        },
    ]
    answer = raw.ask(plan_message("valid1", steps=steps, statistic="size", column=None, by=["b"]))
    assert answer is not None and answer["ok"], answer
    cells = answer["result"]["record"]["cells"]
    assert sorted(c["key"][0] for c in cells) == ["high", "low"]
    assert "failed" not in [r["outcome"] for r in srv.curator.ws.ledger.audit_rows()]
