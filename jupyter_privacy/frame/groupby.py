"""SensitiveGroupBy: grouped aggregates over declared keys or thresholded unknown keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_privacy.core.aggregates import AGG_STATISTICS
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.frame.refusals import GROUPBY_SUPPORTED, ROW_ACCESS, row_access, unsupported
from jupyter_privacy.frame.runner import Result, run_query

if TYPE_CHECKING:
    from jupyter_privacy.frame.frame import SensitiveFrame


class SensitiveGroupBy:
    __slots__ = ("_by", "_frame")

    def __init__(self, frame: SensitiveFrame, by: tuple[str, ...]) -> None:
        self._frame, self._by = frame, by

    def __repr__(self) -> str:
        return f"<SensitiveGroupBy '{self._frame.name}' by {list(self._by)}; try .size(), .mean()>"

    def _run(
        self, statistic: str, column: str | None, params: dict[str, Any], opts: dict[str, Any]
    ) -> Result:
        f = self._frame
        return run_query(f._ws, f._source, f._steps, statistic, column, self._by, params, opts)

    def size(self, **opts: Any) -> Result:
        return self._run("size", None, {}, opts)

    def count(self, **opts: Any) -> Result:
        return self._run("size", None, {}, opts)

    def agg(self, spec: Mapping[str, str | Sequence[str]], **opts: Any) -> Result:
        """``agg({'income': 'mean', 'age': ['median', 'max']})`` — one budget split across all."""
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

    def __getattr__(self, name: str) -> Any:
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
    """One column of a groupby: ``df.groupby('state').income.mean()``."""

    __slots__ = ("_column", "_group")

    def __init__(self, group: SensitiveGroupBy, column: str) -> None:
        self._group, self._column = group, column

    def __repr__(self) -> str:
        return f"<grouped column {self._column!r}; try .mean(), .median(), .sum()>"

    def _run(self, statistic: str, params: dict[str, Any], opts: dict[str, Any]) -> Result:
        return self._group._run(statistic, self._column, params, opts)

    def count(self, **o: Any) -> Result:
        return self._run("count", {}, o)

    def size(self, **o: Any) -> Result:
        return self._group.size(**o)

    def sum(self, **o: Any) -> Result:
        return self._run("sum", {}, o)

    def mean(self, **o: Any) -> Result:
        condition = self._group._frame._schema()[self._column].kind == "bool"
        return self._run("proportion" if condition else "mean", {}, o)

    def median(self, **o: Any) -> Result:
        return self._run("median", {}, o)

    def var(self, **o: Any) -> Result:
        return self._run("var", {}, o)

    def std(self, **o: Any) -> Result:
        return self._run("std", {}, o)

    def min(self, **o: Any) -> Result:
        return self._run("min", {}, o)

    def max(self, **o: Any) -> Result:
        return self._run("max", {}, o)

    def quantile(self, q: float | Sequence[float] = 0.5, **o: Any) -> Result:
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
