"""``bounds="auto"``: declaring it, refusing it, and the bounds release later releases use."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_privacy.core import auto_bounds
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import (
    InvalidArgumentError,
    MissingBoundsError,
    PolicyError,
    PrivacyError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.expr import Expr
from jupyter_privacy.core.lineage import build_lineage
from jupyter_privacy.core.plan import Query, Step
from jupyter_privacy.core.policy import load_policy
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.workspace import Workspace

ROWS = 2000


def frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "pid": np.arange(ROWS),
            "age": rng.uniform(18, 89, ROWS),
            "income": rng.lognormal(10, 1, ROWS),
            "visits": rng.integers(0, 50, ROWS),
            "state": rng.choice(["CA", "NY"], ROWS),
        }
    )


def register(ws: Workspace, bounds: object, **extra: object) -> None:
    ws.register(
        frame(),
        name="p",
        privacy_unit="pid",
        budget=Budget(epsilon=10.0),
        bounds=bounds,
        keys={"state": ["CA", "NY"]},
        default_epsilon=1.0,
        **extra,
    )


def spent(ws: Workspace) -> float:
    return ws.budget_state("p").epsilon_spent


def test_auto_for_one_column_or_for_every_numeric_column_but_the_privacy_unit(
    ws: Workspace,
) -> None:
    register(ws, {"age": (0, 110), "income": "auto"})
    spec = ws.source("p")
    assert spec.auto_bounds == ("income",)
    assert spec.schema["income"].bounds is None and spec.schema["age"].bounds == (0, 110)
    assert spec.bounds_epsilon == 1.0  # the source's default_epsilon (EPSILON_SHARE = 1)

    register(ws, "auto", bounds_epsilon=0.25)
    spec = ws.source("p")
    assert spec.auto_bounds == ("age", "income", "visits")
    assert spec.bounds_epsilon == 0.25
    again = SourceDeclaration.from_description(spec.describe())
    assert again.bounds == dict.fromkeys(spec.auto_bounds, "auto")
    assert again.bounds_epsilon == 0.25


@pytest.mark.parametrize(
    ("bounds", "reason"),
    [
        ({"state": "auto"}, "bounds='auto' was given for 'state', which is str"),
        ({"pid": "auto"}, "the privacy unit 'pid' names people; it cannot have bounds"),
        ({"nope": "auto"}, "bounds names 'nope', which is not a column"),
        ({"age": "automatic"}, "bounds for 'age' must be a pair (low, high) or 'auto'"),
        ("everything", "bounds must map columns to (low, high) or 'auto', or be 'auto'"),
    ],
)
def test_bad_auto_declarations_are_refused_with_the_rule(
    ws: Workspace, bounds: object, reason: str
) -> None:
    with pytest.raises(PolicyError) as info:
        register(ws, bounds)
    assert reason in str(info.value)


def test_a_bounds_release_is_a_sorted_pair_on_the_public_grid_with_rank_errors(
    ws: Workspace,
) -> None:
    register(ws, {})
    out = ws.run(Query("p", (), "bounds", "income"), epsilon=1.0)
    assert isinstance(out, ReleaseTable)
    lower, upper = out.cells
    assert (lower.statistic, upper.statistic) == auto_bounds.LABELS
    assert lower.value < upper.value
    assert {lower.value, upper.value} <= set(auto_bounds.grid("float"))
    assert lower.rank_error and lower.rank_error > 0 and upper.rank_error == lower.rank_error
    assert spent(ws) == pytest.approx(1.0)
    ints = ws.run(Query("p", (), "bounds", "visits"), epsilon=1.0)
    assert isinstance(ints, ReleaseTable)
    assert all(c.value == int(c.value) for c in ints.cells)


def test_the_bounds_sit_at_the_documented_2_and_98_percent_points(ws: Workspace) -> None:
    """README and docs/bounds.md promise the 2% and 98% points: checked against the data, not
    against the module's own constant. At ε = 8 on 2,000 rows the rank error is a few rows."""
    register(ws, {})
    out = ws.run(Query("p", (), "bounds", "age"), epsilon=8.0)
    assert isinstance(out, ReleaseTable)
    lower, upper = (c.value for c in out.cells)
    ages = np.sort(frame()["age"].to_numpy())
    assert np.quantile(ages, 0.01) <= lower <= np.quantile(ages, 0.03)
    assert np.quantile(ages, 0.97) <= upper <= np.quantile(ages, 0.99)


def test_bounds_of_text_refused_before_any_charge(ws: Workspace) -> None:
    register(ws, {})
    with pytest.raises(UnsupportedOperationError) as info:
        ws.run(Query("p", (), "bounds", "state"), epsilon=1.0)
    assert "'state' is not numeric (str)" in str(info.value)
    assert spent(ws) == 0


def test_the_grid_is_public_symmetric_and_integral_for_ints() -> None:
    floats, ints = auto_bounds.grid("float"), auto_bounds.grid("int")
    assert floats == tuple(sorted(set(floats))) and 0.0 in floats
    assert floats == tuple(-v for v in reversed(floats))
    assert all(v == int(v) for v in ints) and ints == tuple(sorted(set(ints)))
    assert max(b / a for a, b in itertools.pairwise(floats[-5000:])) < 1.006
    i = len(floats) // 2 + 100
    assert auto_bounds.widen(floats[i], floats[i], floats) == (floats[i - 1], floats[i + 1])
    assert auto_bounds.widen(10.0, 2.0, floats) == (2.0, 10.0)


def test_a_mean_of_an_auto_column_first_releases_its_bounds_then_uses_them(
    ws: Workspace,
) -> None:
    register(ws, {"income": "auto"})
    mean = ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    assert isinstance(mean, Release)
    records = ws.releases("p")
    assert [r.plan["statistic"] for r in records if r.plan] == ["bounds", "mean"]
    bounds, made = records
    assert spent(ws) == pytest.approx(2.0)  # bounds at bounds_epsilon, then the mean
    low, high = (c.value for c in bounds.cells)
    assert low <= mean.value <= high
    assert f"bounds of 'income' from release {bounds.id}" in mean.mechanism
    assert auto_bounds.used_in(made.cost_key) == {"income": bounds.id}
    node = next(n for n in build_lineage(ws)["nodes"] if n["id"] == f"release:{made.id}")
    assert bounds.id in node["mechanism"]  # lineage names the bounds release it clipped to

    # a second run replays both for free; so does a new session on the same ledger
    again = ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    assert isinstance(again, Release) and again.replayed and float(again) == float(mean)
    ws2 = Workspace(ws.home)
    try:
        register(ws2, {"income": "auto"})
        later = ws2.run(Query("p", (), "mean", "income"), epsilon=1.0)
        assert isinstance(later, Release) and later.replayed and float(later) == float(mean)
        other = ws2.run(Query("p", (), "sum", "income"), epsilon=1.0)
        assert isinstance(other, Release) and not other.replayed
        assert bounds.id in other.mechanism  # the same bounds, not a new estimate
        assert ws2.budget_state("p").epsilon_spent == pytest.approx(3.0)
    finally:
        ws2.close()


def test_re_running_a_query_that_spent_the_budget_replays_it(ws: Workspace) -> None:
    """The bounds and the query used all of the budget; asking again is a free replay, in this
    session and the next, not a refusal for want of budget."""

    def run(w: Workspace) -> Release:
        w.register(
            frame(),
            name="p",
            privacy_unit="pid",
            budget=Budget(epsilon=2.0),
            bounds={"income": "auto"},
            default_epsilon=1.0,  # the bounds' ε too
        )
        out = w.run(Query("p", (), "mean", "income"), epsilon=1.0)
        assert isinstance(out, Release)
        return out

    first = run(ws)
    assert spent(ws) == pytest.approx(2.0)
    again = ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    assert isinstance(again, Release) and again.replayed and float(again) == float(first)
    ws2 = Workspace(ws.home)
    try:
        later = run(ws2)
        assert isinstance(later, Release) and later.replayed and float(later) == float(first)
    finally:
        ws2.close()


def test_a_rewritten_file_gets_bounds_of_its_own(ws: Workspace, tmp_path: Path) -> None:
    """Bounds released for one version of a file are not used for the next: the session keeps
    them per data version, so a mean of new data is not clipped to the old data's range."""
    csv = tmp_path / "p.csv"
    frame().to_csv(csv, index=False)
    kwargs = dict(name="p", privacy_unit="pid", budget=Budget(epsilon=50.0), bounds_epsilon=5.0)
    ws.register(csv, bounds={"age": "auto"}, **kwargs)  # type: ignore[arg-type]
    before = ws.run(Query("p", (), "mean", "age"), epsilon=5.0)
    assert isinstance(before, Release) and before.value < 100
    frame().assign(age=lambda d: d.age + 1000).to_csv(csv, index=False)
    after = ws.run(Query("p", (), "mean", "age"), epsilon=5.0)
    assert isinstance(after, Release) and after.value > 1000
    made = [r for r in ws.releases("p") if r.plan and r.plan["statistic"] == "bounds"]
    assert len(made) == 2


def test_abs_and_neg_of_an_auto_column_read_its_bounds(ws: Workspace) -> None:
    register(ws, {"income": "auto"})
    for op in ("abs", "neg"):
        step = Step("assign", Expr(op, (Expr.col("income"),)), "z")
        out = ws.run(Query("p", (step,), "mean", "z"), epsilon=1.0)
        assert isinstance(out, Release) and "bounds of 'income'" in out.mechanism


def test_accuracy_on_a_sum_of_an_auto_column_is_priced_on_its_released_bounds(
    ws: Workspace,
) -> None:
    register(ws, {"income": "auto"})
    out = ws.run(Query("p", (), "sum", "income"), accuracy=1e6)
    assert isinstance(out, Release) and "bounds of 'income'" in out.mechanism
    assert out.ci is not None and (out.ci[1] - out.ci[0]) / 2 <= 1e6


def test_a_frame_level_mean_and_a_derived_column_resolve_their_auto_bounds(
    ws: Workspace,
) -> None:
    register(ws, "auto")
    table = ws.run(Query("p", (), "mean"), epsilon=1.0)
    assert isinstance(table, ReleaseTable)
    assert len(table.cells) == 3  # one mean per auto column
    made = [r.query for r in ws.releases("p")]
    assert sum("bounds()" in q for q in made) == 3
    derived = Step("assign", Expr("mul", (Expr.col("age"), Expr("lit", (2,)))), "twice")
    out = ws.run(Query("p", (derived,), "mean", "twice"), epsilon=1.0)
    assert isinstance(out, Release) and "bounds of 'age'" in out.mechanism


def test_a_plan_refused_anyway_spends_nothing_on_bounds(ws: Workspace) -> None:
    register(ws, {"income": "auto"})
    with pytest.raises(InvalidArgumentError):
        ws.run(Query("p", (), "quantile", "income", params=(("q", 1.5),)), epsilon=1.0)
    with pytest.raises(MissingBoundsError):
        ws.run(Query("p", (), "mean", "age"), epsilon=1.0)  # age is neither declared nor auto
    assert spent(ws) == 0 and ws.releases("p") == []


@pytest.mark.parametrize(
    "options",
    [{"epsilon": -1.0}, {"epsilon": 1.0, "alpha": 2.0}, {"accuracy": -3.0}, {"epsilon": 9.5}],
    ids=["bad epsilon", "bad alpha", "bad accuracy", "bounds and query exceed the budget"],
)
def test_options_and_budget_are_checked_before_the_bounds_are_charged(
    ws: Workspace, options: dict[str, float]
) -> None:
    register(ws, {"income": "auto"})  # budget 10, bounds at 1: 1 + 9.5 does not fit
    with pytest.raises(PrivacyError):
        ws.run(Query("p", (), "mean", "income"), **options)
    assert spent(ws) == 0 and ws.releases("p") == []


def test_a_plan_that_reads_no_auto_bounds_pays_for_none(ws: Workspace) -> None:
    register(ws, {"income": "auto", "age": (0, 110)})
    clipped = Step("assign", Expr("clip", (Expr.col("income"), 0.0, 2e5)), "income")
    rich = Step("assign", Expr("gt", (Expr.col("income"), Expr("lit", (5e4,)))), "rich")
    selected = Step("select", columns=("pid", "age"))
    for query in (
        Query("p", (clipped,), "mean", "income"),  # clip sets the bounds itself
        Query("p", (rich,), "value_counts", "rich"),  # a comparison reads no bounds
        Query("p", (selected,), "mean"),  # income is not in the selection
    ):
        out = ws.run(query, epsilon=1.0)
        assert isinstance(out, Release | ReleaseTable)
        assert "bounds of" not in out.mechanism
    assert not [r for r in ws.releases("p") if r.plan and r.plan["statistic"] == "bounds"]


def test_int_bounds_round_outward_and_stay_increasing(ws: Workspace) -> None:
    register(ws, {"visits": "auto"})
    out = ws.run(Query("p", (), "mean", "visits"), epsilon=1.0)
    bounds = next(r for r in ws.releases("p") if r.plan and r.plan["statistic"] == "bounds")
    low, high = (c.value for c in bounds.cells)
    assert isinstance(out, Release) and low <= float(out) <= high


def test_auto_for_the_whole_source_with_no_numeric_column_is_refused(ws: Workspace) -> None:
    with pytest.raises(PolicyError, match="found no int or float column"):
        ws.register(
            pd.DataFrame({"s": ["a", "b"]}), name="q", budget=Budget(epsilon=1.0), bounds="auto"
        )


def test_a_dry_run_before_the_bounds_exist_is_refused_and_spends_nothing(ws: Workspace) -> None:
    register(ws, {"income": "auto"})
    with pytest.raises(InvalidArgumentError) as info:
        ws.run(Query("p", (), "mean", "income"), epsilon=1.0, dry_run=True)
    assert "estimated from the data on first use" in str(info.value)
    assert "p.income.bounds(epsilon=1.0)" in str(info.value)
    assert spent(ws) == 0
    ws.run(Query("p", (), "bounds", "income"), epsilon=1.0)
    estimate = ws.run(Query("p", (), "mean", "income"), epsilon=1.0, dry_run=True)
    assert isinstance(estimate, Estimate)
    assert spent(ws) == pytest.approx(1.0)


def test_re_registering_with_declared_bounds_stops_using_the_estimate(ws: Workspace) -> None:
    register(ws, {"income": "auto"})
    ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    register(ws, {"income": (0, 100_000)})
    out = ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    assert isinstance(out, Release) and not out.replayed and "bounds of" not in out.mechanism


def test_privacy_toml_declares_auto_bounds(tmp_path: Path) -> None:
    (tmp_path / "privacy.toml").write_text(
        "[sources.p]\n"
        'path = "p.csv"\n'
        "budget = { epsilon = 1.0 }\n"
        'bounds = { age = [0, 110], income = "auto" }\n'
        "bounds_epsilon = 0.2\n"
        "[sources.q]\n"
        'path = "q.csv"\n'
        "budget = { epsilon = 1.0 }\n"
        'bounds = "auto"\n'
    )
    policy = load_policy(tmp_path / "privacy.toml")
    p, q = policy.sources
    assert p.declaration.bounds == {"age": (0, 110), "income": "auto"}
    assert p.declaration.bounds_epsilon == 0.2
    assert q.declaration.bounds == "auto"


def test_a_reviewer_replays_the_bounds_and_the_release_from_the_manifest(
    ws: Workspace, tmp_path: Path
) -> None:
    register(ws, {"income": "auto"})
    mean = ws.run(Query("p", (), "mean", "income"), epsilon=1.0)
    manifest = ws.export_manifest()
    reviewer = Workspace(tmp_path / "reviewer")
    try:
        reviewer.load_manifest(manifest)
        reviewer.register("p.csv", name="p")  # no data: the manifest describes the source
        assert reviewer.source("p").auto_bounds == ("income",)
        again = reviewer.run(Query("p", (), "mean", "income"), epsilon=1.0)
        assert isinstance(again, Release) and again.replayed and float(again) == float(mean)
    finally:
        reviewer.close()
