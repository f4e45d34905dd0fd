"""Reviewer replay (SPEC §3): the notebook and its manifest are enough to get every published value.

A reviewer without the data re-runs 04 and gets the published numbers; a query that was not
published is refused by name; with the data and the analyst's ledger, re-running spends nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.release_store import ManifestStore
from jupyter_privacy.datasets import patients as synthetic_patients
from tests.notebooks.nbrun import NOTEBOOKS, SECRETS, copy_notebooks, execute, outputs, text

PUBLISHED = NOTEBOOKS / "published" / "04-releases.json"
DUMP = """
import json
print("VALUES=" + json.dumps({k: values(r) for k, r in results.items()}))
print("REPLAYED=" + json.dumps([r.replayed for r in results.values()]))
"""


def _published_values() -> dict[str, object]:
    """The manifest's values in the notebook's order: count, mean age, median, grouped means."""
    store = ManifestStore(json.loads(PUBLISHED.read_text()))  # the version the notebook publishes
    by_query = {r.query: [c.to_json() for c in r.cells] for r in store.by_id.values()}
    grouped = by_query["patients.groupby('diagnosis').visits.mean()"]
    return {
        "patients": round(by_query["patients.count()"][0]["value"], 4),
        "mean age": round(by_query["patients.age.mean()"][0]["value"], 4),
        "median income, 65+": round(
            by_query["patients[(patients.age >= 65)].income.median()"][0]["value"], 4
        ),
        "visits by diagnosis": [round(c["value"], 4) for c in grouped],
    }


def test_the_reviewer_with_only_notebook_and_manifest_gets_every_published_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review = tmp_path / "review"
    (review / "published").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "04-reviewer-replay.ipynb", review)
    shutil.copy(PUBLISHED, review / "published")
    assert sorted(p.name for p in review.iterdir()) == ["04-reviewer-replay.ipynb", "published"]
    monkeypatch.setenv("JUPYTER_PRIVACY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)

    nb = execute(review / "04-reviewer-replay.ipynb", extra_cells=(DUMP,))

    shown = text(nb.cells[-1])
    values = json.loads(shown.split("VALUES=")[1].splitlines()[0])
    replayed = json.loads(shown.split("REPLAYED=")[1].splitlines()[0])
    assert values == _published_values()
    assert replayed == [True, True, True, True]
    out = "\n".join(outputs(nb).values())
    assert "you are a reviewer" in out
    assert "the reviewer got every published value: True" in out
    assert "[noised]" not in out  # every release shown was replayed, none made afresh
    miss = next(c for c in nb.cells if "raises-exception" in c.metadata.get("tags", []))
    assert "this query is not in the release manifest being replayed" in text(miss)
    assert "patients[(patients.sex == 'F')].income.median()" in text(miss)
    assert not (review / "data").exists() and not (review / "releases.json").exists()


def test_the_published_manifest_holds_public_values_only() -> None:
    manifest = json.loads(PUBLISHED.read_text())
    assert manifest["version"] == 1 and len(manifest["releases"]) == 4
    assert {s["path"] for s in manifest["sources"].values()} == {
        "patients.csv",
        "transactions.csv",
    }
    raw = PUBLISHED.read_text()
    assert "/" not in "".join(s["path"] for s in manifest["sources"].values())
    assert "patient_id," not in raw and all(s not in raw for s in SECRETS)


def test_the_analyst_run_exports_a_manifest_the_reviewer_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = copy_notebooks(tmp_path / "nb")
    monkeypatch.setenv("JUPYTER_PRIVACY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    nb = execute(work / "04-reviewer-replay.ipynb", extra_cells=(DUMP,))
    out = "\n".join(outputs(nb).values())
    assert "you are the analyst" in out and "releases.json: 4 releases" in out
    assert "the reviewer got every published value: True" in out
    exported = json.loads((work / "releases.json").read_text())
    assert len(exported["releases"]) == 4
    assert all(s not in json.dumps(exported) for s in SECRETS)


def _analysis(p: jp.SensitiveFrame) -> list[float]:
    return [
        float(p.count(epsilon=0.1)),
        float(p.age.mean(epsilon=0.2)),
        float(p[p.age >= 65].income.median(epsilon=0.2)),
        *p.groupby("sex").income.mean(epsilon=0.3).to_pandas()["value"].tolist(),
    ]


def _register(path: Path | str) -> jp.SensitiveFrame:
    return jp.register(
        path,
        name="patients",
        privacy_unit="patient_id",
        budget=jp.Budget(epsilon=2.0),
        bounds={"age": (0, 110), "income": (0, 250_000)},
        keys={"sex": ["F", "M"]},
    )


def test_replay_without_the_data_returns_every_value_and_refuses_new_queries_by_name(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "data" / "patients.csv"
    csv.parent.mkdir()
    synthetic_patients(800, seed=5).to_csv(csv, index=False)
    jp.use_workspace(tmp_path / "analyst")
    try:
        published = _analysis(_register(csv))
        jp.export_releases(tmp_path / "releases.json")
        shutil.rmtree(csv.parent)  # the reviewer has no data

        jp.use_workspace(tmp_path / "reviewer")
        jp.replay(tmp_path / "releases.json")
        p = _register(csv)
        assert _analysis(p) == published
        assert p.budget.epsilon_spent == 0
        assert all(r.replayed for r in (p.count(epsilon=0.1), p.age.mean(epsilon=0.2)))
        with pytest.raises(jp.ReplayMissError) as err:
            p.age.mean(epsilon=0.3)  # same statistic, another cost: not published
        assert "patients.age.mean()" in str(err.value) and "ε = 0.300" in str(err.value)
        with pytest.raises(jp.ReplayMissError, match="patients\\.income\\.sum\\(\\)"):
            p.income.sum(epsilon=0.2)
        with pytest.raises(jp.ReplayMissError, match="no source of that name"):
            jp.register(tmp_path / "data" / "visits.csv", name="visits")
        outcomes = jp.audit().outcome.tolist()
        assert outcomes.count("replayed") == 6 and "released" not in outcomes
        assert "charged" not in outcomes
    finally:
        jp.replay(None)
        jp.use_workspace(tmp_path / "closed")


def test_with_the_data_and_the_shared_ledger_rerunning_spends_nothing(tmp_path: Path) -> None:
    csv = tmp_path / "patients.csv"
    synthetic_patients(800, seed=6).to_csv(csv, index=False)
    try:
        jp.use_workspace(tmp_path / "shared")
        first = _analysis(_register(csv))
        spent = jp.budget("patients").epsilon_spent
        charges = jp.audit().outcome.tolist().count("charged")
        jp.use_workspace(tmp_path / "shared")  # a second reader of the same ledger (a reviewer)
        again = _analysis(_register(csv))
        assert again == first
        assert jp.budget("patients").epsilon_spent == spent == pytest.approx(0.8)
        audit = jp.audit()
        assert audit.outcome.tolist().count("charged") == charges == 4
        assert audit.outcome.tolist()[-4:] == ["replayed"] * 4
    finally:
        jp.use_workspace(tmp_path / "closed")


def test_replay_ignores_the_reviewers_own_data_version(tmp_path: Path) -> None:
    """Replay mode never opens a file, even one that is present but different."""
    csv = tmp_path / "patients.csv"
    synthetic_patients(500, seed=8).to_csv(csv, index=False)
    try:
        jp.use_workspace(tmp_path / "a")
        published = _analysis(_register(csv))
        jp.export_releases(tmp_path / "m.json")
        pd.DataFrame({"unrelated": [1, 2, 3]}).to_csv(csv, index=False)
        jp.use_workspace(tmp_path / "b")
        jp.replay(tmp_path / "m.json")
        assert _analysis(_register(csv)) == published
    finally:
        jp.replay(None)
        jp.use_workspace(tmp_path / "closed")
