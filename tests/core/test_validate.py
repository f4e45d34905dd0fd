"""The validation pass and the total run-time semantics it relies on.

The public schema must predict the data exactly where it claims keys (a cast's keys are the keys
the engine's cast produces), keys stay unique after every derivation, the fast pre-noise paths
are OpenDP's own transformations on any bounds the limits allow, and the bugs the neighbour
fuzzer found stay fixed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import opendp.prelude as dp
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import jupyter_privacy as jp
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.fixed_point import Numeric as _Numeric
from jupyter_privacy.core.engine.aggregates.fixed_point import fixed_point_bits
from jupyter_privacy.core.engine.data import as_kind, compile_expr
from jupyter_privacy.core.errors import InvalidArgumentError, UnsupportedOperationError
from jupyter_privacy.core.expr import Expr
from jupyter_privacy.core.limits import BOUND_MAX, MAX_CELLS
from jupyter_privacy.core.plan import Query, Step
from jupyter_privacy.core.schema import CASTS, ColumnInfo, Kind, cast_info, infer, unique_keys
from jupyter_privacy.core.validate import RULES, bin_labels, hist_edges
from jupyter_privacy.core.workspace import Workspace

dp.enable_features("contrib")

POLARS = {"int": pl.Int64, "float": pl.Float64, "str": pl.String, "bool": pl.Boolean}
KEYS: dict[str, list[Any]] = {
    "int": [0, 1, -7, 2**53 + 1, 2**53, 2**62],
    "float": [0.0, 1.5, -2.25, 1e15, 2.0**53 + 2, 0.1],
    "str": ["a", "", "1", "x y"],
    "bool": [False, True],
}


# --- casts: the keys the schema predicts are the keys the engine produces ----------------------


@pytest.mark.parametrize("pair", sorted(CASTS), ids=lambda p: f"{p[0]}->{p[1]}")
def test_a_casts_predicted_keys_are_what_the_engine_makes_of_them(pair: tuple[str, str]) -> None:
    source, target = pair
    keys = tuple(KEYS[source])
    info = cast_info(
        ColumnInfo(source, None, keys), target, Expr("cast", (Expr.col("c"), target)), "t"
    )  # type: ignore[arg-type]
    frame = pl.DataFrame({"c": pl.Series(keys, dtype=POLARS[source])})
    made = frame.select(as_kind(pl.col("c"), source, target)).to_series().to_list()  # type: ignore[arg-type]
    if info.keys is None:
        assert CASTS[pair] is None  # only casts with no exact key map lose their keys
        return
    assert set(info.keys) == {v for v in made if v is not None}
    assert len(info.keys) == len(set(info.keys))


def test_casts_outside_the_table_are_refused() -> None:
    for source, target in [("float", "str"), ("str", "bool"), ("other", "int")]:
        with pytest.raises(UnsupportedOperationError, match="cannot be cast"):
            cast_info(ColumnInfo(source), target, Expr("cast", (Expr.col("c"), target)), "t")  # type: ignore[arg-type]


@given(
    st.lists(
        st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.booleans(), st.text(max_size=2)),
        max_size=12,
    )
)
def test_unique_keys_keep_one_of_each_value_as_the_data_would_group_them(keys: list[Any]) -> None:
    def group(k: Any) -> tuple[str, Any]:  # how a column of one kind groups its values
        return (type(k).__name__, k) if isinstance(k, str | bool) else ("number", float(k))

    out = unique_keys(keys)
    assert len({group(k) for k in out}) == len(out)
    assert {group(k) for k in out} == {group(k) for k in keys}


# --- typing -------------------------------------------------------------------------------------

SCHEMA = {
    "i": ColumnInfo("int", (0, 10), (1, 2)),
    "f": ColumnInfo("float", (0.0, 1.0)),
    "s": ColumnInfo("str", None, ("a", "b")),
    "b": ColumnInfo("bool", None, (False, True)),
    "d": ColumnInfo("other"),
}


@pytest.mark.parametrize(
    "expr, error, words",
    [
        (
            Expr("gt", (Expr.col("f"), Expr.lit("x"))),
            UnsupportedOperationError,
            "two numbers or two texts",
        ),
        (Expr("eq", (Expr.col("b"), Expr.lit(1))), UnsupportedOperationError, "same kind"),
        (Expr("eq", (Expr.col("s"), Expr.lit(None))), UnsupportedOperationError, "same kind"),
        (Expr("add", (Expr.col("s"), Expr.lit(1))), UnsupportedOperationError, "two numbers"),
        (Expr("and", (Expr.col("i"), Expr.col("b"))), UnsupportedOperationError, "boolean"),
        (Expr("fillna", (Expr.col("i"), "1")), InvalidArgumentError, "kind (int)"),
        (Expr("isin", (Expr.col("s"), (1, 2))), InvalidArgumentError, "kind (str)"),
        (Expr("clip", (Expr.col("f"), 0, 1e16)), InvalidArgumentError, "within ±1e+15"),
        (Expr("clip", (Expr.col("f"), 1, 0)), InvalidArgumentError, "reversed"),
        (Expr("cut", (Expr.col("f"), (0, 0, 1), ("x", "y"))), InvalidArgumentError, "strictly"),
        (Expr("cut", (Expr.col("f"), (0, 1, 2), ("x", "x"))), InvalidArgumentError, "distinct"),
        (Expr("lit", (2**63,)), InvalidArgumentError, "int64"),
        (Expr("lit", ("x" * 1025,)), InvalidArgumentError, "text of at most"),
        (Expr("col", ("nope",)), InvalidArgumentError, "no column"),
        (Expr("not", ()), InvalidArgumentError, "malformed"),
        (Expr("neg", (Expr.col("d"),)), UnsupportedOperationError, "a number"),
        (Expr("cast", (Expr.col("i"), "date")), InvalidArgumentError, "astype takes"),
    ],
)
def test_expressions_are_typed_against_the_public_schema(
    expr: Expr, error: type[Exception], words: str
) -> None:
    with pytest.raises(
        error, match=words.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")
    ):
        infer(expr, SCHEMA, "t")


def test_derived_bounds_beyond_the_ceiling_become_unbounded() -> None:
    huge = infer(Expr("mul", (Expr.col("f"), Expr.lit(2e18))), SCHEMA, "t")
    assert huge.kind == "float" and huge.bounds is None
    ok = infer(Expr("mul", (Expr.col("f"), Expr.lit(1e15))), SCHEMA, "t")
    assert ok.bounds == (0.0, 1e15)


def test_an_expression_too_deep_or_too_large_is_refused() -> None:
    deep = Expr.col("f")
    for _ in range(100):
        deep = Expr("neg", (deep,))
    with pytest.raises(InvalidArgumentError, match="too large"):
        infer(deep, SCHEMA, "t")


def test_every_statistic_has_a_rule_and_every_rule_a_statistic() -> None:
    from jupyter_privacy.core.plan import STATISTICS

    assert set(RULES) == {*STATISTICS, "agg"}


# --- plans, through the workspace ----------------------------------------------------------------


@pytest.fixture
def source(ws: Workspace) -> Workspace:
    frame = pl.DataFrame(
        {
            "pid": [1, 1, 2, 3, 4, 5],
            "x": [1.0, 2.0, 3.0, None, 5.0, 6.0],
            "s": ["a", "b", "a", "b", "c", "a"],
            "n": [1, 2, 3, 4, 5, 6],
        }
    )
    ws.register(
        frame,
        name="t",
        privacy_unit="pid",
        max_rows_per_unit=3,
        budget=jp.Budget(epsilon=1e4, delta=1e-2),
        bounds={"x": (0, 10)},
        keys={"n": [1, 2, 3, 4, 5, 6]},
    )
    return ws


def test_a_parameter_a_statistic_does_not_take_is_refused_in_process(source: Workspace) -> None:
    with pytest.raises(InvalidArgumentError, match="count does not take the parameter 'raw'"):
        source.run(Query("t", (), "count", params=(("raw", True),)), epsilon=1.0)
    assert source.budget_state("t").epsilon_spent == 0


def test_an_agg_plan_without_its_spec_is_refused_not_crashed(source: Workspace) -> None:
    """Found by the fuzzer's long run: a raw plan could leave agg's spec out (a KeyError)."""
    with pytest.raises(InvalidArgumentError, match="agg needs a spec"):
        source.run(Query("t", (), "agg", None, ("n",)), epsilon=1.0)
    assert source.budget_state("t").epsilon_spent == 0


def test_unknown_keys_with_several_rows_per_person_are_thresholded(source: Workspace) -> None:
    """Regression: the threshold search started below the l-infinity sensitivity (3 here)."""
    table = source.run(Query("t", (), "size", None, ("s",)), epsilon=1.0)
    assert {c.key[0] for c in table.cells} <= {"a", "b", "c"}  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["s", "n"])
def test_a_group_key_may_share_a_name_with_the_engines_aggregates(ws: Workspace, key: str) -> None:
    """Regression: grouping by a column named s, n or q collided with the aggregate names."""
    frame = pl.DataFrame({"pid": [1, 2, 3], key: [1, 2, 1], "x": [1.0, 2.0, 3.0]})
    ws.register(
        frame,
        name="g",
        privacy_unit="pid",
        budget=jp.Budget(epsilon=1e4),
        bounds={"x": (0, 5)},
        keys={key: [1, 2]},
    )
    table = ws.run(Query("g", (), "var", "x", (key,)), epsilon=100.0)
    assert len(table.cells) == 2  # type: ignore[union-attr]


def test_a_constant_column_is_computed_not_failed(source: Workspace) -> None:
    """Regression: polars failed a whole query on a constant when-branch."""
    const = Expr("add", (Expr.lit(0), Expr("neg", (Expr.lit(0),))))
    table = source.run(Query("t", (Step("assign", const, "d"),), "sum", "d", ("n",)), epsilon=1.0)
    assert [c.value for c in table.cells] == [0.0] * 6  # type: ignore[union-attr]


def test_bounds_of_a_single_point_give_finite_intervals(source: Workspace) -> None:
    """Regression: a zero sensitivity gave OpenDP a vanishing scale and a -inf half-width."""
    point = Step("assign", Expr("clip", (Expr.col("x"), 2, 2)), "p")
    table = source.run(Query("t", (point,), "describe", "p"), epsilon=1.0)
    for cell in table.cells:  # type: ignore[union-attr]
        assert math.isfinite(cell.value)
        if cell.ci_low is not None:
            assert math.isfinite(cell.ci_low) and math.isfinite(cell.ci_high)  # type: ignore[arg-type]


def test_the_cell_cap_is_checked_before_keys_are_built(ws: Workspace) -> None:
    keys = list(range(200))
    frame = pl.DataFrame({"a": [1], "b": [1], "c": [1]})
    ws.register(
        frame, name="c", budget=jp.Budget(epsilon=1.0), keys={"a": keys, "b": keys, "c": keys}
    )
    with pytest.raises(
        InvalidArgumentError, match=f"8,000,000 cells, more than the cap of {MAX_CELLS:,}"
    ):
        ws.run(Query("c", (), "size", None, ("a", "b", "c")), epsilon=0.5)


# --- the public schema ----------------------------------------------------------------------------


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("pid,age,state,visits,note\n" + "\n".join(rows) + "\n")
    return path


def test_csv_kinds_come_from_the_declaration_never_from_a_value(
    ws: Workspace, tmp_path: Path
) -> None:
    rows = [f"{i},{20 + i},CA,{i % 5},x" for i in range(2000)]
    plain = _csv(tmp_path / "a.csv", rows)
    rows[1500] = "1500,abc,NY,7.5,1"  # one person's odd values, far past any inference window
    odd = _csv(tmp_path / "b.csv", rows)
    kwargs: dict[str, Any] = dict(
        privacy_unit="pid",
        budget=jp.Budget(epsilon=1.0),
        bounds={"age": (0, 110)},
        keys={"state": ["CA", "NY"]},
        dtypes={"visits": "int"},
    )
    a = ws.register(plain, name="a", **kwargs)
    b = ws.register(odd, name="b", **kwargs)
    kinds = {c: i.kind for c, i in a.schema.items()}
    assert kinds == {c: i.kind for c, i in b.schema.items()}
    assert kinds == {"pid": "str", "age": "float", "state": "str", "visits": "int", "note": "str"}


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"bounds": {"pid": (0, 10)}}, "it cannot have bounds"),
        ({"dtypes": {"pid": "float"}}, "must be an int or str column, not float"),
        ({"dtypes": {"age": "date"}}, "dtypes for 'age' must be one of int, float, str, bool"),
        (
            {"keys": {"state": [1, 2]}, "dtypes": {"state": "str"}},
            "must be of the column's kind (str)",
        ),
        ({"bounds": {"age": (0, 1e16)}}, "must lie within ±1e+15"),
    ],
)
def test_registrations_that_would_move_or_break_the_schema_are_refused(
    ws: Workspace, tmp_path: Path, kwargs: dict[str, Any], words: str
) -> None:
    path = _csv(tmp_path / "p.csv", ["1,30,CA,1,x"])
    with pytest.raises(
        jp.PrivacyError, match=words.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")
    ):
        ws.register(path, name="p", privacy_unit="pid", budget=jp.Budget(epsilon=1.0), **kwargs)


def test_a_float_privacy_unit_in_a_frame_is_refused(ws: Workspace) -> None:
    frame = pd.DataFrame({"pid": [1.0, 2.0, float("nan")], "x": [1, 2, 3]})
    with pytest.raises(jp.PolicyError, match="ids read as floats merge above 2"):
        ws.register(frame, name="f", privacy_unit="pid", budget=jp.Budget(epsilon=1.0))


def test_columns_named_like_the_engines_own_are_refused(ws: Workspace) -> None:
    with pytest.raises(jp.PolicyError, match="starts with '__'"):
        ws.register(pl.DataFrame({"__n__": [1]}), name="r", budget=jp.Budget(epsilon=1.0))


# --- the fast pre-noise paths are OpenDP's transformations, on any bounds the limits allow --------

bound_values = st.floats(-BOUND_MAX, BOUND_MAX, allow_nan=False) | st.sampled_from(
    [0.0, 5e-324, -5e-324, 1e-300, BOUND_MAX, -BOUND_MAX, 1e14, 2.0**-20]
)


@given(
    arrays(
        np.float64,
        st.integers(0, 200),
        elements=st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf, 1.7e308]),
    ),
    bound_values,
    bound_values,
)
def test_fixed_point_sums_equal_opendps_integer_sum_at_any_bounds(
    values: np.ndarray, a: float, b: float
) -> None:
    lo, hi = min(a, b), max(a, b)
    num = _Numeric(None, "x", (lo, hi))  # type: ignore[arg-type]
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    for ints, total, row_lo, row_hi in [
        (num.fixed(), num.int_sum(), num.lo_int, num.hi_int),
        (
            num.fixed() - num.c_int,
            num.centred_sum(),
            num.lo_int - num.c_int,
            num.hi_int - num.c_int,
        ),
    ]:
        column = frame.select(ints).to_series().to_numpy().astype(np.int64)
        assert column.min(initial=row_lo) >= row_lo and column.max(initial=row_hi) <= row_hi
        domain = dp.vector_domain(dp.atom_domain(bounds=(int(row_lo), int(row_hi)), T=dp.i64))
        theirs = dp.t.make_sum(domain, dp.symmetric_distance())(column.tolist())
        assert int(frame.select(total).item() or 0) == theirs
    assert max(abs(num.lo_int), abs(num.hi_int), num.sq_hi) < 2**30
    assert fixed_point_bits(lo, hi) == num.p


@given(
    st.lists(st.sampled_from(["a", "b", "c", "zz"]) | st.none(), max_size=300),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True),
)
def test_grouped_counts_equal_opendps_count_by_categories(
    values: list[str | None], categories: list[str]
) -> None:
    from jupyter_privacy.core.engine.aggregates.base import aligned as _aligned

    frame = pl.DataFrame({"k": values}, schema={"k": pl.String})
    grouped = frame.filter(pl.col("k").is_not_null()).group_by("k").agg(pl.len().alias("__n__"))
    ours = _aligned(grouped, ("k",), [(c,) for c in categories], "__n__")
    trans = dp.t.make_count_by_categories(
        dp.vector_domain(dp.atom_domain(T=dp.String)),
        dp.symmetric_distance(),
        categories=categories,
        null_category=False,
        TOA=dp.i64,
    )
    assert ours == trans([v for v in values if v is not None])


def test_histogram_edges_and_labels_are_strictly_increasing_and_distinct() -> None:
    assert hist_edges((0.0, 5e-324), 2) == ()
    assert hist_edges((1.0, 1.0), 1) == ()
    edges = hist_edges((0.0, 1e-9), 10_000)
    labels = bin_labels(edges)
    assert len(set(labels)) == len(labels) == 10_000


def test_every_compiled_expression_is_total_on_adversarial_values() -> None:
    """NaN, ±inf, the extremes of int64 and float64: every operator gives a value or null."""
    frame = pl.DataFrame(
        {
            "i": pl.Series([0, -(2**63), 2**63 - 1, None, 7], dtype=pl.Int64),
            "f": pl.Series([0.0, math.inf, -math.inf, None, 1.7e308], dtype=pl.Float64),
            "s": pl.Series(["", "1", "nan", None, "x"], dtype=pl.String),
        }
    )
    schema: dict[str, ColumnInfo] = {
        "i": ColumnInfo("int"),
        "f": ColumnInfo("float"),
        "s": ColumnInfo("str"),
    }
    exprs = [
        Expr("truediv", (Expr.col("i"), Expr.col("f"))),
        Expr("mul", (Expr.col("f"), Expr.lit(1.7e308))),
        Expr("abs", (Expr.col("i"),)),
        Expr("cast", (Expr.col("s"), "float")),
        Expr("cast", (Expr.col("s"), "int")),
        Expr("cast", (Expr.col("f"), "int")),
        Expr("cut", (Expr.col("f"), (0, 1, 2), ("a", "b"))),
        Expr("isin", (Expr.col("i"), (1, 2.5))),
        Expr("clip", (Expr.col("i"), 0.5, 2.5)),
        Expr("fillna", (Expr.col("i"), 0.5)),
    ]
    for expr in exprs:
        infer(expr, schema, "t")
        out = frame.select(compile_expr(expr, schema).alias("v")).to_series()
        assert out.len() == frame.height
        if out.dtype.is_float():
            assert not out.is_nan().any()
    assert _kind_of(Expr("cast", (Expr.col("i"), "str")), schema) == "str"


def _kind_of(expr: Expr, schema: dict[str, ColumnInfo]) -> Kind:
    return infer(expr, schema, "t").kind


def test_the_observer_sees_what_the_noise_is_given(source: Workspace) -> None:
    seen: list[mech.Observation] = []
    with mech.observe_pre_noise(seen.append):
        source.run(Query("t", (), "count"), epsilon=1.0)
    assert [(o.mechanism, o.metric, o.sensitivity, o.value) for o in seen] == [
        ("noise", "absolute", 3, 6)  # six rows, three per person at most
    ]


@pytest.mark.parametrize(
    ("op", "keys", "expected"),
    [
        ("neg", (1, 2, 3), (-1, -2, -3)),
        ("abs", (-2, 2, 3), (2, 3)),
        ("neg", (-(2**63), 5), None),  # would leave int64: the engine wraps, so keys are unknown
    ],
)
def test_neg_and_abs_map_a_columns_public_keys(
    op: str, keys: tuple[int, ...], expected: tuple[int, ...] | None
) -> None:
    """Grouping by ``-k`` must release the keys the data can hold, not k's own (a released
    key that no row can have reads as a person-free zero count)."""
    schema = {"k": ColumnInfo("int", None, keys, nullable=False)}
    info = infer(Expr(op, (Expr.col("k"),)), schema, "t")
    assert info.keys == expected and not info.nullable
