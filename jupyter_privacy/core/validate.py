"""The one validation pass every plan goes through before any budget is charged.

``validate`` runs on each plan from every entry point (the frame API, the magics, the curator
wire, replayed manifests): the workspace calls it first in ``run``. It types every expression
against the public schema (``schema.apply_steps``), checks the statistic against its declared rule
and its parameters against the statistic's declared table, checks that grouped keys are known
and unique, and caps the number of released cells. It reads no data and depends on nothing but
the plan and the source's public description, so whether it refuses is data-independent; what it
lets through cannot fail at run time because of a value (see ``docs/threat-model.md``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from jupyter_privacy.core.aggregates import AGGREGATES, Aggregate
from jupyter_privacy.core.errors import (
    InvalidArgumentError,
    MissingBoundsError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.limits import MAX_CELLS
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.schema import ColumnInfo, apply_steps, unique_keys
from jupyter_privacy.core.source import SourceSpec

GROUP_KINDS = frozenset(["int", "float", "str", "bool"])
#: Cells of one column's ``describe``: count, mean, std, min, 25%, 50%, 75%, max.
DESCRIBE_CELLS = 8
#: Each statistic's rule: the registry's entries (what a statistic needs and takes).
RULES: Mapping[str, Aggregate] = AGGREGATES


@dataclass(frozen=True)
class Checked:
    """A validated plan: the schema after its steps and the number of cells it releases."""

    schema: dict[str, ColumnInfo]
    cells: int | None  # None: keys are discovered under thresholds (bounded by the data)


def hist_edges(bounds: tuple[float, float], bins: int) -> tuple[float, ...]:
    """``bins`` equal-width edges over the bounds (public), or () when they are not strictly
    increasing in floating point (bounds too narrow for that many bins)."""
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        return ()
    edges = tuple(float(v) for v in np.linspace(lo, hi, bins + 1))
    if any(a >= b for a, b in itertools.pairwise(edges)):
        return ()
    return edges


def bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """``[a, b)`` labels (the last bin closed), with as many digits as it takes to be distinct."""
    n = len(edges) - 1
    for digits in (6, 10, 17):
        labels = tuple(
            f"[{edges[i]:.{digits}g}, {edges[i + 1]:.{digits}g}{']' if i == n - 1 else ')'}"
            for i in range(n)
        )
        if len(set(labels)) == n:
            return labels
    raise AssertionError("strictly increasing edges have distinct 17-digit labels")


def require_bounds(
    spec: SourceSpec, query: Query, column: str, info: ColumnInfo, statistic: str | None = None
) -> tuple[float, float]:
    """The column's public bounds, or the refusal that says how to declare them."""
    stat = statistic or query.statistic
    if not info.numeric:
        countable = info.keys is not None or spec.budget.mode == "zcdp"
        raise UnsupportedOperationError(
            f"compute {stat} of '{column}'",
            spec.name,
            f"'{column}' is not numeric ({info.kind})",
            [("supported", "count, value_counts on non-numeric columns")],
            [
                f"{spec.name}.{column}.value_counts()"
                if countable
                else f"{spec.name}.{column}.count()"
            ],
        )
    if info.bounds is None:
        raise MissingBoundsError(
            f"compute {stat} of '{column}'",
            spec.name,
            f"'{column}' has no public bounds",
            [("bounds", "needed to limit what one person can change")],
            [
                f"jp.register(..., bounds={{{column!r}: (LOW, HIGH)}})",
                f"{spec.name}.{column}.clip(LOW, HIGH).{stat}()",
            ],
        )
    return info.bounds


def require_condition(spec: SourceSpec, query: Query, column: str, info: ColumnInfo) -> None:
    """A share is of rows meeting a condition: the column must be a bool."""
    if info.kind == "bool":
        return
    src = f"{spec.name}.{column}" if column.isidentifier() else f"{spec.name}[{column!r}]"
    fixes = (
        [f"({src} > LIMIT).mean()", f"{src}.mean()"]
        if info.numeric
        else [f"({src} == 'VALUE').mean()", f"{src}.value_counts()"]
    )
    raise UnsupportedOperationError(
        f"compute {query.statistic} of '{column}'",
        spec.name,
        f"'{column}' is not a condition ({info.kind})",
        [("supported", "the share of rows where a bool column or a comparison is True")],
        fixes,
    )


def require_number(spec: SourceSpec, query: Query, column: str, info: ColumnInfo) -> None:
    """Bounds are estimated for numbers only (int or float columns)."""
    if info.numeric:
        return
    raise UnsupportedOperationError(
        f"compute {query.statistic} of '{column}'",
        spec.name,
        f"'{column}' is not numeric ({info.kind})",
        [("supported", "int and float columns")],
        [f"{spec.name}[{column!r}].astype(float).{query.statistic}()"],
    )


def bounded_columns(spec: SourceSpec, schema: Mapping[str, ColumnInfo], op: str) -> list[str]:
    """What a frame-level describe, mean or sum covers: every bounded numeric column but the
    privacy unit."""
    cols = [
        c
        for c, info in schema.items()
        if info.numeric and info.bounds is not None and c != spec.privacy_unit
    ]
    if not cols:
        raise MissingBoundsError(
            op,
            spec.name,
            "no numeric column has public bounds",
            fixes=["jp.register(..., bounds={'age': (0, 110)})"],
        )
    return cols


def group_keys(
    spec: SourceSpec, by: tuple[str, ...], schema: Mapping[str, ColumnInfo]
) -> list[tuple[Scalar, ...]] | None:
    """Each key's declared values (the release's cells are their product), or None for unknown
    keys, which need a budget with δ (thresholds)."""
    for name in by:
        if not isinstance(name, str) or name not in schema:
            raise InvalidArgumentError(
                f"group by '{name}'",
                spec.name,
                f"there is no column '{name}'",
                [("columns", ", ".join(sorted(schema)))],
            )
        if schema[name].kind not in GROUP_KINDS:
            raise UnsupportedOperationError(
                f"group by '{name}'",
                spec.name,
                f"'{name}' ({schema[name].kind}) cannot be a group key",
                [("supported", "int, float, str and bool columns")],
            )
    declared = [schema[name].keys for name in by]
    if all(k is not None for k in declared):
        return declared  # type: ignore[return-value]
    if spec.budget.mode != "zcdp":
        missing = [n for n, k in zip(by, declared, strict=True) if k is None]
        raise MissingBoundsError(
            f"group by {', '.join(repr(n) for n in by)}",
            spec.name,
            f"'{missing[0]}' has no public keys, and unknown keys need a budget with δ > 0",
            [("budget", "pure ε-DP cannot release keys it does not know")],
            [
                f"jp.register(..., keys={{{missing[0]!r}: [...]}})",
                "jp.register(..., budget=jp.Budget(epsilon=1.0, delta=1e-6))",
            ],
        )
    return None


def _cap(spec: SourceSpec, op: str, cells: int) -> None:
    if cells > MAX_CELLS:
        raise InvalidArgumentError(
            op,
            spec.name,
            f"the release would have {cells:,} cells, more than the cap of {MAX_CELLS:,}",
            [("cap", f"{MAX_CELLS:,} cells per release")],
            ["group by fewer keys, or filter the keys: df[df.state.isin([...])]"],
        )


def _column(
    spec: SourceSpec, query: Query, schema: Mapping[str, ColumnInfo], op: str
) -> str | None:
    rule = RULES[query.statistic]
    col = query.column
    if col is None:
        if rule.column == "required":
            raise UnsupportedOperationError(
                op,
                spec.name,
                "this statistic needs a column",
                fixes=[f"{spec.name}['COLUMN'].{query.statistic}()"],
            )
        return None
    if rule.column == "none":
        raise InvalidArgumentError(op, spec.name, f"{query.statistic} takes no column")
    if not isinstance(col, str) or col not in schema:
        raise InvalidArgumentError(
            f"read column '{col}'",
            spec.name,
            f"there is no column '{col}'",
            [("columns", ", ".join(sorted(schema)))],
        )
    return col


def validate(spec: SourceSpec, query: Query) -> Checked:
    """Refuse, on public information only, every plan that could fail, wrap, duplicate a key or
    build too many cells at run time; see the module docstring."""
    if not isinstance(query.statistic, str) or query.statistic not in RULES:
        raise UnsupportedOperationError(
            "compute an aggregate",
            spec.name,
            "this aggregate is not supported here",
            [("supported", ", ".join(RULES))],
        )
    op = f"compute {query.statistic}" + (f" of '{query.column}'" if query.column else "")
    rule = RULES[query.statistic]
    schema = apply_steps(spec.schema, query.steps, spec.name)
    params = dict(query.params)
    if len(params) != len(query.params):
        raise InvalidArgumentError(op, spec.name, "a parameter is given twice")
    for name in params:
        if name not in rule.params:
            raise InvalidArgumentError(
                op,
                spec.name,
                f"{query.statistic} does not take the parameter {str(name)[:40]!r}",
                [("parameters", ", ".join(rule.params) or "(none)")],
            )
    checked = {name: rule.params[name](value, op, spec.name) for name, value in params.items()}
    column = _column(spec, query, schema, op)
    by = query.by
    if by and not rule.grouped:
        raise UnsupportedOperationError(op, spec.name, f"{query.statistic} cannot follow groupby")
    if not by and not rule.ungrouped:
        raise UnsupportedOperationError(op, spec.name, f"{query.statistic} needs a groupby")
    if len(set(by)) != len(by):
        raise InvalidArgumentError(op, spec.name, "a group key is named twice")
    if by and column is None and rule.without_column == "columns":
        raise UnsupportedOperationError(
            op,
            spec.name,
            "this statistic needs a column",
            fixes=[f"{spec.name}.groupby(...).COLUMN.{query.statistic}()"],
        )

    if rule.condition and column is not None:
        require_condition(spec, query, column, schema[column])
    if rule.number and column is not None:
        require_number(spec, query, column, schema[column])

    per_key = 1
    if query.statistic == "agg":
        if "spec" not in checked:  # a raw plan can leave it out; the frame API never does
            raise InvalidArgumentError(
                op,
                spec.name,
                "agg needs a spec of statistics per column",
                [],
                [f"{spec.name}.groupby(...).agg({{'COLUMN': 'mean'}})"],
            )
        pairs = [
            (col, stat)
            for col, stats in checked["spec"]
            for stat in (stats if isinstance(stats, tuple) else (stats,))
        ]
        for col, stat in pairs:
            if col not in schema:
                raise InvalidArgumentError(
                    f"read column '{col}'",
                    spec.name,
                    f"there is no column '{col}'",
                    [("columns", ", ".join(sorted(schema)))],
                )
            if AGGREGATES[stat].numeric:
                require_bounds(spec, query, col, schema[col], stat)
        per_key = len(pairs)
    elif query.statistic == "describe":
        if column is not None:
            require_bounds(spec, query, column, schema[column])
            per_key = DESCRIBE_CELLS
        else:
            per_key = DESCRIBE_CELLS * len(bounded_columns(spec, schema, op))
    elif rule.numeric and column is not None:
        bounds = require_bounds(spec, query, column, schema[column])
        if query.statistic == "quantile":
            q = checked.get("q", 0.5)
            per_key = len(q) if isinstance(q, tuple) else 1
        if query.statistic == "hist":
            bins = checked.get("bins", 10)
            if not hist_edges(bounds, bins):
                raise InvalidArgumentError(
                    op,
                    spec.name,
                    f"the bounds of '{column}' are too narrow for {bins} equal bins",
                    [("bounds", f"({bounds[0]!r}, {bounds[1]!r})")],
                    [f"{spec.name}.{column}.clip(LOW, HIGH).hist(bins=10)"],
                )
            _cap(spec, op, bins)
    elif rule.numeric and column is None and not by:
        per_key = len(bounded_columns(spec, schema, op))

    keys_of = by or ((column,) if query.statistic == "value_counts" and column else ())
    cells: int | None = per_key
    if keys_of:
        declared = group_keys(spec, keys_of, schema)
        if declared is None:
            cells = None
        else:
            for name, keys in zip(keys_of, declared, strict=True):
                if len(unique_keys(keys)) != len(keys):  # derivations dedupe; a manifest may not
                    raise InvalidArgumentError(
                        op, spec.name, f"the keys of '{name}' are not unique"
                    )
            cells = math.prod(len(k) for k in declared) * per_key
    if cells is not None:
        _cap(spec, op, cells)
    return Checked(schema, cells)
