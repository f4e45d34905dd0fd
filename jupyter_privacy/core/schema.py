"""Public schema: column kinds, bounds and keys, and how row-wise steps change them.

Every expression is typed here against the public schema before anything runs: each operator
declares its shape (sub-expressions and constants) and the kinds it accepts, casts come from a
fixed table of (from, to) pairs, and derived keys stay unique. Everything is computed from the
registration and the user's code, never from data, so every refusal raised here is
data-independent, and a plan that passes cannot fail at run time because of a value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from jupyter_privacy.core.errors import InvalidArgumentError, UnsupportedOperationError
from jupyter_privacy.core.expr import BINARY, COMPARE, DTYPES, LOGICAL, Expr, Scalar
from jupyter_privacy.core.limits import (
    BOUND_MAX,
    INT_MAX,
    MAX_CELLS,
    MAX_EXPR_NODES,
    MAX_STEPS,
    STRING_MAX,
)
from jupyter_privacy.core.plan import Step

Kind = Literal["int", "float", "str", "bool", "other", "null"]
NUMERIC = ("int", "float")
BOOL_KEYS: tuple[Scalar, ...] = (False, True)
MAX_EXPR_DEPTH = 64

_ORDERED = frozenset(["int", "float", "str"])
_EQUATABLE = _ORDERED | {"bool"}


@dataclass(frozen=True)
class ColumnInfo:
    """What is public about one column."""

    kind: Kind
    bounds: tuple[float, float] | None = None
    keys: tuple[Scalar, ...] | None = None
    #: False only where the registration declared the column ``not_null`` (its nulls are read
    #: as ``fill_value``) and for what keeps that true (clip, a same-kind cast, the column).
    nullable: bool = True

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bounds": list(self.bounds) if self.bounds else None,
            "keys": list(self.keys) if self.keys is not None else None,
            "nullable": self.nullable,
        }


def fill_value(info: ColumnInfo) -> Scalar:
    """What a null in a ``not_null`` column is read as: public, so one person's null moves any
    statistic no more than another value would. A number is 0, or the bound nearest to 0."""
    if info.kind == "bool":
        return False
    if info.kind == "str":
        return ""
    lo, hi = info.bounds if info.bounds is not None else (0, 0)
    zero = min(max(0, lo), hi)
    return math.ceil(zero) if info.kind == "int" else float(zero)


Schema = Mapping[str, ColumnInfo]


# --- constants ----------------------------------------------------------------------------------


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_bounds(column: str, bounds: object, source: str) -> tuple[float, float]:
    """Validate one declared ``(lo, hi)`` pair."""
    fix = [f"bounds={{{column!r}: (0, 100)}}"]
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise InvalidArgumentError(
            "register", source, f"bounds for '{column}' must be a pair (lo, hi)", [], fix
        )
    lo, hi = bounds
    if not all(is_number(v) for v in (lo, hi)) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(
            "register", source, f"bounds for '{column}' must be two finite numbers", [], fix
        )
    if max(abs(lo), abs(hi)) > BOUND_MAX:
        raise InvalidArgumentError(
            "register",
            source,
            f"bounds for '{column}' must lie within ±{BOUND_MAX:g}",
            [("given", f"({lo!r}, {hi!r})")],
            [f"rescale the column, e.g. bounds={{{column!r}: (0, 1e9)}} on thousands"],
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


def literal_kind(value: object) -> Kind | None:
    """The kind of a constant a plan may carry, or None when it may not carry it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if abs(value) <= INT_MAX else None
    if isinstance(value, float):
        return "float" if math.isfinite(value) else None
    if isinstance(value, str):
        return "str" if len(value) <= STRING_MAX else None
    return None


def fits_kind(value: object, kind: Kind) -> bool:
    """Whether a constant can stand beside a column of ``kind`` (comparisons, isin, fillna)."""
    lk = literal_kind(value)
    if kind in NUMERIC:
        return lk in NUMERIC
    return lk == kind


def unique_keys(keys: Iterable[Scalar]) -> tuple[Scalar, ...]:
    """Keys in first-seen order, each once (1 and 1.0 are one key, as in the data)."""
    out: dict[tuple[str, Scalar], Scalar] = {}
    for k in keys:
        tag = ("n", float(k)) if is_number(k) else (type(k).__name__, k)  # type: ignore[arg-type]
        out.setdefault(tag, k)
    return tuple(out.values())


def keys_as(kind: Kind, keys: Iterable[Scalar]) -> tuple[Scalar, ...]:
    """Declared keys in the column's kind (ints become floats in a float column), unique."""
    converted = [float(k) if kind == "float" else k for k in keys]  # type: ignore[arg-type]
    return unique_keys(converted)


# --- casts --------------------------------------------------------------------------------------

_INT64_FLOAT_LIMIT = 2.0**63


def _floor_int(value: Scalar) -> Scalar | None:
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v) or not -_INT64_FLOAT_LIMIT <= math.floor(v) < _INT64_FLOAT_LIMIT:
        return None  # the engine's non-strict cast makes it null
    return math.floor(v)


_BOOL_NAMES = {False: "false", True: "true"}

#: The allowed (from, to) casts and what each does to a public key; None: keys become unknown.
#: float → str is absent: a float's text form is the engine's, not Python's, so its keys could
#: not be predicted; str → bool is absent: the engine has no such cast.
CASTS: dict[tuple[str, str], Callable[[Scalar], Scalar | None] | None] = {
    ("int", "float"): float,  # type: ignore[dict-item]
    ("int", "str"): str,
    ("int", "bool"): bool,
    ("float", "int"): _floor_int,
    ("float", "bool"): bool,
    ("bool", "int"): int,  # type: ignore[dict-item]
    ("bool", "float"): float,  # type: ignore[dict-item]
    ("bool", "str"): lambda k: _BOOL_NAMES[bool(k)],
    ("str", "int"): None,
    ("str", "float"): None,
}


def cast_info(inner: ColumnInfo, target: str, expr: Expr, source: str) -> ColumnInfo:
    """The public ``ColumnInfo`` after ``astype(target)``, from the fixed table of casts."""
    if inner.kind == target:
        return inner
    if (inner.kind, target) not in CASTS:
        allowed = ", ".join(f"{a}→{b}" for a, b in CASTS)
        raise UnsupportedOperationError(
            f"compute {expr.describe()}",
            source,
            f"a {inner.kind} column cannot be cast to {target}",
            [("casts", allowed)],
            [".astype(int).astype(str)"] if (inner.kind, target) == ("float", "str") else [],
        )
    mapping = CASTS[(inner.kind, target)]
    kind: Kind = target  # type: ignore[assignment]
    if target == "bool":
        return ColumnInfo("bool", None, BOOL_KEYS)
    keys = None
    if mapping is not None and inner.keys is not None:
        mapped = [mapping(k) for k in inner.keys]
        keys = unique_keys(k for k in mapped if k is not None)
    bounds = None
    if inner.bounds is not None and target in NUMERIC:
        lo, hi = inner.bounds
        bounds = (math.floor(lo), math.floor(hi)) if target == "int" else (lo, hi)
    if inner.kind == "bool" and target in NUMERIC:
        bounds = (0, 1)
    return ColumnInfo(kind, bounds, keys)


# --- expressions ----------------------------------------------------------------------------------

#: Each operator's shape: (sub-expressions, constants).
SHAPES: dict[str, tuple[int, int]] = {
    "col": (0, 1),
    "lit": (0, 1),
    "neg": (1, 0),
    "abs": (1, 0),
    "not": (1, 0),
    "isna": (1, 0),
    "notna": (1, 0),
    "isin": (1, 1),
    "clip": (1, 2),
    "fillna": (1, 1),
    "cast": (1, 1),
    "cut": (1, 2),
    **dict.fromkeys([*BINARY, *COMPARE, *LOGICAL], (2, 0)),
}


def _malformed(source: str, reason: str) -> InvalidArgumentError:
    return InvalidArgumentError("read the plan", source, f"the plan is malformed: {reason}")


def check_tree(expr: object, source: str) -> None:
    """Shape, size and depth of an expression tree, before any part of it is read."""
    stack: list[tuple[object, int]] = [(expr, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Expr):
            raise _malformed(source, "an expression node is not an expression")
        nodes += 1
        if nodes > MAX_EXPR_NODES or depth > MAX_EXPR_DEPTH:
            raise InvalidArgumentError(
                "read the plan",
                source,
                "the expression is too large",
                [("limit", f"{MAX_EXPR_NODES} nodes, {MAX_EXPR_DEPTH} levels")],
            )
        n_expr, n_const = SHAPES[node.op]
        args = node.args
        if len(args) != n_expr + n_const:
            raise _malformed(source, f"'{node.op}' takes {n_expr + n_const} arguments")
        for i, a in enumerate(args):
            if (i < n_expr) != isinstance(a, Expr):
                raise _malformed(source, f"argument {i + 1} of '{node.op}' has the wrong type")
            if i < n_expr:
                stack.append((a, depth + 1))


def _refuse_kinds(expr: Expr, source: str, needs: str, got: Iterable[str]) -> Exception:
    return UnsupportedOperationError(
        f"compute {expr.describe()}",
        source,
        f"'{expr.op}' needs {needs}",
        [("given", ", ".join(got))],
    )


def _bad_constant(expr: Expr, source: str, reason: str, fix: str = "") -> Exception:
    return InvalidArgumentError(
        f"compute {expr.describe()}", source, reason, [], [fix] if fix else []
    )


def _interval(
    op: str, a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float] | None:
    """Interval arithmetic; None where the result is unbounded or beyond ``BOUND_MAX``."""
    if op == "add":
        out = (a[0] + b[0], a[1] + b[1])
    elif op == "sub":
        out = (a[0] - b[1], a[1] - b[0])
    elif op == "mul":
        corners = [x * y for x in a for y in b]
        out = (min(corners), max(corners))
    else:
        if b[0] <= 0 <= b[1]:
            return None  # division by an interval that contains 0 is unbounded
        corners = [x / y for x in a for y in b]
        out = (min(corners), max(corners))
    if not all(math.isfinite(v) and abs(v) <= BOUND_MAX for v in out):
        return None
    return out


def _unknown_column(name: object, schema: Schema, source: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"read column '{name}'",
        source,
        f"there is no column '{name}'",
        [("columns", ", ".join(sorted(schema)) or "(none)")],
        [f"{source}[{sorted(schema)[0]!r}]"] if schema else [],
    )


def _check_edges(expr: Expr, source: str, edges: object, labels: object) -> None:
    fix = ".cut([0, 18, 65, 120])"
    if not isinstance(edges, tuple) or not 2 <= len(edges) <= MAX_CELLS + 1:
        raise _bad_constant(expr, source, f"cut needs 2 to {MAX_CELLS + 1} edges", fix)
    if not all(is_number(e) and math.isfinite(e) and abs(e) <= BOUND_MAX for e in edges):
        raise _bad_constant(
            expr, source, f"cut edges must be finite numbers within ±{BOUND_MAX:g}", fix
        )
    if any(float(a) >= float(b) for a, b in itertools.pairwise(edges)):
        raise _bad_constant(expr, source, "cut edges must be strictly increasing", fix)
    if (
        not isinstance(labels, tuple)
        or len(labels) != len(edges) - 1
        or not all(isinstance(s, str) and len(s) <= STRING_MAX for s in labels)
        or len(set(labels)) != len(labels)
    ):
        raise _bad_constant(expr, source, "cut needs one distinct text label per bin")


def infer(expr: Expr, schema: Schema, source: str) -> ColumnInfo:
    """The public ``ColumnInfo`` of an expression's result; refuses what could fail at run time."""
    check_tree(expr, source)
    return _infer(expr, schema, source)


def _signed_keys(op: str, inner: ColumnInfo) -> tuple[Scalar, ...] | None:
    """The public keys after ``neg`` or ``abs``, each mapped; None (unknown) where an int key
    would leave int64, whose negation the engine wraps."""
    if inner.keys is None:
        return None
    numbers = [float(k) if inner.kind == "float" else int(k) for k in inner.keys]  # type: ignore[arg-type]
    mapped = [-k if op == "neg" else abs(k) for k in numbers]
    if inner.kind == "int" and not all(-INT_MAX - 1 <= k <= INT_MAX for k in mapped):
        return None
    return unique_keys(mapped)


def _infer(expr: Expr, schema: Schema, source: str) -> ColumnInfo:
    op, a = expr.op, expr.args
    if op == "col":
        if not isinstance(a[0], str) or a[0] not in schema:
            raise _unknown_column(a[0], schema, source)
        return schema[a[0]]
    if op == "lit":
        v = a[0]
        kind = literal_kind(v)
        if kind is None:
            raise _bad_constant(
                expr,
                source,
                f"a constant must be None, a bool, an int64, a finite float or a text of at "
                f"most {STRING_MAX} characters",
            )
        if kind in NUMERIC:
            return ColumnInfo(kind, (v, v) if abs(v) <= BOUND_MAX else None)
        return ColumnInfo(kind, None, None if kind == "null" else (v,))
    subs = [_infer(x, schema, source) for x in a if isinstance(x, Expr)]
    kinds = [s.kind for s in subs]
    if op in BINARY:
        if not all(k in NUMERIC for k in kinds):
            raise _refuse_kinds(expr, source, "two numbers", kinds)
        left, right = subs
        bounds = _interval(op, left.bounds, right.bounds) if left.bounds and right.bounds else None
        return ColumnInfo("float", bounds)  # arithmetic runs in float64; non-finite -> null
    if op in COMPARE:
        left_k, right_k = kinds
        ordered = op in ("lt", "le", "gt", "ge")
        allowed = _ORDERED if ordered else _EQUATABLE
        same = (left_k in NUMERIC and right_k in NUMERIC) or left_k == right_k
        if not (same and left_k in allowed and right_k in allowed):
            needs = "two numbers or two texts" if ordered else "two values of the same kind"
            fix = ".isna()" if "null" in kinds else ""
            raise UnsupportedOperationError(
                f"compute {expr.describe()}",
                source,
                f"'{COMPARE[op]}' needs {needs}",
                [("given", ", ".join(kinds))],
                [fix] if fix else [],
            )
        return ColumnInfo("bool", None, BOOL_KEYS)
    if op in LOGICAL or op == "not":
        if not all(k == "bool" for k in kinds):
            raise _refuse_kinds(expr, source, "boolean conditions", kinds)
        return ColumnInfo("bool", None, BOOL_KEYS)
    if op in ("isna", "notna"):
        return ColumnInfo("bool", None, BOOL_KEYS)
    inner = subs[0]
    if op in ("neg", "abs"):
        if not inner.numeric:
            raise _refuse_kinds(expr, source, "a number", kinds)
        keys = _signed_keys(op, inner)
        if inner.bounds is None:
            return ColumnInfo(inner.kind, None, keys, nullable=inner.nullable)
        lo, hi = inner.bounds
        if op == "neg":
            return ColumnInfo(inner.kind, (-hi, -lo), keys, nullable=inner.nullable)
        low = 0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
        return ColumnInfo(inner.kind, (low, max(-lo, hi)), keys, nullable=inner.nullable)
    if op == "isin":
        values = a[1]
        if inner.kind not in _EQUATABLE:
            raise _refuse_kinds(expr, source, "numbers, texts or booleans", kinds)
        if not isinstance(values, tuple) or len(values) > MAX_CELLS:
            raise _bad_constant(expr, source, f"isin needs a list of at most {MAX_CELLS} values")
        if not all(fits_kind(v, inner.kind) for v in values):
            raise _bad_constant(
                expr,
                source,
                f"isin values must be constants of the column's kind ({inner.kind})",
                ".isna()" if None in values else "",
            )
        return ColumnInfo("bool", None, BOOL_KEYS)
    if op == "clip":
        lo, hi = a[1], a[2]
        if not inner.numeric:
            raise _refuse_kinds(expr, source, "a number", kinds)
        if not all(is_number(v) and math.isfinite(v) and abs(v) <= BOUND_MAX for v in (lo, hi)):
            raise _bad_constant(
                expr,
                source,
                f"clip bounds must be finite numbers within ±{BOUND_MAX:g}",
                ".clip(0, 100)",
            )
        if lo > hi:
            raise _bad_constant(expr, source, "clip bounds are reversed", f".clip({hi!r}, {lo!r})")
        whole = inner.kind == "int" and isinstance(lo, int) and isinstance(hi, int)
        return ColumnInfo("int" if whole else "float", (lo, hi), nullable=inner.nullable)
    if op == "fillna":
        v = a[1]
        if inner.kind not in _EQUATABLE or v is None or not fits_kind(v, inner.kind):
            raise _bad_constant(
                expr,
                source,
                f"fillna needs a constant of the column's kind ({inner.kind})",
                ".fillna(0)" if inner.numeric else ".fillna('missing')",
            )
        filled: Kind = "float" if inner.kind == "int" and isinstance(v, float) else inner.kind
        bounds = inner.bounds
        if bounds is not None:
            bounds = (min(bounds[0], v), max(bounds[1], v))
            if max(abs(bounds[0]), abs(bounds[1])) > BOUND_MAX:
                bounds = None
        keys = keys_as(filled, (*inner.keys, v)) if inner.keys is not None else None
        return ColumnInfo(filled, bounds, keys)
    if op == "cast":
        if a[1] not in DTYPES:
            raise _bad_constant(expr, source, f"astype takes one of {', '.join(DTYPES)}")
        return cast_info(inner, a[1], expr, source)
    # cut: public edges give public labels
    if not inner.numeric:
        raise _refuse_kinds(expr, source, "a number", kinds)
    _check_edges(expr, source, a[1], a[2])
    return ColumnInfo("str", None, tuple(a[2]))


def apply_steps(schema: Schema, steps: tuple[Step, ...], source: str) -> dict[str, ColumnInfo]:
    """The public schema after a sequence of row-wise steps; validates every step."""
    if len(steps) > MAX_STEPS:
        raise InvalidArgumentError(
            "read the plan", source, "the plan has too many steps", [("limit", str(MAX_STEPS))]
        )
    current = dict(schema)
    for step in steps:
        if step.kind == "filter":
            info = infer(_expr_of(step, source), current, source)
            if info.kind != "bool":
                raise InvalidArgumentError(
                    f"filter by {step.expr.describe()}",  # type: ignore[union-attr]
                    source,
                    "a filter must be a boolean condition",
                    [],
                    [f"{source}[{source}.age >= 65]"],
                )
        elif step.kind == "assign":
            name = step.name
            if not isinstance(name, str) or not 0 < len(name) <= 256 or name.startswith("__"):
                raise InvalidArgumentError(
                    "assign a column",
                    source,
                    "a new column needs a name of 1 to 256 characters not starting with '__'",
                    [("given", repr(name)[:80])],
                    [f"{source}.assign(ratio={source}.a / {source}.b)"],
                )
            current[name] = infer(_expr_of(step, source), current, source)
        elif step.kind == "select":
            cols = step.columns
            if not cols or len(set(cols)) != len(cols):
                raise InvalidArgumentError(
                    "select columns", source, "a selection needs distinct column names"
                )
            for name in cols:
                if name not in current:
                    raise _unknown_column(name, current, source)
            current = {name: current[name] for name in cols}
        else:
            raise _malformed(source, f"unknown step kind {step.kind!r}")
    return current


def _expr_of(step: Step, source: str) -> Expr:
    if not isinstance(step.expr, Expr):
        raise _malformed(source, f"a {step.kind} step needs an expression")
    return step.expr
