"""The comm's one schema (``jupyter_privacy/jupyter/comm_schema.json``) against real messages,
the committed fixtures the TypeScript tests read too, and the ``TypedDict``s of ``comm_types``.

After a change to the wire format: change the schema and ``comm_types``, then rewrite the
fixtures with ``python -m tests.jupyter.comm_messages`` and regenerate the TypeScript types
with ``jlpm schema:types`` in ``labextension/``.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jupyter_privacy.jupyter import comm, comm_types
from jupyter_privacy.jupyter.comm_types import TYPED_DEFS, comm_schema
from tests.jupyter.comm_messages import (
    CASES,
    FIXTURES,
    INVALID,
    REQUESTS,
    invalid_messages,
    sample_messages,
)

SCHEMA = comm_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def errors(message: Any, definition: str | None = None) -> list[str]:
    """Why ``message`` is not a comm message (of ``definition``, a ``$defs`` name): [] if it is."""
    schema = SCHEMA if definition is None else {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in validator.iter_errors(message):
        error = _explain(error)
        found.append(f"{'.'.join(map(str, error.absolute_path))}: {error.message}")
    return found


def _explain(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Into a oneOf/anyOf: the branch whose ``type`` or ``kind`` matched, where it failed."""
    while error.context:
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for e in error.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        matched = [b for b in branches.values() if not any(map(_other_kind, b))]
        error = max((e for b in matched or branches.values() for e in b), key=_depth)
    return error


def _other_kind(error: jsonschema.ValidationError) -> bool:
    return error.validator in ("const", "enum") and list(error.path)[-1:] in (["type"], ["kind"])


def _depth(error: jsonschema.ValidationError) -> int:
    return max([len(error.absolute_path), *(_depth(e) for e in error.context or [])])


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return sample_messages(tmp_path_factory.mktemp("comm"))


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


# --- the schema ----------------------------------------------------------------------------------


def test_the_schema_is_draft_2020_12_and_names_the_kernels_version() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert DEFS["SchemaVersion"]["const"] == comm.SCHEMA
    assert typing.get_args(comm_types.SchemaVersion) == (comm.SCHEMA,)


def test_the_schema_ships_in_the_package() -> None:
    shipped = Path(comm.__file__).with_name(comm_types.SCHEMA_FILE)
    assert json.loads(shipped.read_text()) == SCHEMA


# --- real messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_every_kernel_message_is_valid(messages: dict[str, dict[str, Any]], name: str) -> None:
    message = messages[name]
    assert errors(message) == []
    kind = {"snapshot": "SnapshotMessage", "event": "EventMessage", "lineage": "LineageMessage"}
    assert errors(message, kind[message["type"]]) == []


def test_the_sample_holds_every_kind_of_release(messages: dict[str, dict[str, Any]]) -> None:
    assert list(messages) == list(CASES)
    release = {name: m["release"] for name, m in messages.items() if m["type"] == "event"}
    assert release["event_scalar"]["scalar"] and release["event_scalar"]["cells"][0]["ci"]
    assert not release["event_grouped"]["scalar"]
    assert [c["key"] for c in release["event_grouped"]["cells"]] == [
        ["CA"],
        ["NY"],
        ["TX"],
        ["WA"],
    ]
    assert {c["statistic"] for c in release["event_describe"]["cells"]} >= {"count", "mean", "std"}
    assert release["event_value_counts"]["cell_count"] == 4
    assert release["event_hist"]["cell_count"] == 8
    (quantile,) = release["event_quantile"]["cells"]
    assert quantile["ci"] is None and isinstance(quantile["rank_error"], float)
    odd = release["event_non_finite"]["cells"]
    assert [odd[0]["value"], odd[0]["ci"], odd[1]["value"], odd[1]["rank_error"]] == [
        None,
        [None, None],
        None,
        None,
    ]
    assert messages["event_replayed"]["event"]["replayed"] is True
    assert release["event_charge"] is None and release["event_source_registered"] is None
    zcdp = messages["event_zcdp"]["budget"][1]
    assert zcdp["mode"] == "zcdp" and zcdp["rho_spent"] > 0
    assert release["event_zcdp_unknown_keys"]["delta"] > 0
    # The refusal between them left no release: the snapshot holds each release made once.
    made = {r["id"] for r in release.values() if r is not None} - {"non-finite"}
    assert len(made) == 8
    assert {r["id"] for r in messages["snapshot"]["releases"]} == made
    replay = messages["snapshot_replay"]
    assert replay["mode"] == "replay" and replay["releases"][0]["published"] is True
    assert "context" not in messages["event_published"]["event"]  # a kernel without cells
    kinds = {n["kind"] for n in messages["lineage"]["lineage"]["nodes"]}
    assert kinds == {"source", "transform", "release"}
    ops = {n["op"] for n in messages["lineage"]["lineage"]["nodes"] if n["kind"] == "transform"}
    assert ops >= {"filter", "groupby", "assign"}


def test_the_frontends_requests_are_valid_and_answered(
    messages: dict[str, dict[str, Any]],
) -> None:
    for name, request in REQUESTS.items():
        assert errors(request) == [], name
        assert errors(request, "FrontendMessage") == [], name
    assert errors(REQUESTS["request_snapshot"], "KernelMessage")  # a direction is a direction


# --- invalid messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", INVALID)
def test_a_message_one_change_from_valid_is_rejected(
    messages: dict[str, dict[str, Any]], name: str
) -> None:
    base, _ = INVALID[name]
    valid = {**messages, **REQUESTS}
    assert errors(valid[base]) == []
    assert errors(invalid_messages(valid)[name]) != [], f"{name} passed the schema"


# --- the committed fixtures (read by labextension/test/commSchema.spec.ts too) ---------------------


def test_the_fixtures_are_one_per_case_and_all_valid() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(CASES) | set(REQUESTS), (
        "rewrite them: python -m tests.jupyter.comm_messages"
    )
    for name in sorted(names):
        assert errors(_fixture(name)) == [], name


def test_the_invalid_fixtures_are_one_per_change_and_all_rejected() -> None:
    names = {p.stem for p in (FIXTURES / "invalid").glob("*.json")}
    assert names == set(INVALID), "rewrite them: python -m tests.jupyter.comm_messages"
    for name in sorted(names):
        assert errors(_fixture(f"invalid/{name}")) != [], name


# --- the TypedDicts ------------------------------------------------------------------------------


def _object_defs() -> dict[str, dict[str, Any]]:
    return {name: d for name, d in DEFS.items() if d.get("type") == "object" and "properties" in d}


def test_each_object_of_the_schema_has_a_typeddict_with_its_keys() -> None:
    assert set(TYPED_DEFS) == set(_object_defs())
    for name, definition in _object_defs().items():
        typed = TYPED_DEFS[name]
        properties = set(definition["properties"])
        assert set(typing.get_type_hints(typed)) == properties, name
        assert typed.__required_keys__ == set(definition["required"]), name  # type: ignore[attr-defined]
        # Plan steps are open (their keys depend on the step); our own objects are closed.
        closed = definition.get("additionalProperties") is False
        assert closed == (name != "Step"), name


_JSON_TYPES = {str: "string", float: "number", int: "integer", bool: "boolean", type(None): "null"}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def _python_side(annotation: Any) -> tuple[set[str], set[Any]]:
    """The JSON types a Python annotation allows, and its literal values."""
    if annotation in _JSON_TYPES:
        return {_JSON_TYPES[annotation]}, set()
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = set(typing.get_args(annotation))
        return {_JSON_TYPES[type(v)] for v in values}, values
    if origin in (typing.Union, types.UnionType):
        kinds: set[str] = set()
        values: set[Any] = set()
        for member in typing.get_args(annotation):
            k, v = _python_side(member)
            kinds |= k
            values |= v
        return kinds, values
    if origin is list:
        return {"array"}, set()
    if origin is dict or typing.is_typeddict(annotation):
        return {"object"}, set()
    raise AssertionError(f"no JSON type for {annotation!r}")


def _schema_side(schema: dict[str, Any]) -> tuple[set[str], set[Any]]:
    """The JSON types a schema allows, and its ``const``/``enum`` values."""
    schema = _resolve(schema)
    if "const" in schema or "enum" in schema:
        values = {schema["const"]} if "const" in schema else set(schema["enum"])
        return {_JSON_TYPES[type(v)] for v in values}, values
    if "type" in schema:
        kinds = schema["type"]
        return set(kinds if isinstance(kinds, list) else [kinds]), set()
    kinds, values = set(), set()
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        k, v = _schema_side(member)
        kinds |= k
        values |= v
    return kinds, values


def test_each_typeddict_field_has_the_schemas_json_type_and_literals() -> None:
    for name, definition in _object_defs().items():
        hints = typing.get_type_hints(TYPED_DEFS[name])
        for key, subschema in definition["properties"].items():
            python_kinds, python_values = _python_side(hints[key])
            schema_kinds, schema_values = _schema_side(subschema)
            where = f"{name}.{key}"
            # JSON numbers include integers; an int field must not be a float in the schema.
            if "number" in python_kinds:
                python_kinds |= {"integer"}
                schema_kinds |= {"integer"} if "number" in schema_kinds else set()
            assert python_kinds == schema_kinds, where
            assert python_values == schema_values, where


def test_the_type_check_sees_a_drift() -> None:
    """The comparisons above fail when one side changes."""
    assert _python_side(str | None) != _schema_side({"type": ["number", "null"]})
    assert _python_side(typing.Literal["a", "b"]) != _schema_side({"enum": ["a", "c"]})
