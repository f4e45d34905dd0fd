"""A source's public schema, built from what the user declared and never from a person's value.

Column kinds come from ``dtypes=`` first. A CSV file has no types of its own: without a declared
kind, a column with bounds is a float, a column with keys takes the kind of its keys, and any
other column is text, so no row can change the published schema. Parquet files and data frames
carry their types in their metadata and dtypes, which ``dtypes=`` may override. The privacy-unit
column is never a float (two ids above 2⁵³ would merge into one person).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_privacy.core import engine
from jupyter_privacy.core.auto_bounds import AUTO
from jupyter_privacy.core.auto_bounds import default_epsilon as default_bounds_epsilon
from jupyter_privacy.core.budget import Budget, check_parameter
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import Scalar, dtype_name
from jupyter_privacy.core.limits import EPSILON_MAX, EPSILON_MIN
from jupyter_privacy.core.pricing import check_alpha
from jupyter_privacy.core.schema import (
    BOOL_KEYS,
    ColumnInfo,
    Kind,
    check_bounds,
    fits_kind,
    is_number,
    keys_as,
)
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON, SourceSpec

PHYSICAL = ("int", "float", "str", "bool")


@dataclass(frozen=True)
class SourceDeclaration:
    """How a source is declared, by every entry point: ``jp.register``'s arguments, a
    ``[sources.NAME]`` table of ``privacy.toml``, ``%privacy register``'s options, and the public
    description a manifest or a curator sends (then ``dtypes`` names every column's kind)."""

    name: str | None = None
    budget: Budget | None = None
    privacy_unit: str | None = None
    max_rows_per_unit: int = 1
    #: ``(lo, hi)`` or ``"auto"`` per column, or ``"auto"`` for every numeric column.
    bounds: Mapping[str, Sequence[float] | str] | str = field(default_factory=dict)
    keys: Mapping[str, Sequence[Scalar]] = field(default_factory=dict)
    dtypes: Mapping[str, Any] = field(default_factory=dict)
    default_epsilon: float = DEFAULT_EPSILON
    alpha: float = DEFAULT_ALPHA
    #: The ε of each automatic bounds release; None: ``auto_bounds.default_epsilon``.
    bounds_epsilon: float | None = None
    #: Columns that never hold a null: a null found there is read as ``schema.fill_value``.
    not_null: Sequence[str] = ()

    @staticmethod
    def from_description(described: Mapping[str, Any]) -> SourceDeclaration:
        """The declaration behind a source's public description (``SourceSpec.describe``)."""
        columns: Mapping[str, Any] = described["columns"]
        b = described["budget"]
        return SourceDeclaration(
            name=described["name"],
            budget=Budget(b["epsilon"], b["delta"]),
            privacy_unit=described["privacy_unit"],
            max_rows_per_unit=described["max_rows_per_unit"],
            bounds={
                **{c: tuple(i["bounds"]) for c, i in columns.items() if i["bounds"]},
                **dict.fromkeys(described.get("auto_bounds", ()), AUTO),
            },
            keys={
                c: tuple(i["keys"])
                for c, i in columns.items()
                if i["keys"] is not None and i["kind"] != "bool"
            },
            dtypes={c: i["kind"] for c, i in columns.items()},
            default_epsilon=described.get("default_epsilon", DEFAULT_EPSILON),
            alpha=described.get("alpha", DEFAULT_ALPHA),
            bounds_epsilon=described.get("bounds_epsilon"),
            not_null=tuple(c for c, i in columns.items() if i.get("nullable", True) is False),
        )


def declare(data: Any, declared: SourceDeclaration) -> SourceSpec:
    """Check a declaration and read the data's column types (never its values): the spec.

    ``data=None`` builds the public half of a source from a full description (a reviewer's
    manifest, a curator's source list): every column's kind is declared.
    """
    if data is None:
        handle, origin, label = None, "manifest", None
    else:
        handle, origin, label = engine.normalise_source(data)
    name = declared.name if declared.name is not None else label
    if not isinstance(name, str) or not name.isidentifier():
        raise PolicyError(
            "register",
            str(name),
            "a source name must be a Python identifier",
            [("given", repr(name))],
            ["jp.register(..., name='patients')"],
        )
    budget = declared.budget
    if not isinstance(budget, Budget):
        raise PolicyError(
            "register",
            name,
            "a budget is required",
            [("given", repr(budget))],
            ["budget=jp.Budget(epsilon=1.0)", "budget=jp.Budget(epsilon=1.0, delta=1e-6)"],
        )
    check_parameter(
        "epsilon",
        declared.default_epsilon,
        source=name,
        operation="register",
        low=EPSILON_MIN,
        high=EPSILON_MAX,
    )
    check_alpha(declared.alpha, name, "register")
    rows = declared.max_rows_per_unit
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise PolicyError(
            "register",
            name,
            "max_rows_per_unit must be a positive integer",
            [("given", repr(rows))],
            ["max_rows_per_unit=1"],
        )
    bounds, auto, auto_all = split_bounds(declared.bounds, name)
    bounds_epsilon = (
        default_bounds_epsilon(declared.default_epsilon)
        if declared.bounds_epsilon is None
        else declared.bounds_epsilon
    )
    check_parameter(
        "bounds_epsilon",
        bounds_epsilon,
        source=name,
        operation="register",
        low=EPSILON_MIN,
        high=EPSILON_MAX,
    )
    kinds_declared = check_dtypes(declared.dtypes, name)
    key_lists = {c: check_keys(c, k, name) for c, k in dict(declared.keys or {}).items()}
    kinds = (
        kinds_declared
        if handle is None
        else engine.column_kinds(
            handle, kinds_declared, implied_kinds({**bounds, **dict.fromkeys(auto)}, key_lists)
        )
    )
    unit = declared.privacy_unit
    check_columns(name, kinds, unit, {**bounds, **dict.fromkeys(auto)}, key_lists, kinds_declared)
    schema = build_schema(name, kinds, unit, bounds, key_lists)
    auto = check_auto(name, schema, unit, auto)
    schema = declare_not_null(name, schema, unit, declared.not_null)
    if auto_all:
        auto = tuple(c for c, i in schema.items() if i.numeric and i.bounds is None and c != unit)
        if not auto:  # e.g. a CSV whose columns are all text until dtypes= says otherwise
            raise PolicyError(
                "register",
                name,
                "bounds='auto' found no int or float column without bounds",
                [("columns", ", ".join(f"{c}: {i.kind}" for c, i in schema.items()))],
                ["dtypes={'income': 'float'}", "bounds={'income': 'auto'}"],
            )
    return SourceSpec(
        name=name,
        data=handle,
        schema=schema,
        budget=budget,
        privacy_unit=unit,
        max_rows_per_unit=rows,
        default_epsilon=float(declared.default_epsilon),
        alpha=float(declared.alpha),
        origin=origin,
        auto_bounds=auto,
        bounds_epsilon=float(bounds_epsilon),
    )


def split_bounds(bounds: object, source: str) -> tuple[dict[str, object], tuple[str, ...], bool]:
    """(declared pairs, columns declared ``"auto"``, whether the whole source is ``"auto"``)."""
    fix = ["bounds={'age': (0, 110), 'income': 'auto'}", "bounds='auto'"]
    if isinstance(bounds, str):
        if bounds != AUTO:
            raise PolicyError(
                "register",
                source,
                "bounds must map columns to (low, high) or 'auto', or be 'auto'",
                [("given", repr(bounds)[:80])],
                fix,
            )
        return {}, (), True
    if bounds is None:
        return {}, (), False
    if not isinstance(bounds, Mapping):
        raise PolicyError(
            "register",
            source,
            "bounds must map columns to (low, high) or 'auto', or be 'auto'",
            [("given", type(bounds).__name__)],
            fix,
        )
    pairs: dict[str, object] = {}
    auto: list[str] = []
    for col, value in bounds.items():
        if isinstance(value, str):
            if value != AUTO:
                raise PolicyError(
                    "register",
                    source,
                    f"bounds for '{col}' must be a pair (low, high) or 'auto'",
                    [("given", repr(value)[:80])],
                    [f"bounds={{{col!r}: 'auto'}}", f"bounds={{{col!r}: (0, 100)}}"],
                )
            auto.append(str(col))
        else:
            pairs[str(col)] = value
    return pairs, tuple(auto), False


def check_auto(
    name: str, schema: Mapping[str, ColumnInfo], unit: str | None, auto: tuple[str, ...]
) -> tuple[str, ...]:
    """Auto bounds only for numeric columns that are not the privacy unit."""
    for col in auto:
        if col == unit:
            raise PolicyError(
                "register",
                name,
                f"the privacy unit '{unit}' names people; it cannot have bounds",
                [],
                [f"bounds={{...}}  # without {unit!r}"],
            )
        kind = schema[col].kind
        if not schema[col].numeric:
            raise PolicyError(
                "register",
                name,
                f"bounds='auto' was given for '{col}', which is {kind}",
                [("column", f"{col}: {kind}")],
                [f"dtypes={{{col!r}: 'float'}}", f"keys={{{col!r}: [...]}}"],
            )
    return tuple(c for c in schema if c in auto)


def declare_not_null(
    source: str, schema: Mapping[str, ColumnInfo], unit: str | None, not_null: object
) -> dict[str, ColumnInfo]:
    """The schema with ``not_null`` columns marked so (the privacy unit's nulls are dropped,
    never filled: it cannot be one)."""
    fix = ["not_null=['age', 'income']"]
    if isinstance(not_null, str | bytes) or not isinstance(not_null, Sequence):
        raise PolicyError("register", source, "not_null must be a list of column names", [], fix)
    unknown = [i for i, col in enumerate(not_null) if not isinstance(col, str) or col not in schema]
    if unknown:
        # never an entry, nor how many there are: a column's values passed by mistake would
        # show, or its row count; a list no longer than the columns is a list of names
        short = len(not_null) <= len(schema)
        near = {
            m
            for i in unknown
            if short and isinstance(not_null[i], str)
            for m in difflib.get_close_matches(not_null[i], list(schema), n=1)
        }
        where = [("at positions", ", ".join(str(i) for i in unknown))] if short else []
        raise PolicyError(
            "register",
            source,
            "not_null names something that is not a column"
            + ("" if short else " (more entries than the source has columns: values?)"),
            [*where, ("columns", ", ".join(schema))],
            [f"not_null=[{', '.join(repr(m) for m in sorted(near))}]"] if near else fix,
        )
    for col in not_null:
        if col == unit:
            raise PolicyError(
                "register",
                source,
                f"the privacy unit '{unit}' cannot be not_null: rows without one are dropped",
                [],
                [f"not_null=[...]  # without {unit!r}"],
            )
        if schema[col].kind not in PHYSICAL:
            raise PolicyError(
                "register",
                source,
                f"not_null was given for '{col}', which is {schema[col].kind}",
                [("column", f"{col}: {schema[col].kind}")],
                [f"dtypes={{{col!r}: 'float'}}"],
            )
    return {c: replace(i, nullable=False) if c in not_null else i for c, i in schema.items()}


def check_dtypes(dtypes: object, source: str) -> dict[str, Kind]:
    """``dtypes={'zip': 'str', 'visits': 'int'}`` as public kinds."""
    if dtypes is None:
        return {}
    if not isinstance(dtypes, Mapping):
        raise PolicyError(
            "register",
            source,
            "dtypes must map column names to kinds",
            [],
            ["dtypes={'visits': 'int'}"],
        )
    out: dict[str, Kind] = {}
    for col, value in dtypes.items():
        kind = dtype_name(value)
        if kind is None:
            raise PolicyError(
                "register",
                source,
                f"dtypes for '{col}' must be one of int, float, str, bool",
                [("given", repr(value)[:80])],
                [f"dtypes={{{col!r}: 'int'}}"],
            )
        out[str(col)] = kind  # type: ignore[assignment]
    return out


def check_keys(column: str, keys: object, source: str) -> tuple[Scalar, ...]:
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence) or len(keys) == 0:
        raise PolicyError(
            "register",
            source,
            f"keys for '{column}' must be a non-empty list",
            [],
            [f"keys={{{column!r}: ['A', 'B']}}"],
        )
    values = tuple(keys)
    if not all(
        isinstance(k, str | bool) or (is_number(k) and fits_kind(k, "float")) for k in values
    ):
        raise PolicyError(
            "register",
            source,
            f"keys for '{column}' must be texts, booleans or finite numbers",
            [],
            [f"keys={{{column!r}: ['A', 'B']}}"],
        )
    if len(set(values)) != len(values):
        raise PolicyError(
            "register",
            source,
            f"keys for '{column}' contain duplicates",
            [("count", str(len(values)))],
        )
    return values


def kind_of_keys(keys: tuple[Scalar, ...]) -> Kind | None:
    if all(isinstance(k, bool) for k in keys):
        return "bool"
    if all(isinstance(k, str) for k in keys):
        return "str"
    if all(is_number(k) for k in keys):
        return "int" if all(isinstance(k, int) for k in keys) else "float"
    return None


def implied_kinds(
    bounds: Mapping[str, Any], keys: Mapping[str, tuple[Scalar, ...]]
) -> dict[str, Kind]:
    """What a CSV column is without a declared dtype: bounded → float, keyed → the keys' kind."""
    out: dict[str, Kind] = {}
    for col, k in keys.items():
        kind = kind_of_keys(k)
        if kind is not None:
            out[col] = kind
    for col in bounds:
        out[col] = "float"
    return out


def check_columns(
    name: str,
    kinds: Mapping[str, str],
    unit: str | None,
    bounds: Mapping[str, Any],
    keys: Mapping[str, Any],
    dtypes: Mapping[str, Any],
) -> None:
    cols = list(kinds)
    if len(set(cols)) != len(cols) or not cols:
        raise PolicyError(
            "register",
            name,
            "the data must have uniquely named columns",
            [("columns", str(len(cols)))],
        )
    reserved = [c for c in cols if c.startswith("__")]
    if reserved:
        raise PolicyError(
            "register",
            name,
            f"column '{reserved[0]}' starts with '__', which names the workbench's own columns",
            [],
            [f"df.rename(columns={{{reserved[0]!r}: {reserved[0].lstrip('_')!r}}})"],
        )
    for role, wanted in (
        ("privacy_unit", [unit] if unit else []),
        ("bounds", list(bounds)),
        ("keys", list(keys)),
        ("dtypes", list(dtypes)),
    ):
        for col in wanted:
            if col not in kinds:
                raise PolicyError(
                    "register",
                    name,
                    f"{role} names '{col}', which is not a column",
                    [("columns", ", ".join(cols))],
                )


def build_schema(
    name: str,
    kinds: Mapping[str, Kind],
    unit: str | None,
    bounds: Mapping[str, object],
    keys: Mapping[str, tuple[Scalar, ...]],
) -> dict[str, ColumnInfo]:
    """The public schema, with bounds and keys checked against each column's kind."""
    checked_bounds = {c: check_bounds(c, b, name) for c, b in bounds.items()}
    if unit is not None:
        if unit in checked_bounds:
            raise PolicyError(
                "register",
                name,
                f"the privacy unit '{unit}' names people; it cannot have bounds",
                [],
                [f"dtypes={{{unit!r}: 'str'}}"],
            )
        if kinds[unit] not in ("int", "str"):
            raise PolicyError(
                "register",
                name,
                f"the privacy unit '{unit}' must be an int or str column, not {kinds[unit]}",
                [("why", "ids read as floats merge above 2**53")],
                [f"dtypes={{{unit!r}: 'str'}}", f"df[{unit!r}].astype('Int64')"],
            )
    schema: dict[str, ColumnInfo] = {}
    for col, kind in kinds.items():
        if col in checked_bounds and kind not in ("int", "float"):
            raise PolicyError(
                "register",
                name,
                f"bounds were given for '{col}', which is {kind}",
                [("column", f"{col}: {kind}")],
                [f"keys={{{col!r}: [...]}}"],
            )
        key_list = keys.get(col)
        if key_list is not None:
            if kind not in PHYSICAL or not all(fits_kind(k, kind) for k in key_list):
                raise PolicyError(
                    "register",
                    name,
                    f"keys for '{col}' must be of the column's kind ({kind})",
                    [("column", f"{col}: {kind}")],
                    [f"dtypes={{{col!r}: 'str'}}"],
                )
            key_list = keys_as(kind, key_list)
            if len(key_list) != len(keys[col]):
                raise PolicyError(
                    "register",
                    name,
                    f"keys for '{col}' contain duplicates",
                    [("count", str(len(keys[col])))],
                )
        elif kind == "bool":
            key_list = BOOL_KEYS
        schema[col] = ColumnInfo(kind, checked_bounds.get(col), key_list)
    return schema
