"""A source's public schema, built from what the user declared and never from a person's value.

Column kinds come from ``dtypes=`` first. A CSV file has no types of its own: without a declared
kind, a column with bounds is a float, a column with keys takes the kind of its keys, and any
other column is text, so no row can change the published schema. Parquet files and data frames
carry their types in their metadata and dtypes, which ``dtypes=`` may override. The privacy-unit
column is never a float (two ids above 2⁵³ would merge into one person).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import Scalar, dtype_name
from jupyter_privacy.core.schema import (
    BOOL_KEYS,
    ColumnInfo,
    Kind,
    check_bounds,
    fits_kind,
    is_number,
    keys_as,
)

PHYSICAL = ("int", "float", "str", "bool")


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
) -> tuple[dict[str, ColumnInfo], dict[str, tuple[float, float]], dict[str, tuple[Scalar, ...]]]:
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
    checked_keys: dict[str, tuple[Scalar, ...]] = {}
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
            checked_keys[col] = key_list
        elif kind == "bool":
            key_list = BOOL_KEYS
        schema[col] = ColumnInfo(kind, checked_bounds.get(col), key_list)
    return schema, checked_bounds, checked_keys
