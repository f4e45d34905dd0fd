"""Column expressions: a small frozen tree of public metadata, never data.

An ``Expr`` is ``(op, args)`` where args are sub-expressions or JSON scalars. The same tree is
hashed for the release cache, printed in lineage, and compiled to polars by the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Scalar = int | float | str | bool | None

BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/"}
COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LOGICAL = {"and": "&", "or": "|"}
DTYPES = ("int", "float", "str", "bool")
#: pandas, numpy and Python spellings of the four public kinds (``astype`` and ``dtypes=``).
DTYPE_ALIASES: dict[object, str] = {
    **dict.fromkeys(["int", "int64", "int32", "Int64", "Int32", int], "int"),
    **dict.fromkeys(["float", "float64", "float32", "Float64", float], "float"),
    **dict.fromkeys(["str", "string", "object", "category", str], "str"),
    **dict.fromkeys(["bool", "boolean", bool], "bool"),
}


def dtype_name(value: object) -> str | None:
    """The public kind a dtype spelling names, or None."""
    try:
        return DTYPE_ALIASES.get(value)
    except TypeError:  # unhashable
        return None


OPS = frozenset(
    [
        "col",
        "lit",
        "neg",
        "not",
        "isin",
        "isna",
        "notna",
        "clip",
        "fillna",
        "cast",
        "cut",
        "abs",
        *list(BINARY),
        *list(COMPARE),
        *list(LOGICAL),
    ]
)


@dataclass(frozen=True)
class Expr:
    """One node of a column expression."""

    op: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown expression op {self.op!r}")

    # --- constructors -------------------------------------------------------------------------
    @staticmethod
    def col(name: str) -> Expr:
        return Expr("col", (name,))

    @staticmethod
    def lit(value: Scalar) -> Expr:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("a constant in an expression must be finite")
        return Expr("lit", (value,))

    # --- serialisation ------------------------------------------------------------------------
    def to_json(self) -> list[Any]:
        return [self.op, *[_arg_to_json(a) for a in self.args]]

    @staticmethod
    def from_json(data: list[Any]) -> Expr:
        op, *args = data
        return Expr(op, tuple(_arg_from_json(op, a) for a in args))

    # --- reading ------------------------------------------------------------------------------
    def columns(self) -> frozenset[str]:
        """Every column the expression reads."""
        if self.op == "col":
            return frozenset([self.args[0]])
        found: frozenset[str] = frozenset()
        for a in self.args:
            if isinstance(a, Expr):
                found |= a.columns()
        return found

    def describe(self, prefix: str = "") -> str:
        """Readable, pandas-like text for lineage and refusals (columns as ``prefix.name``)."""
        op, a = self.op, self.args
        if op == "col":
            name = str(a[0])
            if not prefix:
                return name
            return f"{prefix}.{name}" if name.isidentifier() else f"{prefix}[{name!r}]"
        if op == "lit":
            return repr(a[0])
        if op in BINARY or op in COMPARE or op in LOGICAL:
            sym = BINARY.get(op) or COMPARE.get(op) or LOGICAL[op]
            return f"({a[0].describe(prefix)} {sym} {a[1].describe(prefix)})"
        if op == "neg":
            return f"-{a[0].describe(prefix)}"
        if op == "not":
            return f"~{a[0].describe(prefix)}"
        if op == "abs":
            return f"abs({a[0].describe(prefix)})"
        if op == "isin":
            return f"{a[0].describe(prefix)}.isin({list(a[1])!r})"
        if op in ("isna", "notna"):
            return f"{a[0].describe(prefix)}.{op}()"
        if op == "clip":
            return f"{a[0].describe(prefix)}.clip({a[1]!r}, {a[2]!r})"
        if op == "fillna":
            return f"{a[0].describe(prefix)}.fillna({a[1]!r})"
        if op == "cast":
            return f"{a[0].describe(prefix)}.astype({a[1]!r})"
        return f"cut({a[0].describe(prefix)}, {list(a[1])!r})"


def _arg_to_json(arg: Any) -> Any:
    if isinstance(arg, Expr):
        return {"expr": arg.to_json()}
    if isinstance(arg, tuple):
        return list(arg)
    return arg


def _arg_from_json(op: str, arg: Any) -> Any:
    if isinstance(arg, dict) and "expr" in arg:
        return Expr.from_json(arg["expr"])
    if isinstance(arg, list):
        return tuple(arg)
    return arg
