"""SensitiveSeries: one column (or a column expression) of a sensitive frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.expr import Expr, Scalar, dtype_name
from jupyter_privacy.core.plan import Step
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.schema import ColumnInfo, infer
from jupyter_privacy.frame.options import ReleaseOptions, release_method
from jupyter_privacy.frame.refusals import ROW_ACCESS, SERIES_SUPPORTED, row_access, unsupported
from jupyter_privacy.frame.runner import Result, run_query

if TYPE_CHECKING:
    from jupyter_privacy.frame.frame import SensitiveFrame


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, int | float | str | bool)


class SensitiveSeries:
    """A column expression bound to a frame. Builds plans; never holds data.

    ``df.age``, ``df["income"] / 12``, ``df.age.clip(18, 90)``; a condition such as
    ``df.age >= 65`` filters a frame, and its ``mean()`` is a share, its ``sum()`` a count.

    Example:
        >>> (patients.age >= 65).mean(epsilon=0.1)
    """

    __slots__ = ("_expr", "_frame", "name")
    _frame: SensitiveFrame
    _expr: Expr
    name: str

    def __init__(self, frame: SensitiveFrame, expr: Expr, name: str | None = None) -> None:
        object.__setattr__(self, "_frame", frame)
        object.__setattr__(self, "_expr", expr)
        object.__setattr__(self, "name", name if name is not None else expr.describe())

    # --- public metadata -----------------------------------------------------------------------
    @property
    def expr(self) -> Expr:
        return self._expr

    @property
    def frame(self) -> SensitiveFrame:
        return self._frame

    @property
    def info(self) -> ColumnInfo:
        return infer(self._expr, self._frame._schema(), self._frame._source)

    @property
    def dtype(self) -> str:
        return self.info.kind

    def __repr__(self) -> str:
        info = self.info
        extra = f", bounds={info.bounds}" if info.bounds else ""
        extra += f", {len(info.keys)} public keys" if info.keys is not None else ""
        return (
            f"<SensitiveSeries {self.name!r} of '{self._frame._source}': {info.kind}{extra}; "
            f"rows are not shown — try .mean(), .describe(), .value_counts()>"
        )

    # --- building expressions ------------------------------------------------------------------
    def _operand(self, other: Any, op: str) -> Expr:
        if isinstance(other, SensitiveSeries):
            self._frame._check_same(other._frame, op)
            return other._expr
        if _is_scalar(other):
            if isinstance(other, float) and not math.isfinite(other):
                raise InvalidArgumentError(
                    f"compute {op}",
                    self._frame._source,
                    "constants must be finite numbers",
                    [("given", repr(other))],
                )
            return Expr.lit(other)
        raise unsupported(
            f"{op} with {type(other).__name__}", self._frame._source, SERIES_SUPPORTED
        )

    def _new(self, op: str, *args: Any) -> SensitiveSeries:
        expr = Expr(op, args)
        infer(expr, self._frame._schema(), self._frame._source)  # validate now, on public info
        return SensitiveSeries(self._frame, expr)

    def _binary(self, op: str, other: Any, reflected: bool = False) -> SensitiveSeries:
        right = self._operand(other, op)
        return self._new(op, right, self._expr) if reflected else self._new(op, self._expr, right)

    def __add__(self, o: Any) -> SensitiveSeries:
        return self._binary("add", o)

    def __radd__(self, o: Any) -> SensitiveSeries:
        return self._binary("add", o, True)

    def __sub__(self, o: Any) -> SensitiveSeries:
        return self._binary("sub", o)

    def __rsub__(self, o: Any) -> SensitiveSeries:
        return self._binary("sub", o, True)

    def __mul__(self, o: Any) -> SensitiveSeries:
        return self._binary("mul", o)

    def __rmul__(self, o: Any) -> SensitiveSeries:
        return self._binary("mul", o, True)

    def __truediv__(self, o: Any) -> SensitiveSeries:
        return self._binary("truediv", o)

    def __rtruediv__(self, o: Any) -> SensitiveSeries:
        return self._binary("truediv", o, True)

    def __eq__(self, o: Any) -> SensitiveSeries:  # type: ignore[override]
        return self._binary("eq", o)

    def __ne__(self, o: Any) -> SensitiveSeries:  # type: ignore[override]
        return self._binary("ne", o)

    def __lt__(self, o: Any) -> SensitiveSeries:
        return self._binary("lt", o)

    def __le__(self, o: Any) -> SensitiveSeries:
        return self._binary("le", o)

    def __gt__(self, o: Any) -> SensitiveSeries:
        return self._binary("gt", o)

    def __ge__(self, o: Any) -> SensitiveSeries:
        return self._binary("ge", o)

    def __and__(self, o: Any) -> SensitiveSeries:
        return self._binary("and", o)

    def __rand__(self, o: Any) -> SensitiveSeries:
        return self._binary("and", o, True)

    def __or__(self, o: Any) -> SensitiveSeries:
        return self._binary("or", o)

    def __ror__(self, o: Any) -> SensitiveSeries:
        return self._binary("or", o, True)

    def __neg__(self) -> SensitiveSeries:
        return self._new("neg", self._expr)

    def __abs__(self) -> SensitiveSeries:
        return self._new("abs", self._expr)

    def __invert__(self) -> SensitiveSeries:
        return self._new("not", self._expr)

    __hash__ = None  # type: ignore[assignment]

    def abs(self) -> SensitiveSeries:
        return self._new("abs", self._expr)

    def isin(self, values: Sequence[Scalar]) -> SensitiveSeries:
        if isinstance(values, str) or not all(_is_scalar(v) for v in values):
            raise InvalidArgumentError(
                "filter with isin",
                self._frame._source,
                "isin needs a list of constants",
                [],
                [f"{self._frame._source}.{self.name}.isin(['A', 'B'])"],
            )
        return self._new("isin", self._expr, tuple(values))

    def between(self, left: float, right: float, inclusive: str = "both") -> SensitiveSeries:
        lower = self >= left if inclusive in ("both", "left") else self > left
        upper = self <= right if inclusive in ("both", "right") else self < right
        return lower & upper

    def isna(self) -> SensitiveSeries:
        return self._new("isna", self._expr)

    isnull = isna

    def notna(self) -> SensitiveSeries:
        return self._new("notna", self._expr)

    notnull = notna

    def clip(self, lower: float, upper: float) -> SensitiveSeries:
        """Clamp to public bounds; the result is bounded, so sums and means become possible."""
        for v in (lower, upper):
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise InvalidArgumentError(
                    "clip",
                    self._frame._source,
                    "clip bounds must be finite numbers",
                    [("given", f"({lower!r}, {upper!r})")],
                    [".clip(0, 100)"],
                )
        if lower > upper:
            raise InvalidArgumentError(
                "clip",
                self._frame._source,
                "clip bounds are reversed",
                [("given", f"({lower!r}, {upper!r})")],
                [f".clip({upper!r}, {lower!r})"],
            )
        return self._new("clip", self._expr, lower, upper)

    def fillna(self, value: Scalar) -> SensitiveSeries:
        if not _is_scalar(value) or value is None:
            raise InvalidArgumentError(
                "fillna", self._frame._source, "fillna needs a public constant", [], [".fillna(0)"]
            )
        return self._new("fillna", self._expr, value)

    def astype(self, dtype: Any) -> SensitiveSeries:
        name = dtype_name(dtype)
        if name is None:
            raise unsupported(
                f"astype({dtype!r})", self._frame._source, "astype int, float, str, bool"
            )
        return self._new("cast", self._expr, name)

    def cut(self, bins: Sequence[float], labels: Sequence[str] | None = None) -> SensitiveSeries:
        """Bin by public edges; each bin label becomes a public key."""
        edges = tuple(float(b) for b in bins)
        if (
            len(edges) < 2
            or any(not math.isfinite(e) for e in edges)
            or list(edges) != sorted(set(edges))
        ):
            raise InvalidArgumentError(
                "cut",
                self._frame._source,
                "bins must be at least two increasing finite edges",
                [("given", repr(list(bins)))],
                [".cut([0, 18, 65, 120])"],
            )
        names = (
            tuple(labels)
            if labels is not None
            else tuple(f"({edges[i]:g}, {edges[i + 1]:g}]" for i in range(len(edges) - 1))
        )
        if len(names) != len(edges) - 1 or len(set(names)) != len(names):
            raise InvalidArgumentError(
                "cut",
                self._frame._source,
                "labels must be one distinct name per bin",
                [("bins", str(len(edges) - 1)), ("labels", str(len(names)))],
            )
        return self._new("cut", self._expr, edges, tuple(str(n) for n in names))

    # --- aggregates ----------------------------------------------------------------------------
    def _column(self) -> tuple[tuple[Step, ...], str]:
        """Steps and column name to aggregate: a derived expression becomes an assigned column."""
        steps = self._frame._steps
        if self._expr.op == "col":
            return steps, self._expr.args[0]
        return (*steps, Step("assign", self._expr, self.name)), self.name

    @overload
    def _agg(
        self,
        statistic: Literal[
            "count", "sum", "mean", "median", "var", "std", "min", "max", "proportion"
        ],
        params: dict[str, Any],
        opts: ReleaseOptions,
    ) -> Release | Estimate: ...

    @overload
    def _agg(
        self,
        statistic: Literal["value_counts", "hist", "describe", "bounds"],
        params: dict[str, Any],
        opts: ReleaseOptions,
    ) -> ReleaseTable | Estimate: ...

    @overload
    def _agg(
        self, statistic: Literal["quantile"], params: dict[str, Any], opts: ReleaseOptions
    ) -> Result: ...

    def _agg(self, statistic: str, params: dict[str, Any], opts: ReleaseOptions) -> Result:
        steps, column = self._column()
        return run_query(
            self._frame._ws, self._frame._source, steps, statistic, column, (), params, opts
        )

    @release_method
    def count(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Number of non-null values (noisy).

        Missing values are not counted, as in pandas; ``df.count()`` counts rows instead.

        Example:
            >>> patients.age.count(epsilon=0.1)
        """
        return self._agg("count", {}, opts)

    def _numbers(self) -> SensitiveSeries:
        """A boolean condition counts as 1 and 0 (``(df.age > 65).mean()`` is a share)."""
        return self.astype(int) if self.dtype == "bool" else self

    @release_method
    def sum(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Sum of the values clipped to the column's public bounds (a condition sums to how many
        rows meet it).

        Clipping bounds what one person can add, which is what lets the noise be finite; bounds
        that are too tight bias the sum, bounds that are too wide make it noisier.

        Example:
            >>> patients.income.sum(epsilon=0.5)
        """
        return self._numbers()._agg("sum", {}, opts)

    @release_method
    def mean(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Mean of the values clipped to the column's public bounds (of a condition: the share of
        rows that meet it).

        Released as a noisy sum over a noisy count, one ε split between them; the interval
        covers both noises (a condition's share: two noisy counts, True and False).

        Example:
            >>> patients.age.mean(epsilon=0.1)
        """
        if self.dtype == "bool":
            return self._agg("proportion", {}, opts)
        return self._agg("mean", {}, opts)

    @release_method
    def plot(
        self,
        kind: Literal["hist", "bar"] = "hist",
        bins: int = 10,
        **opts: Unpack[ReleaseOptions],
    ) -> Any:
        """A chart of the column's noisy histogram (numbers) or noisy counts (keyed columns):
        the rows cannot be drawn, their distribution can. Charged like ``hist``.

        Args:
            kind: ``"hist"`` (numbers) or ``"bar"`` (counts per key).
            bins: Equal-width bins over the column's public bounds, for ``"hist"``.

        Returns:
            An Altair chart with error bars, or an ``Estimate`` with ``dry_run=True``.

        Example:
            >>> patients.age.plot(bins=8, epsilon=0.2)
        """
        if kind not in ("hist", "bar"):
            raise unsupported(
                f"Series.plot(kind={kind!r})",
                self._frame._source,
                "plot(kind='hist') or plot(kind='bar')",
            )
        info = self.info
        release = (
            self.hist(bins=bins, **opts)
            if info.numeric and kind == "hist"
            else self.value_counts(**opts)
        )
        return release.chart() if hasattr(release, "chart") else release

    @release_method
    def median(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """A DP median: OpenDP's private quantile at 0.5 (a noisy choice among candidates
        spread over the public bounds).

        Its interval is a rank bound (``.rank_error``: how many rows from the true median), since
        a value interval would depend on the data; ``accuracy=`` is refused for that reason.

        Example:
            >>> patients.age.median(epsilon=0.3)
        """
        return self._agg("median", {}, opts)

    @overload
    def quantile(self, q: float = ..., **opts: Unpack[ReleaseOptions]) -> Release | Estimate: ...

    @overload
    def quantile(
        self, q: Sequence[float], **opts: Unpack[ReleaseOptions]
    ) -> ReleaseTable | Estimate: ...

    @release_method
    def quantile(self, q: float | Sequence[float] = 0.5, **opts: Unpack[ReleaseOptions]) -> Result:
        """DP quantiles, each with a rank bound like ``median``.

        Args:
            q: A level in [0, 1], or a list of levels: a list gives one table whose levels share
                one ε and one sorted pass over the data.

        Example:
            >>> patients.income.quantile([0.1, 0.5, 0.9], epsilon=0.5)
        """
        levels: Any = tuple(q) if isinstance(q, list | tuple) else q
        return self._agg("quantile", {"q": levels}, opts)

    @release_method
    def bounds(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Clipping bounds estimated from the data: DP quantiles at 2% (``lower``) and 98%
        (``upper``) over a public geometric ladder of candidates (0 and ±10^(j/500) from 0.01
        to 10¹²), each with a rank bound. What ``bounds="auto"`` at registration releases on a column's first use; the
        column needs no declared bounds. See ``docs/bounds.md``.

        Example:
            >>> patients.income.bounds(epsilon=0.2)
        """
        return self._agg("bounds", {}, opts)

    @release_method
    def var(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Population variance (ddof=0, where pandas defaults to ddof=1) of the clipped values.

        Example:
            >>> patients.age.var(epsilon=0.5)
        """
        return self._agg("var", {}, opts)

    @release_method
    def std(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """Population standard deviation (ddof=0) of the clipped values.

        Example:
            >>> patients.age.std(epsilon=0.5)
        """
        return self._agg("std", {}, opts)

    @release_method
    def min(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """A DP estimate of the minimum: the 0-quantile over the public bounds.

        The true minimum is one person's value, so it is never released; this is a value few
        rows fall below, with a rank bound.

        Example:
            >>> patients.age.min(epsilon=0.2)
        """
        return self._agg("min", {}, opts)

    @release_method
    def max(self, **opts: Unpack[ReleaseOptions]) -> Release | Estimate:
        """A DP estimate of the maximum: the 1-quantile over the public bounds (see ``min``).

        Example:
            >>> patients.age.max(epsilon=0.2)
        """
        return self._agg("max", {}, opts)

    @release_method
    def value_counts(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy count per key.

        With declared keys every key is released, zeros included, so which keys appear says
        nothing about the data; without them keys are found above a noisy threshold, which
        needs a budget with δ.

        Example:
            >>> patients.state.value_counts(epsilon=0.5)
        """
        return self._agg("value_counts", {}, opts)

    @release_method
    def hist(self, bins: int = 10, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy counts in ``bins`` equal-width bins over the column's public bounds.

        The edges come from the bounds, never from the data, so they reveal nothing.

        Args:
            bins: Number of bins.

        Example:
            >>> patients.age.hist(bins=8, epsilon=0.3)
        """
        return self._agg("hist", {"bins": bins}, opts)

    @release_method
    def describe(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """count, mean, std, min, quartiles and max in one release, one ε split across them.

        The quantiles are released together so they come out in order (min ≤ 25% ≤ … ≤ max).

        Example:
            >>> patients.income.describe(epsilon=1.0)
        """
        return self._agg("describe", {}, opts)

    # --- refusals ------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        shown = f"{self._frame._source}.{self.name}"
        if name in ROW_ACCESS:
            raise row_access(name, self._frame._source, shown, series=True)
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported(f"Series.{name}", self._frame._source, SERIES_SUPPORTED)

    def __setattr__(self, name: str, value: Any) -> None:
        raise unsupported(f"setting Series.{name}", self._frame._source, SERIES_SUPPORTED)

    def __getitem__(self, key: Any) -> Any:
        raise row_access(
            "iloc", self._frame._source, f"{self._frame._source}.{self.name}", series=True
        )

    def __len__(self) -> int:
        raise row_access("len()", self._frame._source, self._frame._source)

    def __iter__(self) -> Any:
        raise row_access("iteration", self._frame._source, self._frame._source)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise row_access(
            "__array__", self._frame._source, f"{self._frame._source}.{self.name}", series=True
        )

    def __bool__(self) -> bool:
        raise unsupported(
            "a sensitive series as a truth value",
            self._frame._source,
            "use it as a filter: df[df.age >= 65]",
        )

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise row_access("pickling", self._frame._source, self._frame._source)

    def __float__(self) -> float:
        raise row_access(
            "float()", self._frame._source, f"{self._frame._source}.{self.name}", series=True
        )

    __int__ = __float__
