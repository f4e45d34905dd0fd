"""Public schema: column kinds, bounds and keys, and how row-wise steps change them.

Everything here is computed from the registration (schema, declared bounds and keys) and the
user's code, never from data, so every refusal it raises is data-independent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from jupyter_privacy.core.errors import InvalidArgumentError, UnsupportedOperationError
from jupyter_privacy.core.expr import BINARY, COMPARE, LOGICAL, Expr, Scalar
from jupyter_privacy.core.plan import Step

Kind = Literal["int", "float", "str", "bool", "other"]
NUMERIC = ("int", "float")
BOOL_KEYS: tuple[Scalar, ...] = (False, True)


@dataclass(frozen=True)
class ColumnInfo:
    """What is public about one column."""

    kind: Kind
    bounds: tuple[float, float] | None = None
    keys: tuple[Scalar, ...] | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bounds": list(self.bounds) if self.bounds else None,
            "keys": list(self.keys) if self.keys is not None else None,
        }


Schema = Mapping[str, ColumnInfo]


def check_bounds(column: str, bounds: object, source: str) -> tuple[float, float]:
    """Validate one declared ``(lo, hi)`` pair."""
    fix = [f"bounds={{{column!r}: (0, 100)}}"]
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise InvalidArgumentError(
            "register", source, f"bounds for '{column}' must be a pair (lo, hi)", [], fix
        )
    lo, hi = bounds
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi))
    if not numbers or not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(
            "register", source, f"bounds for '{column}' must be two finite numbers", [], fix
        )
    if lo > hi:
        raise InvalidArgumentError(
            "register",
            source,
            f"bounds for '{column}' are reversed",
            [("given", f"({lo!r}, {hi!r})")],
            [f"bounds={{{column!r}: ({hi!r}, {lo!r})}}"],
        )
    return (lo, hi)


def _unknown_column(name: str, schema: Schema, source: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"read column '{name}'",
        source,
        f"there is no column '{name}'",
        [("columns", ", ".join(sorted(schema)) or "(none)")],
        [f"{source}[{sorted(schema)[0]!r}]"] if schema else [],
    )


def _interval(
    op: str, a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float] | None:
    if op == "add":
        return (a[0] + b[0], a[1] + b[1])
    if op == "sub":
        return (a[0] - b[1], a[1] - b[0])
    if op == "mul":
        corners = [x * y for x in a for y in b]
        return (min(corners), max(corners))
    if b[0] <= 0 <= b[1]:
        return None  # division by an interval that contains 0 is unbounded
    corners = [x / y for x in a for y in b]
    return (min(corners), max(corners))


def infer(expr: Expr, schema: Schema, source: str) -> ColumnInfo:
    """The public ``ColumnInfo`` of an expression's result."""
    op, a = expr.op, expr.args
    if op == "col":
        if a[0] not in schema:
            raise _unknown_column(a[0], schema, source)
        return schema[a[0]]
    if op == "lit":
        v = a[0]
        if isinstance(v, bool):
            return ColumnInfo("bool", None, (v,))
        if isinstance(v, int | float):
            return ColumnInfo("int" if isinstance(v, int) else "float", (v, v), None)
        return ColumnInfo("str", None, (v,))
    if op in BINARY:
        left, right = infer(a[0], schema, source), infer(a[1], schema, source)
        if not (left.numeric and right.numeric):
            raise UnsupportedOperationError(
                f"compute {expr.describe()}",
                source,
                "arithmetic needs numeric columns",
                [("supported", "+ - * / between numeric columns and constants")],
            )
        bounds = _interval(op, left.bounds, right.bounds) if left.bounds and right.bounds else None
        kind: Kind = "int" if left.kind == right.kind == "int" and op != "truediv" else "float"
        return ColumnInfo(kind, bounds)
    if op in ("neg", "abs"):
        inner = infer(a[0], schema, source)
        if not inner.numeric:
            raise UnsupportedOperationError(
                f"compute {expr.describe()}", source, "this needs a numeric column"
            )
        if inner.bounds is None:
            return inner
        lo, hi = inner.bounds
        if op == "neg":
            return replace(inner, bounds=(-hi, -lo))
        return replace(inner, bounds=(0 if lo <= 0 <= hi else min(abs(lo), abs(hi)), max(-lo, hi)))
    if op in COMPARE or op in LOGICAL or op in ("not", "isin", "isna", "notna"):
        for sub in a:
            if isinstance(sub, Expr):
                infer(sub, schema, source)
        return ColumnInfo("bool", None, BOOL_KEYS)
    if op == "clip":
        inner = infer(a[0], schema, source)
        if not inner.numeric:
            raise UnsupportedOperationError(
                f"compute {expr.describe()}", source, "clip needs a numeric column"
            )
        return ColumnInfo(inner.kind, (a[1], a[2]))
    if op == "fillna":
        inner = infer(a[0], schema, source)
        v = a[1]
        if inner.bounds is not None and isinstance(v, int | float):
            return replace(inner, bounds=(min(inner.bounds[0], v), max(inner.bounds[1], v)))
        if inner.keys is not None:
            return replace(inner, keys=(*inner.keys, v) if v not in inner.keys else inner.keys)
        return inner
    if op == "cast":
        inner = infer(a[0], schema, source)
        target = a[1]
        if target == "int":
            b = inner.bounds
            return ColumnInfo("int", (math.floor(b[0]), math.ceil(b[1])) if b else None)
        if target == "float":
            return ColumnInfo("float", inner.bounds)
        if target == "bool":
            return ColumnInfo("bool", None, BOOL_KEYS)
        keys = tuple(str(k) for k in inner.keys) if inner.keys is not None else None
        return ColumnInfo("str", None, keys)
    # cut: public edges give public labels
    infer(a[0], schema, source)
    return ColumnInfo("str", None, tuple(a[2]))


def apply_steps(schema: Schema, steps: tuple[Step, ...], source: str) -> dict[str, ColumnInfo]:
    """The public schema after a sequence of row-wise steps; validates every step."""
    current = dict(schema)
    for step in steps:
        if step.kind == "filter" and step.expr is not None:
            info = infer(step.expr, current, source)
            if info.kind != "bool":
                raise InvalidArgumentError(
                    f"filter by {step.expr.describe()}",
                    source,
                    "a filter must be a boolean condition",
                    [],
                    [f"{source}[{source}.age >= 65]"],
                )
        elif step.kind == "assign" and step.expr is not None and step.name is not None:
            current[step.name] = infer(step.expr, current, source)
        else:
            for name in step.columns:
                if name not in current:
                    raise _unknown_column(name, current, source)
            current = {name: current[name] for name in step.columns}
    return current
