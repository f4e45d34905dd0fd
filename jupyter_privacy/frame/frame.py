"""SensitiveFrame: a pandas-shaped builder of data-free plans over a registered source."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, Literal, Unpack, overload

import pandas as pd

from jupyter_privacy.core.errors import InvalidArgumentError, UnsupportedOperationError
from jupyter_privacy.core.expr import Expr
from jupyter_privacy.core.plan import Step
from jupyter_privacy.core.pricing import BudgetState
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.schema import ColumnInfo, apply_steps
from jupyter_privacy.core.service import ReleaseService
from jupyter_privacy.frame.groupby import SensitiveGroupBy
from jupyter_privacy.frame.options import ReleaseOptions, release_method
from jupyter_privacy.frame.refusals import (
    FRAME_SUPPORTED,
    ROW_ACCESS,
    no_such_column,
    row_access,
    unsupported,
)
from jupyter_privacy.frame.runner import Result, run_query
from jupyter_privacy.frame.series import SensitiveSeries

_ATTRS = ("_ws", "_source", "_steps")


class SensitiveFrame:
    """Rows stay inside; what comes out is a plan, a schema, or a noisy release.

    Made by ``jp.register`` or ``jp.source``. Selecting, filtering and deriving only build a
    data-free plan, so they read nothing and cost nothing; only the release methods spend
    budget. Row access (``head``, ``iloc``, ``to_numpy``, iteration, ``len``) raises
    ``RowAccessError`` naming what to use instead.

    Example:
        >>> seniors = patients[patients.age >= 65]
        >>> seniors.income.mean(epsilon=0.2)
    """

    __slots__ = _ATTRS
    _ws: ReleaseService
    _source: str
    _steps: tuple[Step, ...]

    def __init__(self, ws: ReleaseService, source: str, steps: tuple[Step, ...] = ()) -> None:
        object.__setattr__(self, "_ws", ws)
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_steps", tuple(steps))

    # --- public metadata -----------------------------------------------------------------------
    def _schema(self) -> dict[str, ColumnInfo]:
        return apply_steps(self._ws.source(self._source).schema, self._steps, self._source)

    @property
    def name(self) -> str:
        return self._source

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @property
    def columns(self) -> list[str]:
        return list(self._schema())

    @property
    def dtypes(self) -> dict[str, str]:
        return {k: v.kind for k, v in self._schema().items()}

    @property
    def schema(self) -> dict[str, ColumnInfo]:
        return self._schema()

    @property
    def budget(self) -> BudgetState:
        return self._ws.budget_state(self._source)

    def __repr__(self) -> str:
        spec = self._ws.source(self._source)
        lines = [f"SensitiveFrame '{self._source}' ({spec.origin}); rows are not shown."]
        if self._steps:
            lines.append("  plan: " + "; ".join(s.describe() for s in self._steps))
        for col, info in self._schema().items():
            extra = f"  bounds {info.bounds}" if info.bounds else ""
            if col in spec.auto_bounds and not self._steps:
                extra += "  bounds auto (a charged release on first use)"
            if info.keys is not None:
                extra += f"  {len(info.keys)} public keys"
            unit = "  (privacy unit)" if col == spec.privacy_unit else ""
            lines.append(f"  {col:<20} {info.kind:<6}{extra}{unit}")
        lines.append(f"  budget: {self.budget!r}")
        return "\n".join(lines)

    def _check_same(self, other: SensitiveFrame, op: str) -> None:
        if other._source != self._source or other._steps != self._steps:
            raise UnsupportedOperationError(
                f"combine columns in {op}",
                self._source,
                "both sides must come from the same frame (same source and filters)",
                fixes=[f"{self._source}.assign(total={self._source}.a + {self._source}.b)"],
            )

    def _with(self, step: Step) -> SensitiveFrame:
        apply_steps(self._ws.source(self._source).schema, (*self._steps, step), self._source)
        return SensitiveFrame(self._ws, self._source, (*self._steps, step))

    # --- select / filter / derive ----------------------------------------------------------------
    @overload
    def __getitem__(self, key: str) -> SensitiveSeries: ...

    @overload
    def __getitem__(self, key: list[str] | SensitiveSeries) -> SensitiveFrame: ...

    def __getitem__(self, key: Any) -> Any:
        """``df['age']`` a column, ``df[['age', 'income']]`` a selection, ``df[df.age >= 65]`` a
        filter; anything else (``df[0]``, slices) would be row access and is refused."""
        if isinstance(key, str):
            if key not in self._schema():
                apply_steps(self._schema(), (Step("select", columns=(key,)),), self._source)
            return SensitiveSeries(self, Expr.col(key), key)
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            return self._with(Step("select", columns=tuple(key)))
        if isinstance(key, SensitiveSeries):
            self._check_same(key.frame, "a filter")
            return self._with(Step("filter", key.expr))
        raise row_access("iloc", self._source, self._source)

    def __getattr__(self, name: str) -> SensitiveSeries:
        """``df.age``: a column; anything else is refused with what to use instead."""
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._schema():
            return SensitiveSeries(self, Expr.col(name), name)
        if name in ROW_ACCESS:
            raise row_access(name, self._source, self._source)
        if name.startswith("_") or hasattr(pd.DataFrame, name):
            raise unsupported(f"DataFrame.{name}", self._source, FRAME_SUPPORTED)
        raise no_such_column(name, self._schema(), self._source)

    def __setitem__(self, name: str, value: Any) -> None:
        """``df['x'] = expr`` adds a derived column to this frame's plan."""
        new = self.assign(**{name: value})
        object.__setattr__(self, "_steps", new._steps)

    def __setattr__(self, name: str, value: Any) -> None:
        raise unsupported(f"setting attribute {name!r}", self._source, "df['new'] = df.a * 2")

    def assign(self, **columns: Any) -> SensitiveFrame:
        frame = self
        for name, value in columns.items():
            if isinstance(value, SensitiveSeries):
                self._check_same(value.frame, "assign") if frame is self else None
                expr = value.expr
            elif value is None or isinstance(value, int | float | str | bool):
                expr = Expr.lit(value)
            else:
                raise unsupported(
                    f"assign with {type(value).__name__}",
                    self._source,
                    "assign columns from expressions or constants",
                )
            frame = frame._with(Step("assign", expr, name))
        return frame

    def query(self, expression: str) -> SensitiveFrame:
        """``df.query("age >= 65 and state == 'CA'")`` — a filter from a restricted expression."""
        return self._with(Step("filter", parse_query(expression, self._schema(), self._source)))

    def filter(self, condition: SensitiveSeries) -> SensitiveFrame:
        return self[condition]

    def clip(self, lower: Any = None, upper: Any = None, **_: Any) -> SensitiveFrame:
        raise unsupported("DataFrame.clip", self._source, "clip a column: df.age.clip(0, 110)")

    def isna(self) -> SensitiveFrame:
        """Each column as 1 where it is missing, 0 elsewhere: ``df.isna().sum()`` counts the
        missing values of every column (noisy), ``df.isna().mean()`` gives their share."""
        frame = self
        for name in self._schema():
            missing = Expr("cast", (Expr("isna", (Expr.col(name),)), "int"))
            frame = frame._with(Step("assign", missing, name))
        return frame

    isnull = isna

    def notna(self) -> SensitiveFrame:
        """Each column as 1 where it has a value, 0 where it is missing."""
        frame = self
        for name in self._schema():
            present = Expr("cast", (Expr("notna", (Expr.col(name),)), "int"))
            frame = frame._with(Step("assign", present, name))
        return frame

    notnull = notna

    @release_method
    def value_counts(
        self, subset: str | Sequence[str] | None = None, **opts: Unpack[ReleaseOptions]
    ) -> ReleaseTable | Estimate:
        """Noisy counts per key of one column, or per combination of several columns.

        Args:
            subset: A column (like ``df.state.value_counts()``) or a list of columns (like
                ``df.groupby([...]).size()``). Required: counting every column's combinations
                would rarely have declared keys.

        Example:
            >>> patients.value_counts("state", epsilon=0.5)
        """
        if subset is None:
            raise unsupported(
                "DataFrame.value_counts() over every column",
                self._source,
                f"{self._source}.value_counts('COLUMN') or {self._source}.groupby([...]).size()",
            )
        names = [subset] if isinstance(subset, str) else list(subset)
        if len(names) == 1:
            return self[names[0]].value_counts(**opts)
        return self.groupby(names).size(**opts)

    def info(self) -> None:
        """Print the public schema: columns, kinds, bounds, keys and the budget (no data)."""
        print(repr(self))

    def groupby(self, by: str | Sequence[str], **_: Any) -> SensitiveGroupBy:
        keys = (by,) if isinstance(by, str) else tuple(by)
        schema = self._schema()
        for key in keys:
            if key not in schema:
                apply_steps(schema, (Step("select", columns=(key,)),), self._source)
        return SensitiveGroupBy(self, keys)

    # --- aggregates -----------------------------------------------------------------------------
    @overload
    def _agg(self, statistic: Literal["count"], opts: ReleaseOptions) -> Release | Estimate: ...

    @overload
    def _agg(
        self, statistic: Literal["describe", "mean", "sum"], opts: ReleaseOptions
    ) -> ReleaseTable | Estimate: ...

    def _agg(self, statistic: str, opts: ReleaseOptions) -> Result:
        return run_query(self._ws, self._source, self._steps, statistic, None, (), {}, opts)

    @release_method
    def count(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Number of rows (noisy), after the frame's filters.

        A person may own up to ``max_rows_per_unit`` rows, so the noise is scaled to that many.

        Example:
            >>> patients[patients.age >= 65].count(epsilon=0.1)
        """
        return self._agg("count", opts)

    @release_method
    def describe(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """count, mean, std, min, quartiles and max of every bounded numeric column.

        One release, one ε split across all its cells, so its cost is known before it runs;
        the quantiles of each column come out in order.

        Example:
            >>> patients.describe(epsilon=1.0)
        """
        return self._agg("describe", opts)

    @release_method
    def mean(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Mean of every bounded numeric column, one ε split across them.

        Example:
            >>> patients.mean(epsilon=0.5)
        """
        return self._agg("mean", opts)

    @release_method
    def sum(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Sum of every bounded numeric column, one ε split across them (``df.isna().sum()``
        counts the missing values of each column).

        Example:
            >>> patients.isna().sum(epsilon=0.5)
        """
        return self._agg("sum", opts)

    # --- refusals -------------------------------------------------------------------------------
    def __len__(self) -> int:
        raise row_access("len()", self._source, self._source)

    def __iter__(self) -> Any:
        raise row_access("iteration", self._source, self._source)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise row_access("__array__", self._source, self._source)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise row_access("pickling", self._source, self._source)

    def __bool__(self) -> bool:
        raise unsupported("a sensitive frame as a truth value", self._source, FRAME_SUPPORTED)

    def __dataframe__(self, *args: Any, **kwargs: Any) -> Any:
        raise row_access("__dataframe__", self._source, self._source)

    def __arrow_c_stream__(self, *args: Any, **kwargs: Any) -> Any:
        raise row_access("__arrow_c_stream__", self._source, self._source)


_CMP: dict[type[ast.cmpop], str] = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
}
_ARITH: dict[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "truediv",
}


def parse_query(text: str, schema: dict[str, ColumnInfo], source: str) -> Expr:
    """Parse pandas ``query`` syntax into an expression; anything else is refused, not evaluated."""

    def fail(reason: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            "filter with query()",
            source,
            reason,
            [
                (
                    "supported",
                    "comparisons, and, or, not, in [...], arithmetic, column names, constants",
                )
            ],
            [f"{source}.query(\"age >= 65 and state == 'CA'\")"],
        )

    def const(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, int | float | str | bool)
        ):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
        ):
            return -node.operand.value  # type: ignore[operator]
        raise fail("only constants may appear in lists")

    def walk(node: ast.AST) -> Expr:
        if isinstance(node, ast.BoolOp):
            logical = "and" if isinstance(node.op, ast.And) else "or"
            out = walk(node.values[0])
            for v in node.values[1:]:
                out = Expr(logical, (out, walk(v)))
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not | ast.Invert):
                return Expr("not", (walk(node.operand),))
            if isinstance(node.op, ast.USub):
                return Expr("neg", (walk(node.operand),))
        if isinstance(node, ast.Compare):
            parts: list[Expr] = []
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if not isinstance(right, ast.List | ast.Tuple | ast.Set):
                        raise fail("'in' needs a list of constants")
                    e = Expr("isin", (walk(left), tuple(const(v) for v in right.elts)))
                    parts.append(Expr("not", (e,)) if isinstance(op, ast.NotIn) else e)
                elif type(op) in _CMP:
                    parts.append(Expr(_CMP[type(op)], (walk(left), walk(right))))
                else:
                    raise fail(f"the operator {type(op).__name__} is not supported")
                left = right
            out = parts[0]
            for p in parts[1:]:
                out = Expr("and", (out, p))
            return out
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return Expr(_ARITH[type(node.op)], (walk(node.left), walk(node.right)))
        if isinstance(node, ast.Name):
            if node.id not in schema:
                raise fail(f"there is no column '{node.id}'")
            return Expr.col(node.id)
        if isinstance(node, ast.Constant):
            return Expr.lit(const(node))
        raise fail(f"{type(node).__name__} is not supported in query()")

    if "@" in text:
        raise fail("local variables (@name) are not supported; use a constant")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise fail("the expression is not valid") from None
    return walk(tree.body)
