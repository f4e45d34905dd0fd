"""SensitiveGroupBy: grouped aggregates over declared keys or thresholded unknown keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from jupyter_privacy.core.aggregates import AGG_STATISTICS
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.release import Estimate, ReleaseTable
from jupyter_privacy.frame.options import ReleaseOptions, release_method
from jupyter_privacy.frame.refusals import GROUPBY_SUPPORTED, ROW_ACCESS, row_access, unsupported
from jupyter_privacy.frame.runner import Result, run_query

if TYPE_CHECKING:
    from jupyter_privacy.frame.frame import SensitiveFrame

#: What a grouped column can release (``df.groupby('state').income.mean()``).
ColumnStatistic = Literal[
    "count", "sum", "mean", "median", "var", "std", "min", "max", "quantile", "proportion"
]


class SensitiveGroupBy:
    """``df.groupby(key or keys)``: grouped releases, one row per key.

    Declared keys (``keys=`` at registration) are all released, zeros included; other keys are
    discovered under a noisy threshold, which needs a budget with δ.
    """

    __slots__ = ("_by", "_frame")

    def __init__(self, frame: SensitiveFrame, by: tuple[str, ...]) -> None:
        self._frame, self._by = frame, by

    def __repr__(self) -> str:
        return f"<SensitiveGroupBy '{self._frame.name}' by {list(self._by)}; try .size(), .mean()>"

    @overload
    def _run(
        self,
        statistic: Literal["size", "agg"],
        column: None,
        params: dict[str, Any],
        opts: ReleaseOptions,
    ) -> ReleaseTable | Estimate: ...

    @overload
    def _run(
        self,
        statistic: ColumnStatistic,
        column: str,
        params: dict[str, Any],
        opts: ReleaseOptions,
    ) -> ReleaseTable | Estimate: ...

    def _run(
        self, statistic: str, column: str | None, params: dict[str, Any], opts: ReleaseOptions
    ) -> Result:
        f = self._frame
        return run_query(f._ws, f._source, f._steps, statistic, column, self._by, params, opts)

    @release_method
    def size(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy number of rows per group.

        Example:
            >>> patients.groupby("state").size(epsilon=0.5)
        """
        return self._run("size", None, {}, opts)

    @release_method
    def count(self, **opts: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy number of rows per group (the same release as ``size``).

        Example:
            >>> patients[patients.age >= 65].groupby("state").count(epsilon=0.5)
        """
        return self._run("size", None, {}, opts)

    @release_method
    def agg(
        self, spec: Mapping[str, str | Sequence[str]], **opts: Unpack[ReleaseOptions]
    ) -> ReleaseTable | Estimate:
        """Several statistics per group in one release, one ε split across all of them.

        Args:
            spec: Column → statistic name or list of names (count, size, sum, mean, median,
                var, std, min, max). Statistics are named, never callables: a function would
                see the rows.

        Example:
            >>> patients.groupby("state").agg({"income": "mean", "age": ["median", "max"]})
        """
        if not isinstance(spec, Mapping) or not spec:
            raise InvalidArgumentError(
                "aggregate",
                self._frame.name,
                "agg needs a dict of column → statistic",
                fixes=[f"{self._frame.name}.groupby({self._by[0]!r}).agg({{'income': 'mean'}})"],
            )
        cleaned: dict[str, Any] = {}
        for col, stats in spec.items():
            names = list(stats) if isinstance(stats, list | tuple) else [stats]
            for s in names:
                if not isinstance(s, str):
                    raise row_access("apply", self._frame.name, self._frame.name)
                if s not in AGG_STATISTICS:
                    raise unsupported(
                        f"agg statistic {s!r}", self._frame.name, ", ".join(AGG_STATISTICS)
                    )
            cleaned[col] = tuple(names) if len(names) > 1 else names[0]
        return self._run("agg", None, {"spec": cleaned}, opts)

    aggregate = agg

    def __getitem__(self, column: str) -> GroupedSeries:
        if not isinstance(column, str):
            raise unsupported(
                "selecting several columns of a groupby", self._frame.name, GROUPBY_SUPPORTED
            )
        self._frame[column]  # validates the column
        return GroupedSeries(self, column)

    def __getattr__(self, name: str) -> GroupedSeries:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._frame.columns:
            return GroupedSeries(self, name)
        if name in ROW_ACCESS or name in (
            "groups",
            "indices",
            "get_group",
            "filter",
            "first",
            "last",
            "nth",
        ):
            raise row_access(name, self._frame.name, self._frame.name)
        raise unsupported(f"GroupBy.{name}", self._frame.name, GROUPBY_SUPPORTED)

    def __iter__(self) -> Any:
        raise row_access("iteration", self._frame.name, self._frame.name)

    def __len__(self) -> int:
        raise row_access("len()", self._frame.name, self._frame.name)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise row_access("pickling", self._frame.name, self._frame.name)


class GroupedSeries:
    """One column of a groupby; every statistic is released per group, in one table.

    Example:
        >>> patients.groupby("state").income.mean(epsilon=0.5)
    """

    __slots__ = ("_column", "_group")

    def __init__(self, group: SensitiveGroupBy, column: str) -> None:
        self._group, self._column = group, column

    def __repr__(self) -> str:
        return f"<grouped column {self._column!r}; try .mean(), .median(), .sum()>"

    def _run(
        self, statistic: ColumnStatistic, params: dict[str, Any], opts: ReleaseOptions
    ) -> ReleaseTable | Estimate:
        return self._group._run(statistic, self._column, params, opts)

    @release_method
    def count(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy number of non-null values of the column per group.

        Example:
            >>> patients.groupby("state").income.count(epsilon=0.5)
        """
        return self._run("count", {}, o)

    @release_method
    def size(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Noisy number of rows per group (the same release as ``groupby(...).size()``).

        Example:
            >>> patients.groupby("state").age.size(epsilon=0.5)
        """
        return self._group.size(**o)

    @release_method
    def sum(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group sum of the values clipped to the column's public bounds.

        Example:
            >>> patients.groupby("state").income.sum(epsilon=0.5)
        """
        return self._run("sum", {}, o)

    @release_method
    def mean(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group mean of the clipped values: a noisy sum over a noisy count per group (of a
        condition column: the share of its rows that meet it).

        Example:
            >>> patients.groupby("state").income.mean(epsilon=0.5)
        """
        if self._group._frame._schema()[self._column].kind == "bool":
            return self._run("proportion", {}, o)
        return self._run("mean", {}, o)

    @release_method
    def median(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group DP median, each with a rank bound.

        Example:
            >>> patients.groupby("state").age.median(epsilon=0.5)
        """
        return self._run("median", {}, o)

    @release_method
    def var(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group population variance (ddof=0) of the clipped values.

        Example:
            >>> patients.groupby("state").age.var(epsilon=0.5)
        """
        return self._run("var", {}, o)

    @release_method
    def std(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group population standard deviation (ddof=0) of the clipped values.

        Example:
            >>> patients.groupby("state").age.std(epsilon=0.5)
        """
        return self._run("std", {}, o)

    @release_method
    def min(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group DP estimate of the minimum: the 0-quantile over the public bounds.

        Example:
            >>> patients.groupby("state").age.min(epsilon=0.5)
        """
        return self._run("min", {}, o)

    @release_method
    def max(self, **o: Unpack[ReleaseOptions]) -> ReleaseTable | Estimate:
        """Per-group DP estimate of the maximum: the 1-quantile over the public bounds.

        Example:
            >>> patients.groupby("state").age.max(epsilon=0.5)
        """
        return self._run("max", {}, o)

    @release_method
    def quantile(
        self, q: float | Sequence[float] = 0.5, **o: Unpack[ReleaseOptions]
    ) -> ReleaseTable | Estimate:
        """Per-group DP quantiles, each with a rank bound.

        Args:
            q: A level in [0, 1], or a list of levels released together.

        Example:
            >>> patients.groupby("state").income.quantile([0.25, 0.75], epsilon=0.5)
        """
        return self._run("quantile", {"q": tuple(q) if isinstance(q, list | tuple) else q}, o)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        source = self._group._frame.name
        if name in ROW_ACCESS:
            raise row_access(name, source, source)
        raise unsupported(f"GroupBy column .{name}", source, GROUPBY_SUPPORTED)

    def __iter__(self) -> Any:
        raise row_access("iteration", self._group._frame.name, self._group._frame.name)
