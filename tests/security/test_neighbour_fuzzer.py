"""The neighbour fuzzer: plans from the whole grammar, run on D and on D minus one person.

For every plan hypothesis builds (steps, expressions, casts, cuts, literals, statistics, group
keys and parameters, well-typed or not, as a raw protocol message could carry them) and every
adversarial table (±inf, NaN, nulls, 5e-324, 1.7e308, ids above 2⁵³, empty strings, one-row
groups), it checks on D and on D′ = D without one privacy unit:

- the same outcome: released, or refused with the same code and the same message; never a
  release that fails after the charge;
- the same, unique released keys (declared keys; thresholded keys are the mechanism's to pick);
- each mechanism's exact input moves by at most the sensitivity its noise was calibrated for,
  read through the engine's test-only observer (``mechanisms.observe_pre_noise``);
- bounded work: no release builds more than ``MAX_CELLS`` cells, and no run hangs.

CI runs a fixed set of examples (derandomised). A longer, randomised run:
``JP_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q tests/security/test_neighbour_fuzzer.py``
(see docs/threat-model.md).
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.bounds import fixed_bounds
from jupyter_privacy.core.engine.data import ROW_CACHE
from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.expr import BINARY, COMPARE, DTYPES, LOGICAL, Expr
from jupyter_privacy.core.limits import MAX_CELLS
from jupyter_privacy.core.plan import Query, Step
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.schema import SHAPES
from jupyter_privacy.core.validate import RULES
from jupyter_privacy.core.workspace import Workspace

EXAMPLES = int(os.environ.get("JP_FUZZ_EXAMPLES", "1000"))
LONG_RUN = "JP_FUZZ_EXAMPLES" in os.environ
#: A single run that takes longer than this has hung (a liveness guard, not a speed test).
HANG_SECONDS = 120
PADDING_COUNT = 7  # any public number: both neighbours read the same one
AUTO_BOUNDS = (0.0, 10.0)  # likewise: what every bounds release gives, on both neighbours

# --- adversarial tables ---------------------------------------------------------------------------

IDS = [1, 2, 3, 17, 2**53 + 1, 2**53 + 2, -5, None]
FLOATS = [
    0.0, 1.0, 50.0, 100.0, 99.5, -1.0, 0.5, 5e-324, -5e-324, 1.7e308, -1.7e308,
    math.inf, -math.inf, math.nan, None, 1e15, 2.5e-324,
]  # fmt: skip
INTS = [0, 1, 2, 3, 10, -1, 2**62, -(2**63), 2**63 - 1, None]
KEYED = [1, 2, 3, None]
TEXTS = ["a", "b", "", "x", "1", "2.5", "true", None]
BOOLS = [True, False, None]
DTYPES_OF = {
    "pid": "int",
    "x": "float",
    "n": "int",
    "k": "int",
    "s": "str",
    "b": "bool",
    "u": "str",
}
COLUMNS = list(DTYPES_OF)


@st.composite
def tables(draw: st.DrawFn) -> pl.DataFrame:
    # one person or a few (where one row decides the outcome), or more (where sums get large)
    n = draw(st.one_of(st.integers(0, 3), st.integers(4, 24), st.integers(4, 24)))
    # Persons in turn, so that a table holds as many as its rows allow (drawing each row's id
    # would favour the first id and leave most tables with one or two persons); then a few
    # rows lose their id or take another person's.
    people = draw(st.permutations(IDS[:-1]))[: draw(st.integers(1, len(IDS) - 1))]
    pids: list[Any] = [people[i % len(people)] for i in range(n)]
    for i in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []:
        pids[i] = draw(st.sampled_from(IDS))
    col = {
        "x": (FLOATS, pl.Float64),
        "n": (INTS, pl.Int64),
        "k": (KEYED, pl.Int64),
        "s": (TEXTS, pl.String),
        "b": (BOOLS, pl.Boolean),
        "u": (TEXTS, pl.String),
    }
    return pl.DataFrame(
        {
            "pid": pl.Series(pids, dtype=pl.Int64),
            **{
                name: pl.Series([draw(st.sampled_from(pool)) for _ in range(n)], dtype=dtype)
                for name, (pool, dtype) in col.items()
            },
        }
    )


@dataclass(frozen=True)
class Registration:
    bounds: dict[str, tuple[float, float] | str] | str
    keys: dict[str, list[Any]]
    max_rows: int
    budget: Budget
    not_null: tuple[str, ...] = ()


#: Bounds of x: ordinary, the widest allowed, a point, a subnormal width, around 0, and a span
#: whose squares come close to 2⁶³ in fixed point.
X_BOUNDS = [(0, 100), (-1e15, 1e15), (0, 0), (0, 5e-324), (-1, 1), (0, 1e14)]


def registrations(x_bounds: tuple[float, float]) -> st.SearchStrategy[Registration]:
    per_column = st.fixed_dictionaries(
        {
            # "auto": a charged bounds release first, whose pair fixed_bounds makes public
            "x": st.sampled_from([x_bounds, x_bounds, x_bounds, "auto"]),
            "n": st.sampled_from([(0, 10), (-(10**15), 10**15), (0, 1), "auto"]),
        }
    )
    return st.builds(
        Registration,
        # now and then "auto" for the whole source: every numeric column but the unit
        bounds=st.one_of(per_column, per_column, per_column, st.just("auto")),
        keys=st.sampled_from(
            [
                {"k": [1, 2], "s": ["a", "b", ""]},
                {"k": [1, 2]},
                {"s": ["a", "b", ""], "u": ["1", "2"]},
            ]
        ),
        max_rows=st.sampled_from([1, 2, 3]),
        budget=st.sampled_from([Budget(epsilon=1e9), Budget(epsilon=1e4, delta=1e-2)]),
        # nulls of these read as a public value; describe shares one row count among them
        not_null=st.sampled_from([(), (), ("x",), ("x", "n"), ("x", "n", "k", "s", "b", "u")]),
    )


# --- the plan grammar -----------------------------------------------------------------------------

NUMBERS = [0, 1, -1, 17, 100, 0.5, 5e-324, 1e-300, 1e15, 2e18, 5e25, 1.7e308, -1.7e308, 2**53 + 1]
LITERALS = [
    *NUMBERS, 2**63 - 1, -(2**63), 2**70, "", "a", "1", "x", True, False, None,
]  # fmt: skip
NAMES = [*COLUMNS, "d", "e", "__bin__", "nope"]
EDGES = [
    (0, 18, 65, 120),
    (0.0, 5e-324),
    (0, 0, 1),
    (3, 1),
    (-1e15, 0, 1e15),
    (0, 1e16),
    tuple(range(0, 200, 2)),
]

literals = st.sampled_from(LITERALS)
numbers = st.sampled_from(NUMBERS)


def _cut(inner: Expr, edges: tuple[Any, ...], labels: str) -> Expr:
    n = max(len(edges) - 1, 0)
    names = {
        "distinct": tuple(f"b{i}" for i in range(n)),
        "same": ("x",) * n,
        "short": ("x",),
    }[labels]
    return Expr("cut", (inner, edges, names))


def raw_expressions() -> st.SearchStrategy[Expr]:
    """Any tree of the grammar, typed or not, as a raw protocol message could carry it."""
    leaves = st.one_of(
        st.sampled_from(NAMES).map(Expr.col),
        literals.map(lambda v: Expr("lit", (v,))),
    )

    def extend(sub: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.tuples(st.sampled_from([*BINARY, *COMPARE, *LOGICAL]), sub, sub).map(
                lambda t: Expr(t[0], (t[1], t[2]))
            ),
            st.tuples(st.sampled_from(["neg", "abs", "not", "isna", "notna"]), sub).map(
                lambda t: Expr(t[0], (t[1],))
            ),
            st.tuples(sub, st.lists(literals, max_size=4).map(tuple)).map(
                lambda t: Expr("isin", t)
            ),
            st.tuples(sub, numbers, numbers).map(lambda t: Expr("clip", t)),
            st.tuples(sub, literals).map(lambda t: Expr("fillna", t)),
            st.tuples(sub, st.sampled_from([*DTYPES, "datetime"])).map(lambda t: Expr("cast", t)),
            st.builds(
                _cut,
                sub,
                st.sampled_from(EDGES),
                st.sampled_from(["distinct", "distinct", "same", "short"]),
            ),
        )

    return st.recursive(leaves, extend, max_leaves=6)


NUMERIC_COLUMNS = ["x", "n", "k", "pid"]
TEXT_COLUMNS = ["s", "u"]


def typed(kind: str, depth: int = 3) -> st.SearchStrategy[Expr]:
    """Mostly well-typed trees of one kind, with the extreme literals where a constant goes:
    the plans that pass validation are the ones whose run time must be total."""
    col = Expr.col
    if kind == "num":
        leaf = st.one_of(
            st.sampled_from(NUMERIC_COLUMNS).map(col), numbers.map(lambda v: Expr("lit", (v,)))
        )
        if depth == 0:
            return leaf
        sub = typed("num", depth - 1)
        return st.one_of(
            leaf,
            st.tuples(st.sampled_from(list(BINARY)), sub, sub).map(lambda t: Expr(t[0], t[1:])),
            st.tuples(st.sampled_from(["neg", "abs"]), sub).map(lambda t: Expr(t[0], (t[1],))),
            st.tuples(sub, numbers, numbers).map(
                lambda t: Expr("clip", (t[0], min(t[1], t[2]), max(t[1], t[2])))
            ),
            st.tuples(sub, numbers).map(lambda t: Expr("clip", (t[0], t[1], t[1]))),
            st.tuples(sub, numbers).map(lambda t: Expr("fillna", t)),
            st.tuples(typed("any", depth - 1), st.sampled_from(["int", "float"])).map(
                lambda t: Expr("cast", t)
            ),
        )
    if kind == "str":
        leaf = st.sampled_from(TEXT_COLUMNS).map(col)
        if depth == 0:
            return leaf
        return st.one_of(
            leaf,
            st.tuples(typed("str", depth - 1), st.sampled_from(["", "a", "x", "1"])).map(
                lambda t: Expr("fillna", t)
            ),
            st.tuples(st.sampled_from(["k", "n", "b"]).map(col), st.just("str")).map(
                lambda t: Expr("cast", t)
            ),
            st.builds(_cut, typed("num", depth - 1), st.sampled_from(EDGES), st.just("distinct")),
        )
    if kind == "bool":
        if depth == 0:
            return st.one_of(
                st.just(col("b")),
                st.sampled_from(BOOLS[:-1]).map(lambda v: Expr("fillna", (col("b"), v))),
            )
        num, text = typed("num", depth - 1), typed("str", depth - 1)
        return st.one_of(
            st.tuples(st.sampled_from(list(COMPARE)), num, num).map(lambda t: Expr(t[0], t[1:])),
            st.tuples(st.sampled_from(["eq", "ne", "lt"]), text, st.sampled_from(TEXTS[:-1])).map(
                lambda t: Expr(t[0], (t[1], Expr("lit", (t[2],))))
            ),
            st.tuples(
                st.sampled_from(list(LOGICAL)), typed("bool", depth - 1), typed("bool", depth - 1)
            ).map(lambda t: Expr(t[0], t[1:])),
            typed("bool", depth - 1).map(lambda e: Expr("not", (e,))),
            st.tuples(st.sampled_from(["isna", "notna"]), typed("any", depth - 1)).map(
                lambda t: Expr(t[0], (t[1],))
            ),
            st.tuples(num, st.lists(numbers, max_size=3).map(tuple)).map(lambda t: Expr("isin", t)),
            st.tuples(st.sampled_from(["pid", "k"]).map(col), st.sampled_from(IDS[:-1])).map(
                lambda t: Expr("eq", (t[0], Expr("lit", (t[1],))))
            ),
            st.sampled_from(["b"]).map(col),
            st.tuples(typed("num", depth - 1), st.just("bool")).map(lambda t: Expr("cast", t)),
        )
    return st.one_of(typed("num", depth), typed("str", depth), typed("bool", depth))


def expressions() -> st.SearchStrategy[Expr]:
    return st.one_of(typed("any"), typed("any"), typed("any"), raw_expressions())


steps = st.one_of(
    typed("bool").map(lambda e: Step("filter", e)),
    typed("bool").map(lambda e: Step("filter", e)),
    st.tuples(st.sampled_from(["d", "d", "e", "x", "k"]), expressions()).map(
        lambda t: Step("assign", t[1], t[0])
    ),
    st.tuples(st.sampled_from(NAMES), raw_expressions()).map(lambda t: Step("assign", t[1], t[0])),
    raw_expressions().map(lambda e: Step("filter", e)),
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(
        lambda c: Step("select", columns=tuple(c))
    ),
)

PARAMS: dict[str, list[dict[str, Any]]] = {
    "quantile": [{"q": 0.5}, {"q": (0.0, 0.25, 1.0)}, {"q": (0.5, 0.5)}, {"q": 1.5}, {}],
    "hist": [{"bins": 2}, {"bins": 10}, {"bins": 10_000}, {"bins": 1}, {"bins": 0}, {}],
    "agg": [
        {"spec": (("x", "mean"),)},
        {"spec": (("x", ("sum", "max")), ("n", "count"))},
        {"spec": (("d", "median"), ("n", ("std", "min")))},
        {"spec": (("nope", "mean"),)},
        {"spec": (("x", "apply"),)},
    ],
}
ANY_PARAMS: list[dict[str, Any]] = [{}, {}, {}, {"raw": True}, {"bins": 3}]


#: Drawn twice as often: the statistics whose keys or bins are derived (a share: key × condition).
FAVOURED = [
    "hist", "hist", "hist", "value_counts", "agg", "var", "std", "describe", "proportion", "bounds",
]  # fmt: skip
COLUMN_FOR = {
    "count": [None, None, "x", "s", "d"],
    "size": [None],
    "sum": ["x", "n", "d", None],
    "mean": ["x", "n", "d", None],
    "describe": ["x", "d", None],
    "value_counts": ["k", "s", "b", "d", "u"],
    "hist": ["x", "x", "x", "n", "d"],
    "var": ["x", "x", "n", "d"],
    "std": ["x", "x", "n", "d"],
    "agg": [None],
    "proportion": ["b", "b", "d", "x", "s"],  # a condition, a derived one, two that are not
    "bounds": ["x", "n", "d", "s"],  # needs no bounds: unclipped values, ±inf, NaN; text refused
}


@st.composite
def plans(draw: st.DrawFn, statistic: str) -> Query:
    raw = draw(st.integers(0, 9)) == 0  # one plan in ten: any column, any parameter
    params = draw(st.sampled_from(PARAMS.get(statistic, [{}]) + (ANY_PARAMS if raw else [])))
    if raw:
        column = draw(st.sampled_from([None, *NAMES]))
    else:
        column = draw(st.sampled_from(COLUMN_FOR.get(statistic, ["x", "n", "d"])))
    by: tuple[str, ...] = ()
    if RULES.get(statistic) is None or RULES[statistic].grouped:
        by = draw(
            st.sampled_from(
                [(), ("k",), ("s",), ("b",), ("d",), ("u",), ("k", "s"), ("x",), ("pid",)]
            )
        )
    if statistic == "agg":
        by = by or ("k",)
    # half the plans read the source as registered, half derive or filter first
    plan_steps = draw(st.one_of(st.just([]), st.lists(steps, min_size=1, max_size=3)))
    wants_d = column == "d" or "d" in by or "d" in str(params)
    if wants_d and not raw and not any(x.kind == "assign" and x.name == "d" for x in plan_steps):
        plan_steps.insert(0, Step("assign", draw(typed("any")), "d"))
    return Query("t", tuple(plan_steps), statistic, column, by, tuple(sorted(params.items())))


_in_range = st.fixed_dictionaries(
    {"epsilon": st.sampled_from([1e-6, 0.01, 0.5, 1.0, 10.0])},
    optional={"alpha": st.sampled_from([0.05, 0.5, 1e-12])},
)
options = st.one_of(
    *[_in_range] * 9,
    st.fixed_dictionaries(  # one in ten out of range: refused, the same way on both sides
        {"epsilon": st.sampled_from([5e-324, 1e300, 1.0])}, optional={"alpha": st.just(0.9)}
    ),
)

# --- running a plan on two data sets --------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # "released", "estimate" or a refusal's code
    message: str
    cells: list[tuple[tuple[Any, ...], str]]
    observed: list[mech.Observation]
    persons: int = 0  # privacy units in the data set
    max_rows: int = 1  # rows each keeps


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise AssertionError(f"a run took more than {seconds} s: it hangs")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_on(data: pl.DataFrame, reg: Registration, query: Query, opts: dict[str, Any]) -> Outcome:
    out = _run_on(data, reg, query, opts)
    out.persons = data.get_column("pid").drop_nulls().n_unique()
    out.max_rows = reg.max_rows
    return out


def _run_on(data: pl.DataFrame, reg: Registration, query: Query, opts: dict[str, Any]) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="jp-fuzz-") as home:
        ws = Workspace(Path(home))
        try:
            ws.register(
                data,
                name="t",
                privacy_unit="pid",
                max_rows_per_unit=reg.max_rows,
                budget=reg.budget,
                bounds=reg.bounds,
                keys=reg.keys,
                dtypes=DTYPES_OF,
                not_null=reg.not_null,
            )
            observed: list[mech.Observation] = []
            # describe pads its quantiles by a released count: compare under one public padding
            with (
                _deadline(HANG_SECONDS),
                mech.observe_pre_noise(observed.append),
                mech.fixed_padding_count(PADDING_COUNT),
                fixed_bounds(AUTO_BOUNDS),
            ):
                try:
                    result = ws.run(query, **opts)
                except PrivacyError as exc:
                    return Outcome(exc.code, str(exc), [], observed)
        finally:
            ws.close()
            ROW_CACHE.clear()
    if isinstance(result, Estimate):
        return Outcome("estimate", repr(result.epsilon), [], observed)
    cells = [result.cell] if isinstance(result, Release) else list(result.cells)
    assert isinstance(result, Release | ReleaseTable)
    return Outcome("released", "", [(tuple(c.key), c.statistic) for c in cells], observed)


def without_one_person(data: pl.DataFrame, pick: int) -> pl.DataFrame:
    people = data.get_column("pid").drop_nulls().unique(maintain_order=True).to_list()
    if not people:
        return data
    return data.filter(pl.col("pid").ne_missing(people[pick % len(people)]))


# --- comparing what each mechanism was given ------------------------------------------------------


def _distance(metric: str, a: Any, b: Any, keys_a: Any, keys_b: Any) -> tuple[float, ...]:
    if metric == "absolute":
        return (abs(a - b),)
    if keys_a is not None and keys_b is not None and tuple(keys_a) != tuple(keys_b):
        common = [k for k in keys_a if k in set(keys_b)]  # thresholded keys: compare shared ones
        pos_a = {k: i for i, k in enumerate(keys_a)}
        pos_b = {k: i for i, k in enumerate(keys_b)}
        a = [a[pos_a[k]] for k in common]
        b = [b[pos_b[k]] for k in common]
    if metric in ("l1", "l2", "linf"):
        assert len(a) == len(b), "a vector mechanism saw vectors of different lengths"
        diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
        if metric == "l1":
            return (sum(diffs),)
        if metric == "l2":
            return (math.sqrt(sum(d * d for d in diffs)),)
        return (max(diffs, default=0),)
    # thresholded counts: (l0, l1 or l2, l∞) over the union of keys
    diffs = [abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b)]
    second = sum(diffs) if metric == "l0-l1-linf" else math.sqrt(sum(d * d for d in diffs))
    return (sum(1 for d in diffs if d), second, max(diffs, default=0))


def _size(metric: str, value: Any, empty: Any = None) -> tuple[float, ...]:
    """The distance of a mechanism's input from its value on the empty data set: 0 for every
    input the engine builds (counts, sums, quantile scores, thresholded counts) but the scores
    of padded quantiles, whose observation carries the public rows' own scores."""
    if metric == "absolute":
        return (abs(value),)
    if metric in ("l1", "l2", "linf"):
        zero = tuple(empty) if empty is not None else (0,) * len(value)
        return _distance(metric, tuple(value), zero, None, None)
    return _distance(metric, value, {}, None, None)


def check_from_empty(out: Outcome) -> None:
    """Removing the persons one by one reaches the empty data set, so no input may lie further
    from its empty value than ``persons`` sensitivities: this catches a wrapped sum whatever the
    table's size, where comparing two neighbours only catches the one size that crosses 2⁶³."""
    rows = out.persons * out.max_rows  # at most, after contribution bounding
    for o in out.observed:
        if o.row_range is not None:  # a sum of rows each within row_range
            lo, hi = rows * min(o.row_range[0], 0), rows * max(o.row_range[1], 0)
            values = [o.value] if o.metric == "absolute" else list(o.value)
            assert all(lo <= v <= hi for v in values), (
                f"{o.mechanism} input {values} outside [{lo}, {hi}]: {rows} rows of "
                f"{o.row_range} cannot sum to it (a wrapped sum?)"
            )
        bound = o.sensitivity if isinstance(o.sensitivity, tuple) else (o.sensitivity,)
        size = _size(o.metric, o.value, o.empty)
        assert all(m <= out.persons * s for m, s in zip(size, bound, strict=True)), (
            f"{o.mechanism} ({o.metric}) is {size} from its empty value, more than "
            f"{out.persons} persons × sensitivity {bound}"
        )


def check_neighbours(d: Outcome, d_prime: Outcome) -> None:
    assert d.kind != "release_failed" and d_prime.kind != "release_failed", (
        f"a release failed after the charge: {d.message or d_prime.message}"
    )
    assert (d.kind, d.message) == (d_prime.kind, d_prime.message), (
        f"the outcome depends on one person: {d.kind} {d.message!r} vs "
        f"{d_prime.kind} {d_prime.message!r}"
    )
    for out in (d, d_prime):
        assert len(out.cells) == len(set(out.cells)), f"duplicate released cells: {out.cells}"
        assert len(out.cells) <= MAX_CELLS
        check_from_empty(out)
    thresholded = any(o.mechanism == "threshold" for o in d.observed + d_prime.observed)
    if not thresholded:
        assert d.cells == d_prime.cells, "the released keys depend on one person"
        assert len(d.observed) == len(d_prime.observed), "a mechanism ran on one side only"
    for a, b in zip(d.observed, d_prime.observed, strict=False):
        if (a.mechanism, a.metric) != (b.mechanism, b.metric):
            assert thresholded, "the mechanisms differ between neighbours"
            break
        assert a.sensitivity == b.sensitivity, "the calibrated sensitivity depends on the data"
        moved = _distance(a.metric, a.value, b.value, a.keys, b.keys)
        bound = a.sensitivity if isinstance(a.sensitivity, tuple) else (a.sensitivity,)
        assert all(m <= s for m, s in zip(moved, bound, strict=True)), (
            f"{a.mechanism} ({a.metric}) moved by {moved}, more than its sensitivity {bound}"
        )


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=not LONG_RUN,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Registration, Query]:
    """A registration and a plan. The statistic and x's bounds are one draw from their product,
    so that every pairing (a histogram over a subnormal width, a variance near 2⁶³) comes up
    about as often as any other, rather than as hypothesis' correlated draws happen to pair."""
    statistic, x_bounds = draw(
        st.sampled_from(list(itertools.product([*RULES, *FAVOURED, "apply"], X_BOUNDS)))
    )
    return draw(registrations(x_bounds)), draw(plans(statistic))


@FUZZ_SETTINGS
@given(
    data=tables(),
    case=cases(),
    opts=options,
    pick=st.integers(0, 10),
)
def test_no_plan_depends_on_one_person_beyond_what_it_pays_for(
    data: pl.DataFrame, case: tuple[Registration, Query], opts: dict[str, Any], pick: int
) -> None:
    reg, query = case
    check_neighbours(
        run_on(data, reg, query, opts), run_on(without_one_person(data, pick), reg, query, opts)
    )


# --- every aggregate against every extreme registration --------------------------------------------
#
# The grammar fuzzer above spreads its examples over the whole plan space, so a pairing such as
# a histogram over a subnormal width on a table with one person comes up a few times per
# thousand. Here each (statistic, bounds) pairing of the aggregates gets its own search over
# tables, parameters and contribution bounds: every such pairing is tried every run.

AGGREGATES = [s for s in RULES if s != "agg"]
PER_PAIRING = int(os.environ.get("JP_FUZZ_PER_PAIRING", "8"))


def fuzz_pairing(
    statistic: str, x_bounds: tuple[float, float], examples: int, shrink: bool = True
) -> None:
    """Run one statistic on tables, parameters and registrations with x's bounds fixed."""
    phases = list(Phase) if shrink else [Phase.generate]

    @settings(FUZZ_SETTINGS, max_examples=examples, phases=phases)
    @given(
        data=tables(),
        reg=registrations(x_bounds),
        params=st.sampled_from(PARAMS.get(statistic, [{}])),
        column=st.sampled_from([*COLUMN_FOR.get(statistic, ["x"])[:1], "x"]),
        by=st.sampled_from([(), ("k",)] if RULES[statistic].grouped else [()]),
        epsilon=st.sampled_from([1e-6, 1.0]),
        pick=st.integers(0, 10),
    )
    def run(
        data: pl.DataFrame,
        reg: Registration,
        params: dict[str, Any],
        column: str | None,
        by: tuple[str, ...],
        epsilon: float,
        pick: int,
    ) -> None:
        query = Query("t", (), statistic, column, by, tuple(sorted(params.items())))
        opts = {"epsilon": epsilon}
        check_neighbours(
            run_on(data, reg, query, opts),
            run_on(without_one_person(data, pick), reg, query, opts),
        )

    run()


@pytest.mark.parametrize("x_bounds", X_BOUNDS, ids=[str(b) for b in X_BOUNDS])
@pytest.mark.parametrize("statistic", AGGREGATES)
def test_every_aggregate_on_every_extreme_registration(
    statistic: str, x_bounds: tuple[float, float]
) -> None:
    fuzz_pairing(statistic, x_bounds, PER_PAIRING)


# --- the fixes, reverted: the fuzzer must find each class of the privacy-kernel issue ---------------


def _old_fixed_point_bits(lo: float, hi: float) -> int:
    """Before: the digits were clamped to [-30, 40], so wide bounds scaled past 2³⁰ and sums
    of a few rows wrapped around int64."""
    m = max(abs(lo), abs(hi), 2.0**-20)
    return int(max(-30, min(40, math.floor(30 - math.log2(m)))))


def _old_hist_edges(bounds: tuple[float, float], bins: int) -> tuple[float, ...]:
    """Before: equal-width edges were never checked, so narrow bounds gave repeated edges."""
    return tuple(float(v) for v in np.linspace(bounds[0], bounds[1], bins + 1))


def _old_bin_of(value: pl.Expr, edges: tuple[float, ...], closed: str) -> pl.Expr:
    """Before: the bin was (x - lo) / width cast strictly, which raises on the NaN or inf of
    a width that underflows to 0, but only when some row reaches it."""
    width = (edges[-1] - edges[0]) / (len(edges) - 1)
    index = ((value.cast(pl.Float64) - edges[0]) / width).floor().cast(pl.Int64)
    return index.clip(0, len(edges) - 2)


def _old_label_of(index: pl.Expr, labels: tuple[str, ...]) -> pl.Expr:
    return pl.lit(list(labels)).list.get(index)


def _old_bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """Before: labels printed with %g, so equal (or close) edges gave equal keys."""
    n = len(edges) - 1
    return tuple(f"[{edges[i]:g}, {edges[i + 1]:g})" for i in range(n))


REVERTED: dict[str, tuple[dict[str, Any], list[tuple[str, tuple[float, float]]]]] = {
    "wrap-around": (
        {"fixed_point_bits": _old_fixed_point_bits},
        [("var", (0, 1e14)), ("std", (0, 1e14)), ("describe", (0, 1e14))],
    ),
    "error oracle": (
        {"hist_edges": _old_hist_edges, "bin_of": _old_bin_of, "label_of": _old_label_of},
        [("hist", (0, 5e-324))],
    ),
    "duplicate cells": (
        {"hist_edges": _old_hist_edges, "bin_labels": _old_bin_labels},
        [("hist", (0, 0)), ("hist", (0, 5e-324))],
    ),
}


@pytest.mark.parametrize("name", list(REVERTED))
def test_the_fuzzer_finds_each_class_when_its_fix_is_reverted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_privacy.core import validate
    from jupyter_privacy.core.engine.aggregates import fixed_point, histograms

    patches, pairings = REVERTED[name]
    for attr, old in patches.items():
        for module in (fixed_point, histograms, validate):
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, old)
    found = 0
    for statistic, x_bounds in pairings:
        try:
            fuzz_pairing(statistic, x_bounds, PER_PAIRING, shrink=False)
        except AssertionError:
            found += 1
    assert found, f"with the {name} fix reverted, the fuzzer found nothing"


# --- the fuzzer's own checks ----------------------------------------------------------------------


def test_the_grammar_covers_every_operator_and_statistic() -> None:
    """A new operator or statistic must join the fuzzer's grammar (this fails until it does)."""
    unary = {"neg", "abs", "not", "isna", "notna"}
    fuzzed_ops = {"col", "lit", "isin", "clip", "fillna", "cast", "cut", *BINARY, *COMPARE}
    fuzzed_ops |= set(LOGICAL) | unary
    assert set(SHAPES) <= fuzzed_ops
    assert set(RULES) | set(PARAMS) == set(RULES)  # every parameterised statistic is drawn
    assert all(name in PARAMS for name, rule in RULES.items() if rule.params)


def test_the_checks_catch_a_mechanism_that_moves_too_far() -> None:
    """The comparison itself can fail: an input that moves by twice its sensitivity."""
    base = Outcome(
        "released", "", [((), "count")], [mech.Observation("noise", "absolute", 1, 10)], 10
    )
    moved = Outcome(
        "released", "", [((), "count")], [mech.Observation("noise", "absolute", 1, 12)], 12
    )
    with pytest.raises(AssertionError, match="more than its sensitivity"):
        check_neighbours(base, moved)
    far = Outcome(
        "released", "", [((), "sum")], [mech.Observation("noise", "absolute", 5, -(2**62))], 3
    )
    with pytest.raises(AssertionError, match="from its empty value"):
        check_neighbours(far, far)
    square = mech.Observation("noise", "absolute", 2**61, -(2**62), None, (0, 2**61))
    wrapped = Outcome("released", "", [((), "var")], [square], 4)
    with pytest.raises(AssertionError, match="a wrapped sum"):
        check_neighbours(wrapped, wrapped)
    two = Outcome("released", "", [(("a",), "count"), (("a",), "count")], [])
    with pytest.raises(AssertionError, match="duplicate released cells"):
        check_neighbours(two, two)
    failed = Outcome("release_failed", "x", [], [])
    with pytest.raises(AssertionError, match="failed after the charge"):
        check_neighbours(failed, base)
