"""The curator wire protocol: versioned JSON lines, checked against one schema.

One message is one line of UTF-8 JSON (``json.dumps`` never writes a raw newline). Requests carry
plans (``Query.to_json``) and options, never data, paths, pickles or callables; responses carry
releases, budget states and public metadata. The protocol is written down in
``docs/curator-protocol.md``; this module is its single source of truth.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.expr import OPS

PROTOCOL = "jupyter-privacy-curator"
VERSION = 1
#: Largest request line the server reads (bytes, newline included).
MAX_REQUEST_BYTES = 1 << 20
#: Largest response line the client reads (a grouped release over many keys can be large).
MAX_RESPONSE_BYTES = 64 << 20
#: Deepest nesting of a request (objects and arrays); plans are shallow trees.
MAX_DEPTH = 48

OPS_WITH_AUTH = ("sources", "budget", "run", "releases", "audit", "verify", "export", "ping")
REQUEST_OPS = ("hello", *OPS_WITH_AUTH)
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
ID = r"^[A-Za-z0-9_-]{1,64}$"


class CuratorError(PrivacyError):
    """The curator refused a message: malformed, too large, unauthenticated or rate-limited."""

    code = "curator"


class CuratorUnavailableError(PrivacyError):
    """The curator could not be reached, or the connection dropped and did not come back."""

    code = "curator_unavailable"


# --- the schema -------------------------------------------------------------------------------
_SCALAR: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": 1024},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
_VALUE: dict[str, Any] = {
    "anyOf": [
        _SCALAR,
        {"type": "array", "maxItems": 10_000, "items": {"$ref": "#/$defs/value"}},
    ]
}
_EXPR: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 10_001,
    "prefixItems": [{"enum": sorted(OPS)}],
    "items": {
        "anyOf": [
            _SCALAR,
            {
                "type": "object",
                "properties": {"expr": {"$ref": "#/$defs/expr"}},
                "required": ["expr"],
                "additionalProperties": False,
            },
            {"type": "array", "maxItems": 10_000, "items": _SCALAR},
        ]
    },
}
_COLUMN = {"type": "string", "minLength": 1, "maxLength": 256}


def _step(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"const": kind}, **fields},
        "required": ["kind", *fields],
        "additionalProperties": False,
    }


_STEP: dict[str, Any] = {
    "oneOf": [
        _step("filter", expr={"$ref": "#/$defs/expr"}),
        _step("assign", expr={"$ref": "#/$defs/expr"}, name=_COLUMN),
        _step(
            "select", columns={"type": "array", "minItems": 1, "maxItems": 1000, "items": _COLUMN}
        ),
    ]
}
_PLAN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "version": {"const": 1},
        "source": {"type": "string", "pattern": NAME},
        "steps": {"type": "array", "maxItems": 100, "items": _STEP},
        "statistic": {"enum": list(AGGREGATES)},
        "column": {
            "anyOf": [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "null"}]
        },
        "by": {
            "type": "array",
            "maxItems": 16,
            "items": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        "params": {
            "type": "object",
            "maxProperties": 16,
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {"$ref": "#/$defs/value"},
        },
    },
    "required": ["version", "source", "steps", "statistic", "column", "by", "params"],
    "additionalProperties": False,
}
# Numbers only: their ranges are checked by the workspace, which refuses (and audits) exactly as
# it does in-process.
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "null"}]}
_OPTIONS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "epsilon": _NUMBER,
        "accuracy": _NUMBER,
        "alpha": _NUMBER,
        "delta": _NUMBER,
        "dry_run": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_TEXT_OR_NULL = {"anyOf": [{"type": "string", "maxLength": 1024}, {"type": "null"}]}
#: Public facts about where a release was asked for (recorded with it, shown by the sidebar).
_CONTEXT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "execution_count": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
        "cell_id": _TEXT_OR_NULL,
        "notebook": _TEXT_OR_NULL,
    },
    "additionalProperties": False,
}


def _envelope(op: str, properties: Mapping[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "v": {"const": VERSION},
            "id": {"type": "string", "pattern": ID},
            "op": {"const": op},
            **properties,
        },
        "required": ["v", "id", "op", *required],
        "additionalProperties": False,
    }


SOURCE_ARG = {"type": "string", "pattern": NAME}
REQUESTS: dict[str, dict[str, Any]] = {
    "hello": _envelope(
        "hello",
        {
            "protocol": {"const": PROTOCOL},
            "token": {"type": "string", "minLength": 16, "maxLength": 256},
            "client": {"type": "string", "maxLength": 128},
        },
        ["protocol", "token"],
    ),
    "ping": _envelope("ping", {}, []),
    "sources": _envelope("sources", {}, []),
    "budget": _envelope("budget", {"source": SOURCE_ARG}, ["source"]),
    "run": _envelope(
        "run",
        {
            "request_id": {"type": "string", "pattern": ID},
            "plan": {"$ref": "#/$defs/plan"},
            "options": _OPTIONS,
            "context": _CONTEXT,
        },
        ["request_id", "plan", "options"],
    ),
    "releases": _envelope("releases", {"source": {"anyOf": [SOURCE_ARG, {"type": "null"}]}}, []),
    "audit": _envelope("audit", {}, []),
    "verify": _envelope("verify", {}, []),
    "export": _envelope("export", {}, []),
}
_DEFS = {"value": _VALUE, "expr": _EXPR, "plan": _PLAN}
ENVELOPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "v": {"type": "integer"},
        "id": {"type": "string", "pattern": ID},
        "op": {"enum": list(REQUEST_OPS)},
    },
    "required": ["v", "id", "op"],
}
_VALIDATORS = {
    op: jsonschema.Draft202012Validator({**schema, "$defs": _DEFS})
    for op, schema in REQUESTS.items()
}
_ENVELOPE_VALIDATOR = jsonschema.Draft202012Validator(ENVELOPE)


def request_schema() -> dict[str, Any]:
    """The whole request schema as one JSON Schema document (for the docs and other clients)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{PROTOCOL}/{VERSION}/request",
        "oneOf": list(REQUESTS.values()),
        "$defs": _DEFS,
    }


# --- reading and writing ---------------------------------------------------------------------------
class Malformed(Exception):
    """A request that cannot be accepted; ``code`` and the message go back to the client."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def _no_constant(name: str) -> Any:
    raise Malformed("malformed", f"JSON must not contain {name}")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a deep message must not exhaust the server's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return f"'{path}'" if path else "the message"


def parse_request(line: bytes) -> dict[str, Any]:
    """Decode and validate one request line, or raise ``Malformed`` saying what is wrong."""
    if len(line) > MAX_REQUEST_BYTES:
        raise Malformed("too_large", f"a request may be at most {MAX_REQUEST_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("malformed", "a message must be UTF-8 text") from None
    try:
        message = json.loads(text, parse_constant=_no_constant)
    except Malformed:
        raise
    except (ValueError, RecursionError):
        raise Malformed("malformed", "a message must be one line of JSON") from None
    if not isinstance(message, dict):
        raise Malformed("malformed", "a message must be a JSON object")
    if _depth(message) > MAX_DEPTH:
        raise Malformed("malformed", f"the message is nested deeper than {MAX_DEPTH} levels")
    request_id = message.get("id") if isinstance(message.get("id"), str) else None
    if request_id is not None and len(request_id) > 64:
        request_id = None
    error = jsonschema.exceptions.best_match(_ENVELOPE_VALIDATOR.iter_errors(message))
    if error is not None:
        raise Malformed("malformed", f"{_where(error)}: {error.message[:300]}", request_id)
    if message["v"] != VERSION:
        raise Malformed(
            "unsupported_version",
            f"this curator speaks protocol version {VERSION}, not {message['v']}",
            request_id,
        )
    error = jsonschema.exceptions.best_match(_VALIDATORS[message["op"]].iter_errors(message))
    if error is not None:
        raise Malformed("malformed", f"{_where(error)}: {error.message[:300]}", request_id)
    return message


def _public_floats(value: Any) -> Any:
    """Non-finite floats (a NaN release) as ``{"float": "nan"}``: the wire stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {k: _public_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_public_floats(v) for v in value]
    return value


def restore_floats(value: Any) -> Any:
    """Inverse of the encoding above."""
    if isinstance(value, dict):
        if len(value) == 1 and value.get("float") in ("nan", "inf", "-inf"):
            return float(value["float"])
        return {k: restore_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_floats(v) for v in value]
    return value


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as one line of strict JSON."""
    return (
        json.dumps(_public_floats(dict(message)), separators=(",", ":"), allow_nan=False) + "\n"
    ).encode("utf-8")


def decode_response(line: bytes) -> dict[str, Any]:
    message = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise ValueError("not a curator response")
    restored: dict[str, Any] = restore_floats(message)
    return restored


def ok(request_id: str | None, result: Any) -> dict[str, Any]:
    return {"v": VERSION, "id": request_id, "ok": True, "result": result}


def error(request_id: str | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "v": VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": code, "message": message, **extra},
    }


def refusal_payload(exc: PrivacyError) -> dict[str, Any]:
    """A refusal as data, so the client raises the same class with the same message."""
    return {
        "code": exc.code,
        "message": str(exc),
        "operation": exc.operation,
        "source": exc.source,
        "reason": exc.reason,
        "details": [list(d) for d in exc.details],
        "fixes": list(exc.fixes),
    }
