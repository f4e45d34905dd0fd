"""Headless runs say why they failed: a refusal is an error output (name, reason, the fix), so
``jupyter nbconvert --execute`` and nbclient (what papermill runs) report it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.notebooks.nbrun import NOTEBOOKS

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _folder(tmp_path: Path, *cells: str, tags: dict[int, list[str]] | None = None) -> Path:
    """A folder like the bundled one: privacy.toml, the data, and a notebook of ``cells``."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "privacy.toml", work / "privacy.toml")
    shutil.copy(NOTEBOOKS / "data" / "patients.csv", work / "data" / "patients.csv")
    shutil.copy(NOTEBOOKS / "data" / "transactions.csv", work / "data" / "transactions.csv")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for i, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if tags and i in tags:
            cell.metadata["tags"] = tags[i]
        nb.cells.append(cell)
    nbformat.write(nb, work / "analysis.ipynb")
    return work


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["JUPYTER_PRIVACY_HOME"] = str(tmp_path / "home")
    env.pop("JUPYTER_PRIVACY_POLICY", None)
    return env


LOAD = "%load_ext jupyter_privacy\nimport pandas as pd\nimport jupyter_privacy as jp"


def test_nbconvert_execute_stops_at_a_refusal_and_says_why(tmp_path: Path) -> None:
    work = _folder(tmp_path, LOAD, "df = pd.read_csv('data/patients.csv')\nx = df.head()")
    jupyter = Path(sys.executable).with_name("jupyter")
    run = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "analysis.ipynb"],
        cwd=work,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = ANSI.sub("", run.stderr)
    assert run.returncode != 0
    assert "RowAccessError: Refused to access rows with head on 'patients'" in said, said
    assert "Try: df.describe()" in said and "(Cell In[2], line 2: x = df.head())" in said, said
    # nbconvert prints its own stack; the kernel's part is the short refusal, not a stack
    assert "jupyter_privacy/frame" not in said and "site-packages/jupyter_privacy" not in said


def test_nbclient_what_papermill_runs_gets_the_name_the_reason_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = _folder(
        tmp_path, LOAD, "df = pd.read_csv('data/patients.csv')\ndf.income.mean(epsilon=9)"
    )
    monkeypatch.setenv("JUPYTER_PRIVACY_HOME", str(tmp_path / "home"))
    nb = nbformat.read(work / "analysis.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(work)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    err = info.value
    assert err.ename == "BudgetExceededError"
    assert err.evalue.startswith(
        "Refused to compute mean of 'income' on 'patients': the query costs more than remains."
    )
    assert "Try: df.income.mean(epsilon=2)   or   df.income.mean(dry_run=True)" in ANSI.sub(
        "", str(err)
    )
    (output,) = nb.cells[1].outputs
    assert output.output_type == "error" and output.ename == "BudgetExceededError"


def test_an_exported_page_shows_the_reason_of_a_tagged_refusal(tmp_path: Path) -> None:
    work = _folder(
        tmp_path,
        LOAD,
        "df = pd.read_csv('data/patients.csv')",
        "df.iloc[0]",
        tags={2: ["raises-exception"]},
    )
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run(
        [str(jupyter), "nbconvert", "--to", "html", "--execute", "analysis.ipynb"],
        cwd=work,
        env=_env(tmp_path),
        check=True,
        capture_output=True,
        timeout=300,
    )
    page = (work / "analysis.html").read_text()
    assert "RowAccessError" in page and "Refused to access rows with iloc on" in page
    assert "Try: df.describe()" in re.sub(r"<[^>]+>", "", page)
