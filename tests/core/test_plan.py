"""Plans are frozen, data-free, JSON round-trippable, and hash canonically."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from jupyter_privacy.core.expr import Expr
from jupyter_privacy.core.plan import Query, Step

names = st.sampled_from(["age", "income", "state", "x y"])
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=5),
    st.booleans(),
)
leaves = st.one_of(names.map(Expr.col), scalars.map(Expr.lit))


def _node(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.tuples(
        st.sampled_from(["add", "sub", "mul", "truediv", "eq", "lt", "and", "or"]),
        children,
        children,
    ).map(lambda t: Expr(t[0], (t[1], t[2])))
    unary = st.tuples(st.sampled_from(["neg", "not", "isna", "notna", "abs"]), children).map(
        lambda t: Expr(t[0], (t[1],))
    )
    isin = st.tuples(children, st.lists(scalars, max_size=3)).map(
        lambda t: Expr("isin", (t[0], tuple(t[1])))
    )
    clip = st.tuples(children, st.integers(-5, 0), st.integers(0, 5)).map(
        lambda t: Expr("clip", (t[0], t[1], t[2]))
    )
    return st.one_of(binary, unary, isin, clip)


exprs = st.recursive(leaves, _node, max_leaves=8)
steps = st.one_of(
    exprs.map(lambda e: Step("filter", e)),
    st.tuples(names, exprs).map(lambda t: Step("assign", t[1], t[0])),
    st.lists(names, min_size=1, max_size=3).map(lambda c: Step("select", columns=tuple(c))),
)
queries = st.builds(
    Query,
    source=st.sampled_from(["patients", "visits"]),
    steps=st.lists(steps, max_size=4).map(tuple),
    statistic=st.sampled_from(["count", "mean", "quantile", "size"]),
    column=st.one_of(st.none(), names),
    by=st.lists(names, max_size=2).map(tuple),
    params=st.sampled_from([(), (("q", (0.25, 0.75)),), (("bins", 10),), (("q", 0.5),)]),
)


@given(queries)
def test_a_plan_round_trips_through_json(query: Query) -> None:
    text = json.dumps(query.to_json())
    again = Query.from_json(json.loads(text))
    assert again == query
    assert again.digest() == query.digest()


@given(queries)
def test_the_canonical_form_does_not_depend_on_key_order(query: Query) -> None:
    shuffled = json.loads(
        json.dumps(query.to_json()), object_pairs_hook=lambda p: dict(reversed(p))
    )
    assert Query.from_json(shuffled).canonical() == query.canonical()


@given(queries, queries)
def test_different_plans_hash_differently(a: Query, b: Query) -> None:
    assert (a.digest() == b.digest()) == (a.canonical() == b.canonical())


def test_plans_are_frozen_and_readable() -> None:
    q = Query(
        "patients",
        (Step("filter", Expr("ge", (Expr.col("age"), Expr.lit(65)))),),
        "mean",
        "income",
        ("state",),
    )
    assert q.describe() == "patients[(patients.age >= 65)].groupby('state').income.mean()"
    try:
        q.statistic = "sum"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a plan must be immutable")
