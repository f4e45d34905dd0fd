"""The live widgets, the HTML renderers and release charts, tested on their models (no frontend).

Without a kernel ipywidgets opens a ``DummyComm``: the model, its synced traits and its
mimebundle behave as in a notebook, and nothing is sent anywhere.
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import pytest

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import BudgetExceededError, PrivacyError
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.frame import SensitiveFrame
from jupyter_privacy.jupyter import render
from jupyter_privacy.jupyter.widgets import BudgetMeter, LineagePanel
from jupyter_privacy.jupyter.widgets.budget_meter import LiveHTML, subscribe
from tests.conftest import STATES, make_patients

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SENTINEL_INCOME = 98_765.4321
SENTINEL_CITY = "Zyxwvut"
SECRETS = ("98765.43", "98,765.4", SENTINEL_CITY)


@pytest.fixture
def live() -> Iterator[list[LiveHTML]]:
    """Widgets made by a test, closed afterwards so none outlives it."""
    made: list[LiveHTML] = []
    yield made
    for w in made:
        w.close()


def _register(ws: Workspace, budget: Budget | None = None) -> SensitiveFrame:
    df = make_patients(400, seed=5)
    df.loc[3, "income"] = SENTINEL_INCOME
    df.loc[3, "city"] = SENTINEL_CITY
    ws.register(
        df,
        name="p",
        budget=budget or Budget(epsilon=1.0),
        bounds={"age": (18, 90), "income": (0, 250_000)},
        keys={"state": STATES},
    )
    return SensitiveFrame(ws, "p")


def _meter(ws: Workspace, live: list[LiveHTML]) -> BudgetMeter:
    meter = BudgetMeter(ws)
    live.append(meter)
    return meter


def _spent(meter: BudgetMeter) -> float:
    (state,) = meter.states
    return float(state["epsilon_spent"])


# --- budget meter ---------------------------------------------------------------------------------


def test_the_meter_states_change_on_every_charge(ws: Workspace, live: list[LiveHTML]) -> None:
    meter = _meter(ws, live)
    assert meter.states == []
    f = _register(ws)
    assert _spent(meter) == 0.0
    changes: list[list[dict[str, Any]]] = []
    meter.observe(lambda change: changes.append(change["new"]), names="states")
    f.age.mean(epsilon=0.2)
    f.income.sum(epsilon=0.2)
    f.groupby("state").size(epsilon=0.2)
    assert [c[0]["epsilon_spent"] for c in changes] == pytest.approx([0.2, 0.4, 0.6])
    assert [c[0]["epsilon_remaining"] for c in changes] == pytest.approx([0.8, 0.6, 0.4])
    assert "spent ε = 0.600 of 1" in meter.value


def test_a_replay_or_a_refusal_does_not_change_what_the_meter_shows(
    ws: Workspace, live: list[LiveHTML]
) -> None:
    f = _register(ws)
    meter = _meter(ws, live)
    f.age.mean(epsilon=0.6)
    before_states, before_html = meter.states, meter.value
    changes: list[object] = []
    meter.observe(changes.append, names=["states", "value"])
    assert f.age.mean(epsilon=0.6).replayed
    with pytest.raises(BudgetExceededError):
        f.income.mean(epsilon=0.5)
    assert changes == []
    assert meter.states == before_states and meter.value == before_html
    assert _spent(meter) == pytest.approx(0.6)


def test_every_displayed_meter_updates(ws: Workspace, live: list[LiveHTML]) -> None:
    f = _register(ws)
    first, second = _meter(ws, live), _meter(ws, live)
    f.count(epsilon=0.3)
    assert _spent(first) == _spent(second) == pytest.approx(0.3)
    assert first.value == second.value


def test_the_bar_turns_amber_past_80_percent_and_red_when_spent(
    ws: Workspace, live: list[LiveHTML]
) -> None:
    f = _register(ws)
    meter = _meter(ws, live)
    f.count(epsilon=0.8)
    assert 'data-level="ok"' in meter.value and render.WARN not in meter.value
    f.age.mean(epsilon=0.05)
    assert 'data-level="warn"' in meter.value and render.WARN in meter.value
    assert "over 80% spent" in meter.value and render.ERROR not in meter.value
    assert "width:85.0%" in meter.value
    f.income.mean(epsilon=0.15)
    assert 'data-level="spent"' in meter.value and render.ERROR in meter.value
    assert "budget spent" in meter.value and render.WARN not in meter.value
    assert "width:100.0%" in meter.value


def test_the_meter_says_what_one_more_default_query_costs(
    ws: Workspace, live: list[LiveHTML]
) -> None:
    _register(ws)
    meter = _meter(ws, live)
    assert "one more default query costs ε = 0.100" in meter.value
    assert "composed" not in meter.value


def test_under_zcdp_the_meter_shows_the_composed_epsilon_and_the_naive_sum(
    ws: Workspace, live: list[LiveHTML]
) -> None:
    f = _register(ws, Budget(epsilon=3.0, delta=1e-6))
    meter = _meter(ws, live)
    for _ in range(3):
        f.age.mean(epsilon=0.5, alpha=0.1 + 0.01 * _)
    state = ws.budget_state("p")
    assert state.epsilon_spent < state.naive_epsilon == pytest.approx(1.5)
    assert f"composed ε {state.epsilon_spent:.3f} (the per-query ε add up to 1.500)" in meter.value
    assert "δ = " in meter.value and "of 1e-06" in meter.value


def test_the_mimebundle_has_the_widget_and_static_fallbacks(
    ws: Workspace, live: list[LiveHTML]
) -> None:
    f = _register(ws)
    meter = _meter(ws, live)
    f.count(epsilon=0.25)
    bundle = meter._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == meter.model_id
    assert bundle["text/html"] == meter.value and 'class="jpp-budget"' in meter.value
    assert bundle["text/plain"] == "BudgetMeter\n  " + repr(ws.budget_state("p"))
    meter.close()
    assert meter._repr_html_() == bundle["text/html"]  # a closed meter still shows a snapshot


def test_an_empty_workspace_shows_how_to_register(ws: Workspace, live: list[LiveHTML]) -> None:
    meter = _meter(ws, live)
    assert "No sources registered yet" in meter.value
    assert repr(meter) == "BudgetMeter\n  no sources registered"


def test_closing_a_meter_unsubscribes_it_and_lets_it_be_collected(ws: Workspace) -> None:
    meter = BudgetMeter(ws)
    assert len(ws.events) == 1
    ref = weakref.ref(meter)
    meter.close()
    assert len(ws.events) == 0
    del meter
    gc.collect()
    assert ref() is None


def test_the_subscription_holds_its_widget_weakly(ws: Workspace) -> None:
    class Probe:
        closed = False
        calls = 0

        def refresh(self) -> None:
            Probe.calls += 1

    probe = Probe()
    subscribe(ws, probe)
    _register(ws)  # a source_registered event
    assert Probe.calls == 1 and len(ws.events) == 1
    ref = weakref.ref(probe)
    del probe
    gc.collect()
    assert ref() is None, "the workspace listener kept the widget alive"
    assert len(ws.events) == 0


def test_a_closed_widget_is_dropped_on_the_next_event(ws: Workspace) -> None:
    class Closed:
        closed = True

        def refresh(self) -> None:
            raise AssertionError("a closed widget must not be redrawn")

    keep = Closed()
    subscribe(ws, keep)
    _register(ws)
    assert len(ws.events) == 0


def test_the_widget_state_holds_no_raw_value(ws: Workspace, live: list[LiveHTML]) -> None:
    f = _register(ws)
    meter, panel = _meter(ws, live), LineagePanel(ws)
    live.append(panel)
    f.income.max(epsilon=0.2)
    f.income.describe(epsilon=0.3)
    f.groupby("state").income.mean(epsilon=0.2)
    blob = json.dumps([meter.get_state(), panel.get_state()], default=str)
    blob += json.dumps([meter._repr_mimebundle_(), panel._repr_mimebundle_()])
    assert "income" in blob and "max" in blob
    for secret in SECRETS:
        assert secret not in blob, f"{secret!r} leaked into widget state"
    assert set(meter.states[0]) == set(ws.budget_state("p").to_dict())


# --- lineage panel --------------------------------------------------------------------------------


def test_the_lineage_panel_adds_a_node_for_each_release(
    ws: Workspace, live: list[LiveHTML], tmp_path: Path
) -> None:
    f = _register(ws)
    panel = LineagePanel(ws)
    live.append(panel)
    seen: list[int] = []
    panel.observe(lambda c: seen.append(len(c["new"]["nodes"])), names="graph")
    r = f[f.age >= 65].income.mean(epsilon=0.2)
    t = f.groupby("state").size(epsilon=0.3)
    releases = [n for n in panel.graph["nodes"] if n["kind"] == "release"]
    assert [(n["release_id"], n["statistics"], n["epsilon"]) for n in releases] == [
        (r.id, ["mean"], 0.2),
        (t.id, ["count"], 0.3),
    ]
    assert seen[-1] == len(panel.graph["nodes"]) == 5  # source, filter, groupby, two releases
    assert {"from": "source:p", "to": f"release:{r.id}"} not in panel.graph["edges"]
    assert panel.to_dict() == panel.graph
    assert json.loads(panel.to_json(tmp_path / "l.json").read_text()) == panel.graph
    assert "p[(p.age &gt;= 65)].income.mean(epsilon=0.2)" in panel.value
    assert "p.groupby(&#x27;state&#x27;).size(epsilon=0.3)" in panel.value
    assert "mean of income = " in panel.value  # the column is named, not only the statistic
    assert "4 cells: count by state" in panel.value
    text = panel._repr_mimebundle_()["text/plain"]
    assert text.startswith("Lineage: 1 source(s), 2 transform(s), 2 release(s)")
    assert panel._repr_mimebundle_()["text/html"] == panel.value


def test_the_lineage_html_nests_releases_under_their_transforms() -> None:
    graph = {
        "version": 1,
        "nodes": [
            {
                "id": "source:s",
                "kind": "source",
                "label": "s",
                "origin": "csv",
                "budget_text": "budget ε = 1.000",
                "spent": {"epsilon": 0.1},
                "versions": ["v1"],
            },
            {"id": "transform:a", "kind": "transform", "label": "filter (x < 1)", "text": "s[x<1]"},
            {
                "id": "release:r",
                "kind": "release",
                "label": "count = 3",
                "query": "s[(s.x < 1)].count()",
                "epsilon": 0.1,
                "delta": 0.0,
                "mechanism": "discrete Laplace",
                "execution_count": 4,
                "replayed": 2,
            },
        ],
        "edges": [
            {"from": "source:s", "to": "transform:a"},
            {"from": "transform:a", "to": "release:r"},
        ],
    }
    out = render.lineage_html(graph)
    assert out.count("<ul") == out.count("</ul>") == 3
    assert out.count("<li") == out.count("</li>") == 3
    assert "filter (x &lt; 1)" in out and "(x < 1)" not in out
    assert "replayed 2×" in out and "cell [4]" in out
    assert "No sources registered yet" in render.lineage_html({"nodes": [], "edges": []})


# --- release cards, tables and refusals -------------------------------------------------------------


def test_a_release_card_shows_value_interval_cost_mechanism_and_badges(ws: Workspace) -> None:
    f = _register(ws)
    r = f[f.age < 30].age.mean(epsilon=0.2)
    card = render.release_html(r)
    low, high = r.ci
    assert f"± {render.number_text((high - low) / 2)}" in card
    assert r.interval_text() in card and "95% CI [" in card
    assert "cost ε = 0.200" in card and r.mechanism in card and ">noised<" in card
    assert ">replayed<" not in card
    assert "p[(p.age &lt; 30)].age.mean(epsilon=0.2)" in card and "age < 30" not in card
    again = render.release_html(f[f.age < 30].age.mean(epsilon=0.2))
    assert ">replayed<" in again


def test_a_quantile_card_shows_its_rank_bound(ws: Workspace) -> None:
    r = _register(ws).age.median(epsilon=0.2)
    card = render.release_html(r)
    assert "rank within ±" in card and "±" in r.interval_text() and "CI [" not in card


def test_a_table_shows_its_rows_and_header(ws: Workspace) -> None:
    t = _register(ws).groupby("state").income.mean(epsilon=0.3)
    out = render.table_html(t)
    assert "<table" in out and all(f">{s}<" in out for s in STATES)
    assert "ci_low" in out and "ci_high" in out and "cost ε = 0.300" in out
    assert ">noised<" in out and "4 released values" in out


def test_a_refusal_is_its_three_part_message_without_a_traceback(ws: Workspace) -> None:
    f = _register(ws)
    with pytest.raises(PrivacyError) as info:
        f.age.mean(epsilon=5.0)
    out = render.refusal_html(info.value)
    assert out.startswith("<pre") and out.endswith("</pre>")
    assert "Refused to compute mean of &#x27;age&#x27; on &#x27;p&#x27;" in out
    assert "requested" in out and "remaining" in out and "Try: " in out
    assert "Traceback" not in out and out.count("\n") <= 4


# --- charts ----------------------------------------------------------------------------------------


def _marks(spec: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for layer in spec.get("layer", spec.get("spec", {}).get("layer", [])):
        mark = layer["mark"]
        found.append(mark["type"] if isinstance(mark, dict) else mark)
    return found


def _rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    (rows,) = spec["datasets"].values()
    return list(rows)


def test_a_grouped_release_charts_as_bars_with_error_bars(ws: Workspace) -> None:
    t = _register(ws).groupby("state").income.mean(epsilon=0.3)
    chart = t.chart()
    assert isinstance(chart, alt.TopLevelMixin)
    spec = chart.to_dict()
    assert _marks(spec) == ["bar", "errorbar"]
    frame = t.to_pandas()
    rows = {r["key"]: r for r in _rows(spec)}
    assert set(rows) == set(STATES)
    for state in STATES:
        assert rows[state]["value"] == frame.loc[state, "value"]
        assert rows[state]["ci_low"] == frame.loc[state, "ci_low"]
        assert rows[state]["ci_high"] == frame.loc[state, "ci_high"]
    assert spec["title"]["text"] == t.query


def test_several_statistics_get_one_panel_each(ws: Workspace) -> None:
    t = _register(ws).describe(epsilon=0.5)
    spec = t.chart().to_dict()
    assert spec["facet"]["field"] == "statistic"
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert _marks(spec) == ["bar", "errorbar"]
    rows = _rows(spec)
    assert len(rows) == len(t.cells)
    quantiles = [r for r in rows if r["statistic"] == "50%"]
    assert quantiles and all(r["ci_low"] is None and r["rank_error"] for r in quantiles)


def test_quantiles_without_an_interval_are_bars_alone(ws: Workspace) -> None:
    t = _register(ws).income.quantile([0.25, 0.75], epsilon=0.3)
    spec = t.chart().to_dict()
    assert _marks(spec) == ["bar"]
    assert [r["key"] for r in _rows(spec)] == ["25%", "75%"]
    assert [r["value"] for r in _rows(spec)] == [c.value for c in t.cells]


# --- the public entry points --------------------------------------------------------------------------
