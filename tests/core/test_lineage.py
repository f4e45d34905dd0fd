"""Lineage: sources → transforms → releases, from public plans and released values only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import BudgetExceededError
from jupyter_privacy.core.lineage import Lineage, build_lineage
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.frame import SensitiveFrame
from tests.conftest import STATES, make_patients

SENTINEL_INCOME = 98_765.4321
SENTINEL_CITY = "Zyxwvut"
SECRETS = ("98765.43", "98,765.4", SENTINEL_CITY)


def _planted() -> pd.DataFrame:
    df = make_patients(400, seed=3)
    df.loc[11, "income"] = SENTINEL_INCOME
    df.loc[11, "city"] = SENTINEL_CITY
    return df


@pytest.fixture
def p(ws: Workspace) -> SensitiveFrame:
    ws.register(
        _planted(),
        name="p",
        privacy_unit="patient_id",
        budget=Budget(epsilon=10.0),
        bounds={"age": (18, 90), "income": (0, 250_000)},
        keys={"state": STATES},
    )
    return SensitiveFrame(ws, "p")


def _by_kind(graph: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in graph["nodes"] if n["kind"] == kind]


def _parent(graph: dict[str, Any], node_id: str) -> str:
    (edge,) = [e for e in graph["edges"] if e["to"] == node_id]
    return str(edge["from"])


def test_a_release_hangs_from_its_filter_and_grouping_with_statistic_and_cost(
    ws: Workspace, p: SensitiveFrame
) -> None:
    ws.context = lambda: {"execution_count": 7}
    table = p[p.age >= 40].groupby("state").income.mean(epsilon=0.5)
    graph = build_lineage(ws)
    (source,) = _by_kind(graph, "source")
    (release,) = _by_kind(graph, "release")
    assert release["id"] == f"release:{table.id}"
    assert release["statistics"] == ["mean"] and release["by"] == ["state"]
    assert release["epsilon"] == 0.5 and release["delta"] == 0.0
    assert release["mechanism"] == table.meta.mechanism
    assert release["execution_count"] == 7 and release["replayed"] == 0
    assert release["cell_count"] == 4
    assert [c["value"] for c in release["cells"]] == [c.value for c in table.cells]
    assert release["query"] == table.query
    group = _parent(graph, str(release["id"]))
    filt = _parent(graph, group)
    assert _parent(graph, filt) == source["id"] == "source:p"
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[filt]["op"] == "filter" and "age >= 40" in nodes[filt]["label"]
    assert nodes[group]["op"] == "groupby" and nodes[group]["text"].endswith(".groupby('state')")
    assert source["budget"] == {"epsilon": 10.0, "delta": 0.0}
    assert source["spent"]["epsilon"] == pytest.approx(0.5)
    assert source["releases"] == 1 and source["origin"] == "pandas"


def test_a_scalar_release_carries_its_value_and_interval(ws: Workspace, p: SensitiveFrame) -> None:
    r = p.age.mean(epsilon=0.2)
    (release,) = _by_kind(build_lineage(ws), "release")
    assert release["scalar"] is True
    assert release["value"] == r.value and release["ci"] == list(r.ci)
    assert release["label"].startswith("mean of age = ") and "95% CI" in release["label"]
    assert release["call"] == "p.age.mean(epsilon=0.2)"  # the options that change the answer
    assert release["execution_count"] is None  # no kernel set a cell number


def test_queries_with_a_common_prefix_share_transform_nodes_with_stable_ids(
    ws: Workspace, p: SensitiveFrame
) -> None:
    old = p[p.age >= 65]
    old.income.mean(epsilon=0.1)
    old.groupby("state").size(epsilon=0.1)
    old[old.income > 1000].count(epsilon=0.1)
    first = build_lineage(ws)
    transforms = _by_kind(first, "transform")
    assert [t["op"] for t in transforms] == ["filter", "groupby", "filter"]
    assert len(_by_kind(first, "release")) == 3
    assert build_lineage(ws) == first  # rebuilding gives the same ids and order
    ids = [n["id"] for n in first["nodes"]]
    assert len(ids) == len(set(ids))


def test_derived_columns_and_selections_are_readable(ws: Workspace, p: SensitiveFrame) -> None:
    p.assign(k=p.income / 1000).k.clip(0, 250).mean(epsilon=0.1)
    p[["age", "income"]].age.sum(epsilon=0.1)
    labels = [t["label"] for t in _by_kind(build_lineage(ws), "transform")]
    assert labels == ["k = (income / 1000)", "derive k.clip(0, 250)", "select ['age', 'income']"]


def test_replays_are_counted_from_the_audit_log(ws: Workspace, p: SensitiveFrame) -> None:
    first = p.age.median(epsilon=0.3)
    for _ in range(2):
        again = p.age.median(epsilon=0.3)
        assert again.replayed
    (release,) = _by_kind(build_lineage(ws), "release")
    assert release["id"] == f"release:{first.id}" and release["replayed"] == 2
    assert release["rank_error"] is not None and release["ci"] is None


def test_a_refused_query_adds_no_release(ws: Workspace, p: SensitiveFrame) -> None:
    p.count(epsilon=9.0)
    with pytest.raises(BudgetExceededError):
        p.count(epsilon=5.0)
    assert len(_by_kind(build_lineage(ws), "release")) == 1


def test_a_source_without_releases_is_still_a_node(ws: Workspace, p: SensitiveFrame) -> None:
    graph = build_lineage(ws)
    assert graph == {
        "version": 1,
        "nodes": [graph["nodes"][0]],
        "edges": [],
    }
    assert graph["nodes"][0]["versions"] == [] and graph["nodes"][0]["releases"] == 0


def test_a_plan_this_version_cannot_read_hangs_its_release_from_the_source(
    ws: Workspace, p: SensitiveFrame, tmp_path: Path
) -> None:
    r = p[p.age >= 30].count(epsilon=0.1)
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        db.execute("UPDATE releases SET plan = ?", ('{"from": "a future version"}',))
    db.close()
    graph = build_lineage(ws)
    assert _by_kind(graph, "transform") == []
    assert _parent(graph, f"release:{r.id}") == "source:p"


def test_data_versions_are_numbered_and_the_fingerprint_is_never_shown(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    make_patients(200, seed=1).to_csv(path, index=False)
    ws.register(path, name="people", budget=Budget(epsilon=5.0), bounds={"age": (18, 90)})
    f = SensitiveFrame(ws, "people")
    f.age.mean(epsilon=0.1)
    make_patients(300, seed=2).to_csv(path, index=False)
    f.age.mean(epsilon=0.1)
    graph = build_lineage(ws)
    (source,) = _by_kind(graph, "source")
    assert source["versions"] == ["v1", "v2"]
    assert [r["version"] for r in _by_kind(graph, "release")] == ["v1", "v2"]
    blob = json.dumps(graph)
    fingerprints = {r.fingerprint for r in ws.ledger.releases()}
    assert len(fingerprints) == 2
    assert not any(fp in blob for fp in fingerprints)


def test_the_graph_holds_no_raw_value(ws: Workspace, p: SensitiveFrame) -> None:
    p.income.mean(epsilon=0.5)
    p.income.max(epsilon=0.5)
    p.income.describe(epsilon=1.0)
    p.groupby("state").income.median(epsilon=0.5)
    blob = json.dumps(build_lineage(ws), allow_nan=False) + repr(Lineage.from_workspace(ws))
    for secret in SECRETS:
        assert secret not in blob, f"{secret!r} leaked into the lineage"


def test_the_raw_value_check_can_fail() -> None:
    """If a raw value did reach the graph, the scan above would see it."""
    blob = json.dumps({"nodes": [{"value": SENTINEL_INCOME, "key": [SENTINEL_CITY]}]})
    assert any(secret in blob for secret in SECRETS)


def test_to_dict_to_json_and_the_text_tree(
    ws: Workspace, p: SensitiveFrame, tmp_path: Path
) -> None:
    p[p.age >= 40].groupby("state").size(epsilon=0.2)
    p.age.mean(epsilon=0.2)
    lineage = Lineage.from_workspace(ws)
    copy = lineage.to_dict()
    copy["nodes"].clear()
    assert lineage.nodes, "to_dict must return a copy"
    written = lineage.to_json(tmp_path / "lineage.json")
    assert json.loads(written.read_text()) == lineage.to_dict()
    text = repr(lineage)
    assert text.splitlines()[0] == "Lineage: 1 source(s), 2 transform(s), 2 release(s)"
    assert text.splitlines()[1].startswith("p  (pandas, budget ε = 10.000")
    assert "├─ filter (age >= 40)" in text
    assert (
        "   └─ p[(p.age >= 40)].groupby('state').size(epsilon=0.2)  →  4 cells: count by state"
        in text
    )
    assert "└─ p.age.mean(epsilon=0.2)  →  mean of age = " in text
    assert [d for d, _ in lineage.walk()] == [0, 1, 2, 3, 1]
