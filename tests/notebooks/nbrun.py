"""Run a bundled notebook headless through a real kernel, in a copy, with its own ledger."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# Planted in the copied data before a run; must never appear in any output or widget state.
# Spelled so that no hash, id or rounded release can contain them by chance.
CANARY_INCOME = 98_765.4321
CANARY_AMOUNT = 987.654321
CANARY_DATE = "2024-02-30"  # not a real day
SECRETS = ("98765.43", "98,765.4", "987.6543", CANARY_DATE)


def copy_notebooks(dest: Path, *, data: bool = True, canary: bool = True) -> Path:
    """A copy of notebooks/ (without ledgers or checkpoints); optionally with canaries planted."""
    ignore = ["data"] if not data else []
    shutil.copytree(
        NOTEBOOKS,
        dest,
        ignore=shutil.ignore_patterns(".jupyter_privacy", ".ipynb_*", "releases.json", *ignore),
    )
    if data and canary:
        plant_canaries(dest / "data")
    return dest


def plant_canaries(folder: Path) -> None:
    patients = pd.read_csv(folder / "patients.csv")
    patients.loc[17, "income"] = CANARY_INCOME
    patients.to_csv(folder / "patients.csv", index=False)
    txn = pd.read_csv(folder / "transactions.csv")
    txn.loc[5, ["amount", "date"]] = [CANARY_AMOUNT, CANARY_DATE]
    txn.to_csv(folder / "transactions.csv", index=False)


def execute(path: Path, extra_cells: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """Execute in place of a copy (cwd = its folder); returns the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    for source in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    ).execute()
    return nb


def text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell showed: streams, every mimetype, tracebacks."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        for value in out.get("data", {}).values():
            parts.append(value if isinstance(value, str) else json.dumps(value))
        parts.extend(out.get("traceback", []))
    return "\n".join(p for p in parts if p)


def outputs(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Code cell source -> its output text."""
    return {c.source: text(c) for c in nb.cells if c.cell_type == "code"}


def cell_output(nb: nbformat.NotebookNode, starts_with: str) -> str:
    """The output of the one code cell whose source starts with ``starts_with``."""
    found = [
        text(c) for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts_with)
    ]
    assert len(found) == 1, f"{len(found)} cells start with {starts_with!r}"
    return found[0]
