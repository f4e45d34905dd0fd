"""Query plans: frozen, JSON-serialisable, data-free.

A ``Query`` is a source name, a sequence of row-wise ``Step``s (filter, assign, select) and one
aggregate. Its canonical JSON is hashed for the release cache and sent unchanged to a curator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.aggregates import STATISTICS as STATISTICS  # the registry's, re-exported
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.expr import Expr

StepKind = Literal["filter", "assign", "select"]


@dataclass(frozen=True)
class Step:
    """One row-wise transformation: each output row depends on one input row only."""

    kind: StepKind
    expr: Expr | None = None
    name: str | None = None
    columns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.expr is not None:
            out["expr"] = self.expr.to_json()
        if self.name is not None:
            out["name"] = self.name
        if self.columns:
            out["columns"] = list(self.columns)
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> Step:
        expr = Expr.from_json(data["expr"]) if "expr" in data else None
        return Step(data["kind"], expr, data.get("name"), tuple(data.get("columns", ())))

    def describe(self) -> str:
        if self.kind == "filter" and self.expr is not None:
            return f"filter {self.expr.describe()}"
        if self.kind == "assign" and self.expr is not None:
            return f"{self.name} = {self.expr.describe()}"
        return f"select {list(self.columns)}"


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Query:
    """One aggregate over a transformed source; holds no data."""

    source: str
    steps: tuple[Step, ...]
    statistic: str
    column: str | None = None
    by: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = field(default=())

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "source": self.source,
            "steps": [s.to_json() for s in self.steps],
            "statistic": self.statistic,
            "column": self.column,
            "by": list(self.by),
            "params": {k: _thaw(v) for k, v in sorted(self.params)},
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Query:
        return Query(
            source=data["source"],
            steps=tuple(Step.from_json(s) for s in data["steps"]),
            statistic=data["statistic"],
            column=data.get("column"),
            by=tuple(data.get("by", ())),
            params=tuple(sorted((k, _freeze(v)) for k, v in data.get("params", {}).items())),
        )

    def canonical(self) -> str:
        try:
            return json.dumps(
                self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False
            )
        except (TypeError, ValueError):  # NaN, inf or an object among the parameters
            raise InvalidArgumentError(
                f"compute {self.statistic}",
                self.source,
                "query parameters must be finite numbers, strings or lists of them",
                [("given", repr(dict(self.params)))],
            ) from None

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def describe(self) -> str:
        """pandas-like text: ``patients[patients.age >= 65].groupby('state').income.mean()``."""
        return self.call()

    def call(self, **options: object) -> str:
        """The call as the analyst would type it, with ``options`` (``epsilon=0.05``) added:
        what a refusal offers as its fix."""
        src = self.source
        text = src
        derived: dict[str, Expr] = {}
        for step in self.steps:
            if step.kind == "filter" and step.expr is not None:
                text += f"[{step.expr.describe(src)}]"
            elif step.kind == "assign" and step.expr is not None and step.name is not None:
                if step.name == step.expr.describe():
                    derived[step.name] = step.expr  # an unnamed derived series
                else:
                    text += f".assign({step.name}={step.expr.describe(src)})"
            else:
                text += f"[{list(step.columns)!r}]"
        if self.by:
            keys = self.by[0] if len(self.by) == 1 else list(self.by)
            text += f".groupby({keys!r})"
        if self.column is not None:
            if self.column in derived and not self.by:
                text = derived[self.column].describe(text)
            elif self.column.isidentifier():
                text += f".{self.column}"
            else:
                text += f"[{self.column!r}]"
        params = dict(self.params)
        extra = [f"{k}={v!r}" for k, v in options.items()]
        if self.statistic == "agg":
            spec = {k: _thaw(v) for k, v in params.pop("spec", ())}
            return f"{text}.agg({', '.join([repr(spec), *extra])})"
        args = [f"{k}={_thaw(v)!r}" for k, v in sorted(params.items())]
        registered = AGGREGATES.get(self.statistic) if isinstance(self.statistic, str) else None
        method = (registered.shown_as if registered else None) or self.statistic
        return f"{text}.{method}({', '.join(args + extra)})"
