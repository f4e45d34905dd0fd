"""Every bundled notebook runs headless through a real kernel, and shows what it promises.

Each run works on a copy of ``notebooks/`` with canaries planted in the data and its own ledger.
Cells tagged ``raises-exception`` must end in a refusal, shown as a real error output (what a
headless run reports); no other cell may show one or fail; no canary may reach any output.
Every output has a form a static page can show (no widget, no script).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from jupyter_privacy.core.ledger import Ledger
from tests.notebooks.nbrun import (
    ALL,
    NOTEBOOKS,
    SECRETS,
    cell_output,
    copy_notebooks,
    execute,
    outputs,
    text,
)

#: Each notebook, and how many of its cells are meant to end in a refusal.
REFUSALS = {
    "01-quickstart.ipynb": 2,
    "02-workshop-dp-basics.ipynb": 2,
    "03-accuracy-first.ipynb": 1,
    "04-reviewer-replay.ipynb": 1,
    "05-user-level-privacy.ipynb": 1,
}
EXPECTED = list(REFUSALS)
Run = Callable[[str], nbformat.NotebookNode]
VEGA_LITE = "application/vnd.vegalite.v5+json"
SVG = "image/svg+xml"
STATIC = {"text/html", "text/plain", "text/markdown", SVG, "image/png"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Each notebook runs once per module, on a canary-planted copy with a fresh ledger."""
    done: dict[str, nbformat.NotebookNode] = {}
    mp = pytest.MonkeyPatch()

    def execute_once(name: str) -> nbformat.NotebookNode:
        if name not in done:
            work = copy_notebooks(tmp_path_factory.mktemp(name.split("-")[0]) / "nb")
            mp.setenv("JUPYTER_PRIVACY_HOME", str(work.parent / "home"))
            mp.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
            done[name] = execute(work / name)
        return done[name]

    yield execute_once
    mp.undo()


def test_the_notebooks_are_the_documented_five_with_outputs_cleared() -> None:
    assert ALL == EXPECTED
    for name in ALL:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (name, cell.source)
        assert "widgets" not in nb.metadata, name


@pytest.mark.parametrize("name", EXPECTED)
def test_the_notebook_runs_refuses_only_where_tagged_and_leaks_no_canary(
    name: str, run: Run
) -> None:
    nb = run(name)
    tagged = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        shown = text(cell)
        assert "Traceback" not in shown, cell.source
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            tagged += 1
            (error,) = errors
            assert error.ename.endswith("Error") and error.evalue.startswith("Refused to")
            trace = "\n".join(error.traceback)
            assert f"{error.ename}\x1b[0m: Refused to" in trace and len(trace.splitlines()) <= 8
        else:
            assert errors == [] and "Refused to" not in shown, cell.source
        for out in cell.outputs:  # something a static page (an export, GitHub, nbviewer) shows
            if out.get("output_type") in ("display_data", "execute_result"):
                assert STATIC & set(out.data), (cell.source, list(out.data))
    assert tagged == REFUSALS[name]
    everything = "\n".join(outputs(nb).values())
    assert "[noised" in everything  # at least one differentially private release was shown
    blob = json.dumps(nb)  # outputs and the stored widget state
    for secret in SECRETS:
        assert secret not in blob, f"{secret!r} leaked in {name}"


def test_the_canary_scan_would_see_a_leak(tmp_path: Path) -> None:
    """The planted values really are in the copied data, so the scan above can fail."""
    work = copy_notebooks(tmp_path / "nb")
    raw = (work / "data" / "patients.csv").read_text() + (
        work / "data" / "transactions.csv"
    ).read_text()
    assert all(s in raw for s in SECRETS if "," not in s)


def test_quickstart_shows_the_guard_releases_meter_lineage_and_refusals(run: Run) -> None:
    nb = run("01-quickstart.ipynb")
    out = outputs(nb)
    assert "rows are not shown" in cell_output(nb, 'patients = pd.read_csv("data/patients.csv")')
    assert "Refused to access rows with head on 'patients'" in out["patients.head()"]
    assert "Try: patients.describe()" in out["patients.head()"]  # the notebook's own name
    assert "noised" in out["patients.age.mean(epsilon=0.2)"] and "95% CI" in out["patients.count()"]
    assert out["again = patients.age.mean(epsilon=0.2)\nagain.replayed, float(again)"].startswith(
        "(True,"
    )
    assert "the query costs more than remains" in out["patients.income.mean(epsilon=10)"]
    assert "Estimate for patients.count()" in out["patients.count(accuracy=25, dry_run=True)"]
    # describe states its cost and split up front; one row count serves the not_null columns
    dry = out["patients.describe(epsilon=0.5, dry_run=True)"]
    assert "cost ε = 0.500" in dry and "one row count" in dry and "age, income, visits" in dry
    summary = out["patients.describe(epsilon=0.5)"]
    counts = re.findall(r"<th>count</th>\s*<td>([^<]+)</td>", summary)
    assert len(counts) == 3 and len(set(counts)) == 1, summary
    assert "accuracy target" in summary, summary
    for live_cell, css in (("jp.budget()", "jpp-budget"), ("jp.lineage()", "jpp-lineage")):
        (shown,) = next(c for c in nb.cells if c.source == live_cell).outputs
        assert set(shown.data) == {"text/html", "text/plain"}, live_cell  # no widget
        assert css in shown.data["text/html"], live_cell
    # The meter shown in cell 8 was redrawn in place by every later release: it ends with the
    # budget that the last `patients.budget` cell printed.
    (meter,) = next(c for c in nb.cells if c.source == "jp.budget()").outputs
    final = out["patients.budget"].split("spent ")[1].split(",")[0]
    assert f"spent {final} · " in meter.data["text/plain"], (final, meter.data["text/plain"])
    (chart,) = next(c for c in nb.cells if c.source == "by_state.chart()").outputs
    assert {VEGA_LITE, SVG} <= set(chart.data) and "<svg" in chart.data[SVG]
    restart = cell_output(nb, "import subprocess")
    spent = [line for line in restart.splitlines() if "spent" in line]
    assert "replayed: True" in restart
    assert len(spent) == 2 and spent[0] == spent[1].removeprefix("this kernel: "), restart


def test_quickstart_after_a_kernel_restart_replays_everything_and_spends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = copy_notebooks(tmp_path / "nb")
    monkeypatch.setenv("JUPYTER_PRIVACY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    first = execute(work / "01-quickstart.ipynb")
    ledger = Ledger(tmp_path / "home" / "ledger.sqlite")
    try:
        released = len(ledger.releases())
        spent = ledger.totals("patients")[1]
        second = execute(work / "01-quickstart.ipynb")  # a new kernel: what a restart gives
        assert released >= 4
        assert len(ledger.releases()) == released
        assert ledger.totals("patients")[1] == spent
        assert ledger.verify().ok
    finally:
        ledger.close()
    assert (
        outputs(first)["patients.count()"].split("\n")[0]
        == outputs(second)["patients.count()"].split("\n")[0]
    )
    assert "replayed" in outputs(second)["patients.count()"]


def test_workshop_plots_noise_composes_runs_out_and_thresholds(run: Run) -> None:
    nb = run("02-workshop-dp-basics.ipynb")
    (plot,) = next(c for c in nb.cells if c.source.startswith("points = alt.Chart(noisy)")).outputs
    assert {VEGA_LITE, SVG} <= set(plot.data)  # live, and a static image for exports
    assert plot.data[SVG].count('aria-roledescription="circle"') == 5 * 300
    composed = cell_output(nb, "def register_copy")
    assert "1.0" in composed and "0.469" in composed  # five ε = 0.2 queries: pure 1.0, zCDP 0.469
    assert "the budget is spent" in cell_output(nb, "pure.visits.mean(epsilon=0.1)")
    assert "replayed: True True" in cell_output(nb, "first = clinic")
    assert cell_output(nb, "rephrased = ").startswith("False")
    assert "unknown keys need a budget with δ" in cell_output(nb, "undeclared_pure = ")
    assert "δ = 5e-08" in cell_output(nb, "undeclared = ")
    assert "(expect ≈ 95%)" in cell_output(nb, "from opendp.accuracy")


def test_accuracy_first_picks_epsilon_from_accuracy_and_describes(run: Run) -> None:
    nb = run("03-accuracy-first.ipynb")
    out = outputs(nb)
    assert "cost ε = 0.122, expected ± 25" in out["patients.count(accuracy=25, dry_run=True)"]
    assert out["n.epsilon, n.ci"].startswith("(0.1222,")
    assert (
        "accuracy= needs an interval known in advance" in out["patients.income.mean(accuracy=1000)"]
    )
    described = cell_output(nb, "print(patients[[")
    assert "rank_error" in described and "75%" in described
    assert (
        "quartiles ε 0.0" in described and "min and max ε 0.0" in described
    )  # the split, up front
    assert "the accuracy target at ε 0.5" in described  # the line under the table


def test_user_level_notebook_uses_the_customer_as_unit(run: Run) -> None:
    nb = run("05-user-level-privacy.ipynb")
    schema = cell_output(nb, "%load_ext jupyter_privacy")
    assert "customer_id" in schema and "(privacy unit)" in schema
    tradeoff = cell_output(nb, "import tempfile")
    assert "max_rows_per_unit" in tradeoff and "bias (dropped rows)" in tradeoff
    (plot,) = next(c for c in nb.cells if c.source.startswith("import altair as alt")).outputs
    assert {VEGA_LITE, SVG} <= set(plot.data)


def test_the_readme_links_every_notebook_and_binder_opens_the_quickstart() -> None:
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    for name in EXPECTED:
        assert f"](notebooks/{name})" in readme, name
    binder = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert binder and binder.group(0).endswith("?urlpath=lab/tree/notebooks/01-quickstart.ipynb")
    assert "bash scripts/lab" in readme and "bash scripts/test" in readme
    assert "docs/images/sidebar.png" in readme
