"""Refusals in a notebook: real error outputs (name, one-line reason, the fix, where), with the
"Try:" line written for the cell's own names, and only suggestions that can run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.core.errors import PrivacyError
from tests.conftest import extension_loaded, make_patients

POLICY = """
[sources.patients]
path = "data/patients.csv"
privacy_unit = "patient_id"
budget = { epsilon = 3.0 }
bounds = { age = [18, 90], income = [0, 250000] }
keys = { state = ["CA", "NY", "TX", "WA"] }
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def shell(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    (tmp_path / "data").mkdir()
    make_patients().to_csv(tmp_path / "data" / "patients.csv", index=False)
    (tmp_path / "privacy.toml").write_text(POLICY)
    with extension_loaded(tmp_path, monkeypatch) as ip:
        ip.run_cell("import pandas as pd\nimport jupyter_privacy as jp")
        yield ip


class Shown:
    """What the shell sent as the error output of the last cell."""

    ename = evalue = ""
    traceback: list[str] = []  # noqa: RUF012


@pytest.fixture
def shown(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> Shown:
    record = Shown()

    def capture(etype: type, evalue: BaseException, stb: list[str]) -> None:
        # the same three fields ipykernel puts in the error message (ename, evalue, traceback)
        record.ename, record.evalue, record.traceback = etype.__name__, str(evalue), stb

    monkeypatch.setattr(shell, "_showtraceback", capture)
    return record


def _run(ip: InteractiveShell, code: str) -> Any:
    with capture_output():
        return ip.run_cell(code)


def _try_line(shown: Shown) -> str:
    text = ANSI.sub("", "\n".join(shown.traceback))
    (line,) = [x for x in text.splitlines() if x.startswith("Try: ")]
    return line.removeprefix("Try: ")


def test_a_refusal_is_an_error_output_with_its_name_reason_fix_and_place(
    shell: InteractiveShell, shown: Shown
) -> None:
    _run(shell, "df = pd.read_csv('data/patients.csv')")
    result = _run(shell, "df.head()")
    assert not result.success and isinstance(result.error_in_exec, jp.RowAccessError)
    assert shown.ename == "RowAccessError"
    assert shown.evalue.startswith("Refused to access rows with head on 'patients': ")
    text = ANSI.sub("", "\n".join(shown.traceback)).splitlines()
    assert text[0] == "RowAccessError: " + shown.evalue.splitlines()[0]
    assert text[-2] == "Try: df.describe()"
    assert re.fullmatch(r"\(Cell In\[\d+\], line 1: df\.head\(\)\)", text[-1]), text[-1]
    assert len(text) <= 5 and "Traceback" not in "\n".join(text)
    assert "site-packages" not in "\n".join(text) and "jupyter_privacy/" not in "\n".join(text)
    assert "Try: df.describe()" in shown.evalue  # evalue and traceback say the same


def test_the_suggestion_names_the_cells_variable_and_runs(
    shell: InteractiveShell, shown: Shown
) -> None:
    _run(shell, "df = pd.read_csv('data/patients.csv')")
    _run(shell, "df.head()")
    fix = _try_line(shown)
    assert fix == "df.describe()"
    result = _run(shell, f"suggested = {fix}")
    assert result.success, result.error_in_exec
    assert isinstance(shell.user_ns["suggested"], jp.ReleaseTable)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("df[df.age >= 65].head()", "df[df.age >= 65].describe()"),
        ("adults = df[df.age >= 18]\nadults.tail()", "adults.describe()"),
        ("ages = df.age\nages.sample(3)", "ages.describe()"),
        ("len(df)", "df.describe()"),
        ("df.income.mean(epsilon=50)", "df.income.mean(epsilon=1.5)"),
        ("def first(x):\n    return x.iloc[0]\nfirst(df)", "x.describe()"),
    ],
)
def test_the_suggestion_follows_the_users_names(
    shell: InteractiveShell, shown: Shown, cell: str, expected: str
) -> None:
    _run(shell, "df = pd.read_csv('data/patients.csv')")
    _run(shell, cell)
    assert _try_line(shown).split("   or   ")[0] == expected


def test_a_suggestion_that_cannot_run_on_that_column_is_replaced(
    shell: InteractiveShell, shown: Shown
) -> None:
    # 'city' is text with no public keys, and the budget has no δ: value_counts() and mean()
    # would both be refused; count() is what can run.
    _run(shell, "df = pd.read_csv('data/patients.csv')")
    _run(shell, "df.city.unique()")
    assert _try_line(shown) == "df.city.count()"
    assert _run(shell, "df.city.count()").success
    _run(shell, "df.city.describe()")  # the engine suggests value_counts(): it would fail
    assert "value_counts" not in _try_line(shown) and "df.city.count()" in _try_line(shown)
    _run(shell, "df.state.unique()")  # declared keys: value_counts() can run and is kept
    assert _try_line(shown) == "df.state.value_counts()"
    assert _run(shell, _try_line(shown)).success


def test_templates_with_placeholders_are_left_as_they_are(
    shell: InteractiveShell, shown: Shown
) -> None:
    shell.user_ns["raw"] = make_patients().assign(visits=1)
    _run(shell, "v = jp.register(raw, name='v', budget=jp.Budget(epsilon=1.0))")
    _run(shell, "v.visits.mean()")
    assert _try_line(shown) == (
        "jp.register(..., bounds={'visits': (LOW, HIGH)})   or   v.visits.clip(LOW, HIGH).mean()"
    )


def test_an_unnamed_frame_is_reached_through_jp_source(
    shell: InteractiveShell, shown: Shown
) -> None:
    _run(shell, "jp.source('patients').iterrows()")
    assert _try_line(shown).startswith("jp.source('patients').groupby(")


def test_the_rewrite_reads_no_data_and_spends_nothing(
    shell: InteractiveShell, shown: Shown
) -> None:
    _run(shell, "df = pd.read_csv('data/patients.csv')")
    ledger = jp.workspace().ledger
    before = (len(ledger.audit_rows()), ledger.totals("patients")[1])
    for cell in ("df.city.unique()", "df.head()", "df.state.sample(2)"):
        _run(shell, cell)
    after = (len(ledger.audit_rows()), ledger.totals("patients")[1])
    assert after == before


def test_the_same_code_gives_the_same_refusal_on_neighbouring_data(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = []
    for i, frame in enumerate([make_patients(300), make_patients(300).drop(index=7)]):
        folder = tmp_path / f"d{i}"
        (folder / "data").mkdir(parents=True)
        frame.to_csv(folder / "data" / "patients.csv", index=False)
        (folder / "privacy.toml").write_text(POLICY.replace("patients]", f"p{i}]"))
        with extension_loaded(folder, monkeypatch) as ip:
            ip.run_cell("import pandas as pd")
            with capture_output():
                result = ip.run_cell("df = pd.read_csv('data/patients.csv')\ndf.city.unique()")
            assert isinstance(result.error_in_exec, PrivacyError)
            texts.append(str(result.error_in_exec).replace(f"'p{i}'", "'P'"))
    assert texts[0] == texts[1] and "Try: df.city.count()" in texts[0]


def test_unloading_takes_the_error_rendering_away(shell: InteractiveShell) -> None:
    assert hasattr(jp.RowAccessError("x", "s", "r"), "_render_traceback_")
    shell.run_line_magic("unload_ext", "jupyter_privacy")
    try:
        assert not hasattr(jp.RowAccessError("x", "s", "r"), "_render_traceback_")
        assert not shell.custom_exceptions
    finally:
        shell.run_line_magic("load_ext", "jupyter_privacy")
    assert isinstance(pd.read_csv("data/patients.csv"), jp.SensitiveFrame)


def test_a_policy_that_cannot_load_is_refused_in_a_few_lines(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_privacy.jupyter import refusal

    (tmp_path / "privacy.toml").write_text(POLICY)  # declares data/patients.csv: not there
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    ip = InteractiveShell.instance()
    record = Shown()

    def capture(etype: type, evalue: BaseException, stb: list[str]) -> None:
        record.ename, record.evalue, record.traceback = etype.__name__, str(evalue), stb

    monkeypatch.setattr(ip, "_showtraceback", capture)
    try:
        with capture_output():
            ip.run_cell("%load_ext jupyter_privacy")
        assert record.ename == "PolicyError"
        text = ANSI.sub("", "\n".join(record.traceback))
        assert (
            text.startswith("PolicyError: Refused to register on ") and len(text.splitlines()) <= 4
        )
    finally:
        refusal.uninstall()
