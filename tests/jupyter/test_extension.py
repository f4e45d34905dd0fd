"""The IPython extension through a real InteractiveShell: load, intercept, guard, magics, unload."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.core.service import EventHub
from tests.conftest import extension_loaded, make_patients

POLICY = """
[defaults]
epsilon = 0.2
alpha = 0.1

[sources.patients]
path = "data/patients.csv"
privacy_unit = "patient_id"
budget = { epsilon = 3.0 }
bounds = { age = [18, 90], income = [0, 250000] }
keys = { state = ["CA", "NY", "TX", "WA"] }
"""


@pytest.fixture
def shell(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    (tmp_path / "data").mkdir()
    make_patients().to_csv(tmp_path / "data" / "patients.csv", index=False)
    (tmp_path / "privacy.toml").write_text(POLICY)
    original_read_csv = pd.read_csv
    with extension_loaded(tmp_path, monkeypatch) as ip:
        yield ip
    assert pd.read_csv is original_read_csv  # unloading put pandas back


def _run(ip: InteractiveShell, code: str) -> tuple[object, str]:
    with capture_output() as out:
        result = ip.run_cell(code)
    text = (
        out.stdout
        + out.stderr
        + "".join(o.data.get("text/plain", "") + o.data.get("text/html", "") for o in out.outputs)
    )
    return result, text


def test_the_policy_registers_its_sources_and_read_csv_returns_the_guarded_frame(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    for spelling in [
        "data/patients.csv",
        str(tmp_path / "data" / "patients.csv"),
        "./data/../data/patients.csv",
        Path("data/patients.csv"),
    ]:
        shell.user_ns["spelling"] = spelling
        result, _ = _run(shell, "import pandas as pd\ndf = pd.read_csv(spelling)")
        assert result.success  # type: ignore[attr-defined]
        assert isinstance(shell.user_ns["df"], jp.SensitiveFrame)
        assert shell.user_ns["df"].budget.epsilon_total == 3.0
    assert isinstance(jp.source("patients"), jp.SensitiveFrame)
    (tmp_path / "other.csv").write_text("a\n1\n")
    _run(shell, "other = pd.read_csv('other.csv')")
    assert isinstance(shell.user_ns["other"], pd.DataFrame)


def test_pandas_habits_release_with_policy_defaults(shell: InteractiveShell) -> None:
    _, text = _run(
        shell,
        "import pandas as pd\ndf = pd.read_csv('data/patients.csv')\n"
        "r = df.groupby('state').income.mean()\nr",
    )
    r = shell.user_ns["r"]
    assert isinstance(r, jp.ReleaseTable) and r.epsilon == 0.2 and r.alpha == 0.1
    assert "noised" in text and "ci_low" in text


def test_head_is_refused_in_a_few_short_lines_not_a_traceback(shell: InteractiveShell) -> None:
    result, text = _run(shell, "import pandas as pd\npd.read_csv('data/patients.csv').head()")
    assert not result.success  # type: ignore[attr-defined]
    assert "RowAccessError" in text and "Refused to access rows with head on 'patients'" in text
    assert "Try: pd.read_csv('data/patients.csv').describe()" in text  # the cell's own code
    assert "Traceback" not in text and "site-packages" not in text and text.count("\n") <= 6


def test_a_registered_raw_frame_is_not_displayed_and_aliases_are_named(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["raw"] = make_patients()
    shell.user_ns["alias"] = shell.user_ns["raw"]
    with pytest.warns(UserWarning, match="still reachable as `alias`"):
        _, said = _run(shell, "%privacy register raw --name visits --epsilon 1 --bounds age=18:90")
    assert "`raw` is now the guarded frame of 'visits'" in said
    assert isinstance(shell.user_ns["raw"], jp.SensitiveFrame)
    _, shown = _run(shell, "alias")
    assert "Refused to display" in shown and "visits" in shown
    assert "patient_id" not in shown
    _, fine = _run(shell, "import pandas as pd\npd.DataFrame({'public': [1, 2]})")
    assert "public" in fine


def test_registering_in_a_cell_warns_about_the_raw_frame_still_in_the_namespace(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["df"] = make_patients()
    with pytest.warns(UserWarning, match="still reachable as `df`"):
        _run(
            shell,
            "import jupyter_privacy as jp\np = jp.register(df, name='p2', "
            "budget=jp.Budget(epsilon=1.0))",
        )
    _, shown = _run(shell, "df")
    assert "Refused to display" in shown


def test_the_magics(shell: InteractiveShell, tmp_path: Path) -> None:
    _, status = _run(shell, "%privacy")
    assert "patients" in status and "guard-rail mode" in status
    _, text = _run(
        shell,
        "import pandas as pd\ndf = pd.read_csv('data/patients.csv')\nm = df.age.mean(epsilon=0.5)",
    )
    _, audit = _run(shell, "%privacy audit")
    assert "audit log intact" in audit
    _, budget = _run(shell, "%privacy budget")
    assert "patients" in budget
    _, lineage = _run(shell, "%privacy lineage")
    assert "mean" in lineage
    _, export = _run(shell, "%privacy export manifest.json")
    assert "wrote manifest.json" in export
    assert (tmp_path / "manifest.json").is_file()
    _, help_text = _run(shell, "%privacy nonsense")
    assert "Usage:" in help_text
    assert "Differential privacy workbench commands" in (
        shell.find_line_magic("privacy").__doc__ or ""
    )
    _run(shell, "%privacy replay manifest.json")
    _, text = _run(shell, "df = pd.read_csv('data/patients.csv')\nm2 = df.age.mean(epsilon=0.5)")
    assert "m2" in shell.user_ns, text
    assert shell.user_ns["m2"].replayed and float(shell.user_ns["m2"]) == float(shell.user_ns["m"])
    _run(shell, "%privacy replay off")


def test_the_register_magic_declares_column_kinds(shell: InteractiveShell) -> None:
    _run(
        shell,
        "%privacy register data/patients.csv --name declared --epsilon 1 --unit patient_id "
        "--dtypes patient_id=int,age=int --bounds income=0:250000",
    )
    frame = __import__("jupyter_privacy").source("declared")
    assert frame.dtypes["age"] == "int" and frame.dtypes["patient_id"] == "int"
    assert frame.dtypes["income"] == "float" and frame.dtypes["city"] == "str"


def test_the_register_magic_declares_not_null_columns(shell: InteractiveShell) -> None:
    _run(
        shell,
        "%privacy register data/patients.csv --name nn --epsilon 1 --unit patient_id "
        "--dtypes patient_id=int,age=int --bounds age=0:110 --not-null age,city",
    )
    schema = jp.workspace().source("nn").schema
    assert not schema["age"].nullable and not schema["city"].nullable
    assert schema["income"].nullable


def test_the_register_magic_declares_auto_bounds(shell: InteractiveShell) -> None:
    _run(
        shell,
        "%privacy register data/patients.csv --name one --epsilon 1 --unit patient_id "
        "--dtypes patient_id=int,age=int --bounds age=0:110,income=auto",
    )
    _run(
        shell,
        "%privacy register data/patients.csv --name every --epsilon 1 --unit patient_id "
        "--dtypes patient_id=int,age=int,income=float --bounds auto",
    )
    ws = jp.workspace()
    assert ws.source("one").auto_bounds == ("income",)
    assert ws.source("one").schema["age"].bounds == (0.0, 110.0)
    assert ws.source("every").auto_bounds == ("age", "income")


def test_releases_render_as_cards_with_text_fallbacks(shell: InteractiveShell) -> None:
    _run(shell, "import pandas as pd\ndf = pd.read_csv('data/patients.csv')")
    _run(shell, "r = df.age.mean(epsilon=0.3)")
    bundle, _ = shell.display_formatter.format(shell.user_ns["r"])
    assert "text/plain" in bundle and "text/html" in bundle
    assert "noised" in bundle["text/html"] and "ε" in bundle["text/html"]


def test_the_cell_number_is_recorded_with_each_release(shell: InteractiveShell) -> None:
    _run(
        shell,
        "import pandas as pd\ndf = pd.read_csv('data/patients.csv')\nx = df.count(epsilon=0.1)",
    )
    record = jp.workspace().ledger.releases()[-1]
    assert (
        record.context["execution_count"] == shell.execution_count - 1
        or record.context["execution_count"] == shell.execution_count
    )


def test_unload_restores_everything(shell: InteractiveShell) -> None:
    html = shell.display_formatter.formatters["text/html"]
    assert pd.DataFrame in html.type_printers
    shell.run_line_magic("unload_ext", "jupyter_privacy")
    assert pd.DataFrame not in html.type_printers
    assert "privacy" not in shell.magics_manager.magics["line"]
    assert not shell.custom_exceptions
    assert getattr(pd.read_csv, "__wrapped__", None) is None
    shell.run_line_magic("load_ext", "jupyter_privacy")


def test_the_policy_file_can_be_named_by_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cfg"
    (elsewhere / "data").mkdir(parents=True)
    make_patients().to_csv(elsewhere / "data" / "patients.csv", index=False)
    (elsewhere / "my-policy.toml").write_text(POLICY)
    monkeypatch.setenv("JUPYTER_PRIVACY_POLICY", str(elsewhere / "my-policy.toml"))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_privacy")
    try:
        assert "patients" in jp.workspace().sources
        assert os.environ["JUPYTER_PRIVACY_POLICY"].endswith("my-policy.toml")
    finally:
        ip.run_line_magic("unload_ext", "jupyter_privacy")


def test_replay_mode_skips_policy_sources_the_manifest_does_not_hold(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = tmp_path / "analyst"
    (analyst / "data").mkdir(parents=True)
    make_patients().to_csv(analyst / "data" / "patients.csv", index=False)
    jp.use_workspace(analyst / ".jp")
    patients = jp.register(
        analyst / "data" / "patients.csv",
        name="patients",
        privacy_unit="patient_id",
        budget=jp.Budget(epsilon=3.0),
    )
    published = float(patients.count(epsilon=0.5))
    reviewer = tmp_path / "reviewer"
    reviewer.mkdir()
    jp.export_releases(reviewer / "releases.json")
    (reviewer / "privacy.toml").write_text(
        POLICY + '\n[sources.visits]\npath = "data/visits.csv"\nbudget = { epsilon = 1.0 }\n'
    )
    jp.use_workspace(reviewer / ".jp")
    monkeypatch.chdir(reviewer)
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    jp.replay(reviewer / "releases.json")
    ip = InteractiveShell.instance()
    try:
        with pytest.warns(UserWarning, match="'visits' is declared in privacy.toml but not in"):
            ip.run_line_magic("load_ext", "jupyter_privacy")
        assert "visits" not in jp.workspace().sources
        again = jp.source("patients").count(epsilon=0.5)
        assert again.replayed and float(again) == published
    finally:
        ip.run_line_magic("unload_ext", "jupyter_privacy")
        jp.replay(None)


def test_releases_record_their_notebook_and_the_manifest_holds_only_this_notebooks(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_privacy.jupyter import extension
    from jupyter_privacy.jupyter.comm import KernelContext

    context = extension._loaded.context  # type: ignore[union-attr]
    assert context is not None
    _run(shell, "import pandas as pd\ndf = pd.read_csv('data/patients.csv')")
    context.notebook = "study/first.ipynb"  # what the sidebar's hello says
    _run(shell, "a = df.age.mean(epsilon=0.2)")
    # Another notebook on the same ledger: its own kernel, its own context.
    other = KernelContext(shell)
    other.notebook = "study/second.ipynb"
    monkeypatch.setattr(jp.workspace(), "context", other)
    monkeypatch.setattr(jp.workspace(), "events", EventHub())
    jp.workspace().subscribe(other.on_event)
    _run(shell, "b = df.count(epsilon=0.1)")
    records = {r.id: r.context for r in jp.workspace().releases()}
    assert records[shell.user_ns["a"].id]["notebook"] == "study/first.ipynb"
    assert records[shell.user_ns["b"].id]["notebook"] == "study/second.ipynb"
    manifest = json.loads(jp.export_releases(tmp_path / "second.json").read_text())
    assert [r["id"] for r in manifest["releases"]] == [shell.user_ns["b"].id]
    assert manifest["notebook"] == "study/second.ipynb"
    everything = json.loads(
        jp.export_releases(tmp_path / "all.json", every_notebook=True).read_text()
    )
    assert len(everything["releases"]) == 2
    # A rename: the releases made under the old name are still this notebook's.
    other.notebook = "study/renamed.ipynb"
    _run(shell, "c = df.count(epsilon=0.15)")
    renamed = json.loads(jp.export_releases(tmp_path / "renamed.json").read_text())
    ids = [r["id"] for r in renamed["releases"]]
    assert ids == [shell.user_ns["b"].id, shell.user_ns["c"].id]
    assert other.notebook_names() == ["study/renamed.ipynb", "study/second.ipynb"]
    # The first notebook's question asked again here: replayed, so this notebook's result too.
    _run(shell, "a2 = df.age.mean(epsilon=0.2)")
    assert shell.user_ns["a2"].replayed
    replayed = json.loads(jp.export_releases(tmp_path / "replayed.json").read_text())
    assert shell.user_ns["a"].id in [r["id"] for r in replayed["releases"]]


def test_use_workspace_keeps_recording_cells_and_notebooks(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    _run(
        shell,
        "import jupyter_privacy as jp\njp.use_workspace(r'" + str(tmp_path / "other") + "')\n"
        "import pandas as pd\n"
        "q = jp.register(pd.DataFrame({'x': [1, 2, 3] * 20}), name='q',"
        " budget=jp.Budget(epsilon=1.0), bounds={'x': (0, 5)})",
    )
    _run(shell, "r = q.x.mean(epsilon=0.2)")
    (record,) = jp.workspace().ledger.releases()
    assert record.context["execution_count"] is not None
    assert set(record.context) == {"execution_count", "cell_id", "notebook"}


def test_every_display_has_an_html_and_a_text_form(shell: InteractiveShell) -> None:
    """What a saved or exported notebook can show without any script: HTML and text for every
    object the workbench displays (charts: Vega-Lite, SVG and text)."""
    _run(
        shell,
        "import pandas as pd\nimport jupyter_privacy as jp\ndf = pd.read_csv('data/patients.csv')",
    )
    cells = {
        "df": {"text/html", "text/plain"},
        "df.age": {"text/html", "text/plain"},
        "df.groupby('state')": {"text/html", "text/plain"},
        "df.budget": {"text/html", "text/plain"},
        "df.age.mean(epsilon=0.1)": {"text/html", "text/plain"},
        "df.count(dry_run=True)": {"text/html", "text/plain"},
        "jp.budget()": {"text/html", "text/plain"},
        "jp.lineage()": {"text/html", "text/plain"},
    }
    for code, kinds in cells.items():
        with capture_output() as out:
            result = shell.run_cell(code)
        bundles = [o.data for o in out.outputs if not o.update]
        if result.result is not None:
            bundles.append(shell.display_formatter.format(result.result)[0])
        bundles = [b for b in bundles if b]
        assert len(bundles) == 1 and set(bundles[0]) == kinds, (code, [list(b) for b in bundles])
        assert "application/vnd.jupyter.widget-view+json" not in bundles[0]
    with capture_output() as out:
        shell.run_cell("df.groupby('state').size(epsilon=0.1)")
    table, chart = (o.data for o in out.outputs if not o.update)  # meters above redraw too
    assert set(table) == {"text/html", "text/plain"}
    assert set(chart) == {"application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"}
    assert "jpp-meter" in shell.display_formatter.format(shell.user_ns["df"].budget)[0]["text/html"]
