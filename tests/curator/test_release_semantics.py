"""The release semantics of guard-rail mode, re-run through a real curator (Unix socket and TCP).

Each refusal is compared word for word with the same call on an in-process workspace that
registered the same file with the same policy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.frame import SensitiveFrame
from tests.curator.conftest import Site


def test_sources_arrive_as_public_metadata_only(remote: CuratorService, site: Site) -> None:
    spec = remote.source("patients")
    assert spec.data is None and spec.origin == "curator"
    assert spec.schema["age"].bounds == (18, 90)
    assert spec.schema["state"].keys == ("CA", "NY", "TX", "WA")
    assert spec.privacy_unit == "patient_id"
    p = jp.source("patients")
    assert isinstance(p, SensitiveFrame) and p.columns == list(spec.schema)
    assert str(site.data) not in repr(p) and "patients.csv" not in repr(remote.sources)


def test_count_mean_and_grouped_releases_carry_intervals_and_costs(remote: CuratorService) -> None:
    p = jp.source("patients")
    count = p.count(epsilon=0.5)
    assert isinstance(count, jp.Release) and count.epsilon == 0.5
    assert count.ci[0] is not None and count.ci[0] <= count.value <= count.ci[1]
    assert 300 < count.value < 500  # 400 rows, Laplace scale 2
    mean = p.age.mean(epsilon=1.0)
    assert isinstance(mean, jp.Release) and mean.ci[1] >= 18 and mean.ci[0] <= 90
    grouped = p.groupby("state").income.mean(epsilon=1.0)
    assert isinstance(grouped, jp.ReleaseTable)
    table = grouped.to_pandas()
    assert list(table.index) == ["CA", "NY", "TX", "WA"]
    assert {"value", "ci_low", "ci_high"} <= set(table.columns)
    assert p.budget.epsilon_spent == pytest.approx(2.5)


def test_describe_is_one_consistent_release(remote: CuratorService) -> None:
    table = jp.source("patients").describe(epsilon=1.0)
    frame = table.to_pandas()
    age = frame.loc["age"]["value"]
    assert age["min"] <= age["25%"] <= age["50%"] <= age["75%"] <= age["max"]
    assert jp.source("patients").budget.epsilon_spent == pytest.approx(1.0)


def test_rerunning_a_query_replays_it_at_no_cost(remote: CuratorService) -> None:
    p = jp.source("patients")
    first = p.income.sum(epsilon=0.5)
    again = p.income.sum(epsilon=0.5)
    assert again.replayed and not first.replayed
    assert again.value == first.value and again.id == first.id
    assert p.budget.epsilon_spent == pytest.approx(0.5)


def test_a_second_client_gets_the_first_clients_release_replayed(
    remote: CuratorService, curator: object, site: Site
) -> None:
    first = jp.source("patients").age.median(epsilon=0.5)
    other = CuratorService.connect(remote.address, token_file=site.token_file)
    try:
        again = other["patients"].age.median(epsilon=0.5)
        assert again.replayed and again.value == first.value
        assert other.budget_state("patients").epsilon_spent == pytest.approx(0.5)
    finally:
        other.close()


def test_dry_run_estimates_and_spends_nothing(remote: CuratorService) -> None:
    estimate = jp.source("patients").count(epsilon=0.5, dry_run=True)
    assert isinstance(estimate, jp.Estimate) and estimate.halfwidth is not None
    assert jp.source("patients").budget.epsilon_spent == 0


def test_accuracy_picks_the_cost_on_the_curator(remote: CuratorService, local: Workspace) -> None:
    remote_release = jp.source("patients").count(accuracy=20)
    local_release = SensitiveFrame(local, "patients").count(accuracy=20)
    assert remote_release.epsilon == local_release.epsilon


def test_zcdp_sources_report_epsilon_and_delta(remote: CuratorService) -> None:
    v = jp.source("visits")
    v.age.mean(epsilon=0.5)
    table = v.groupby("city").size(epsilon=0.5)  # unknown keys: thresholded, spends δ
    assert isinstance(table, jp.ReleaseTable)
    state = v.budget
    assert state.mode == "zcdp" and 0 < state.epsilon_spent < 1.0 and state.delta_spent > 0


def test_a_share_travels_as_a_proportion(remote: CuratorService) -> None:
    p = jp.source("patients")
    share = (p.age > 65).mean(epsilon=1.0)
    assert isinstance(share, jp.Release) and share.statistic == "proportion"
    assert share.query == "(patients.age > 65).mean()"
    assert 0 <= share.ci[0] <= float(share) <= share.ci[1] <= 1
    table = p.assign(old=p.age > 65).groupby("state").old.mean(epsilon=1.0)
    assert table.statistics == ["proportion"] and len(table.cells) == 4
    assert all(0 <= c.ci_low <= c.value <= c.ci_high <= 1 for c in table.cells)
    assert p.budget.epsilon_spent == pytest.approx(2.0)


REFUSALS = [
    ("city mean needs bounds", lambda p: p.city.mean()),
    ("negative epsilon", lambda p: p.age.mean(epsilon=-1)),
    ("nan epsilon", lambda p: p.age.mean(epsilon=float("nan"))),
    ("alpha out of range", lambda p: p.age.mean(alpha=1.5)),
    ("unknown column", lambda p: p.groupby("nope").size()),
    ("epsilon and accuracy", lambda p: p.count(epsilon=0.1, accuracy=3)),
    ("pure budget spends no delta", lambda p: p.count(delta=1e-7)),
    ("median accuracy", lambda p: p.age.median(accuracy=1)),
    ("share accuracy", lambda p: (p.age > 65).mean(accuracy=0.1)),
    ("head", lambda p: p.head()),
    ("values", lambda p: p.income.values),
    ("apply", lambda p: p.income.apply(float)),
]


@pytest.mark.parametrize("call", [c for _, c in REFUSALS], ids=[n for n, _ in REFUSALS])
def test_refusals_read_exactly_as_in_process(
    remote: CuratorService, local: Workspace, call: object
) -> None:
    with pytest.raises(jp.PrivacyError) as got_remote:
        call(jp.source("patients"))  # type: ignore[operator]
    with pytest.raises(jp.PrivacyError) as got_local:
        call(SensitiveFrame(local, "patients"))  # type: ignore[operator]
    assert type(got_remote.value) is type(got_local.value)
    assert str(got_remote.value) == str(got_local.value)
    assert remote.budget_state("patients").epsilon_spent == 0


def test_budget_exhaustion_stops_at_the_exact_total_and_says_so(
    remote: CuratorService, local: Workspace
) -> None:
    p, q = jp.source("patients"), SensitiveFrame(local, "patients")
    for i in range(4):
        p[p.age >= 20 + i].count(epsilon=2.5)
        q[q.age >= 20 + i].count(epsilon=2.5)
    with pytest.raises(jp.BudgetExceededError) as remote_refusal:
        p.count(epsilon=0.001)
    with pytest.raises(jp.BudgetExceededError) as local_refusal:
        q.count(epsilon=0.001)
    assert str(remote_refusal.value) == str(local_refusal.value)
    assert "the budget is spent" in str(remote_refusal.value)
    assert p.budget.epsilon_spent == 10.0 and p.budget.epsilon_remaining == 0


def test_registering_a_file_from_the_kernel_is_refused(remote: CuratorService) -> None:
    with pytest.raises(jp.PolicyError, match="the curator declares the sources"):
        jp.register("/etc/passwd", name="pw", budget=jp.Budget(epsilon=1.0))


def test_audit_lineage_and_exports_come_from_the_curator(
    remote: CuratorService, tmp_path: Path, site: Site
) -> None:
    p = jp.source("patients")
    p.age.mean(epsilon=0.5)
    with pytest.raises(jp.UnsupportedOperationError):
        p.city.mean()
    audit = jp.audit()
    assert isinstance(audit, pd.DataFrame)
    assert list(audit["outcome"]) == ["charged", "released", "refused"]
    assert all("curator client" in u for u in audit["user"])
    assert remote.verify().ok
    graph = jp.lineage().to_dict()
    assert any(n["kind"] == "release" for n in graph["nodes"])
    manifest = jp.export_releases(tmp_path / "releases.json").read_text()
    assert '"mean"' in manifest and str(site.data) not in manifest
    with pytest.raises(jp.PolicyError, match="replay runs without a curator"):
        jp.replay(tmp_path / "releases.json")


def test_the_budget_meter_follows_releases_through_the_curator(remote: CuratorService) -> None:
    meter = jp.budget()
    before = meter.value
    jp.source("patients").age.mean(epsilon=0.5)
    assert meter.value != before and "0.500" in meter.value
    meter.close()
