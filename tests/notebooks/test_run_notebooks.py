"""Every bundled notebook runs headless through a real kernel, and shows what it promises."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    work = tmp_path / "nb"
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns(".jupyter_privacy", ".ipynb_*"))
    monkeypatch.setenv("JUPYTER_PRIVACY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    nb = nbformat.read(work / name, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
        store_widget_state=True,
    ).execute()
    return nb


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        for value in out.get("data", {}).values():
            parts.append(value if isinstance(value, str) else str(value))
        parts.extend(out.get("traceback", []))
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_the_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run(name, tmp_path, monkeypatch)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = _text(cell)
        allowed = "raises-exception" in cell.metadata.get("tags", [])
        assert ("Traceback" not in text) and (
            allowed or not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        ), cell.source


def test_getting_started_shows_refusals_releases_replays_and_widgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run("01_getting_started.ipynb", tmp_path, monkeypatch)
    by_source = {c.source: _text(c) for c in nb.cells if c.cell_type == "code"}
    assert (
        "rows are not shown" in by_source['patients = pd.read_csv("data/patients.csv")\npatients']
    )
    assert "Refused to access rows with head on 'patients'" in by_source["patients.head()"]
    assert "noised" in by_source["patients.age.mean(epsilon=0.2)"]
    assert (
        "(True,"
        in by_source["again = patients.age.mean(epsilon=0.2)\nagain.replayed, float(again)"]
    )
    assert "application/vnd.jupyter.widget-view+json" in str(
        [c.outputs for c in nb.cells if c.source == "jp.budget()"]
    )
    assert "vega" in by_source['patients.groupby("state").income.mean(epsilon=0.3).chart()']
