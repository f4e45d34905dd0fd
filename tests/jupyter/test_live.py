"""The live displays behind ``jp.budget()`` and ``jp.lineage()``: plain HTML and text, redrawn in
place by display id, through a real InteractiveShell's display machinery (no frontend)."""

from __future__ import annotations

import gc
import json
import re
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.jupyter import live, render
from jupyter_privacy.jupyter.live import BudgetDisplay, LineageDisplay
from tests.conftest import STATES, make_patients

ROOT = Path(__file__).resolve().parents[2]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def shell() -> Iterator[InteractiveShell]:
    """``display`` publishes through a shell (``capture_output`` records what it sends); the
    displays a test made stop following afterwards (the shell's ``Out`` keeps them alive)."""
    yield InteractiveShell.instance()
    for shown in list(live._following):
        shown.close()


def _register(name: str = "p", epsilon: float = 1.0) -> jp.SensitiveFrame:
    df = make_patients(400, seed=5)
    return jp.register(
        df,
        name=name,
        budget=jp.Budget(epsilon=epsilon),
        bounds={"age": (18, 90), "income": (0, 250_000)},
        keys={"state": STATES},
    )


def _display_id(output: Any) -> str:
    return str((output.transient or {}).get("display_id"))


def test_jp_budget_is_an_html_display_with_a_text_form_and_no_widget(home: Path) -> None:
    f = _register()
    f.count(epsilon=0.25)
    meter = jp.budget()
    assert isinstance(meter, BudgetDisplay)
    with capture_output() as out:
        display(meter)
    (shown,) = out.outputs
    assert set(shown.data) == {"text/html", "text/plain"}  # nothing a static page cannot show
    assert WIDGET_VIEW not in shown.data
    assert _display_id(shown) == meter.display_id
    assert (
        'class="jpp-budget"' in shown.data["text/html"]
        and "spent ε = 0.250 of 1" in (shown.data["text/html"])
    )
    text = shown.data["text/plain"]
    assert text.splitlines()[0] == "Privacy budget"
    assert "p  █████░░░░░░░░░░░░░░░  spent ε = 0.250 of 1 · remaining ε = 0.750" in text
    assert "one more default query costs ε = 0.100" in text


def test_every_release_redraws_every_output_of_the_meter_in_place(home: Path) -> None:
    f = _register()
    meter = jp.budget()
    with capture_output() as out:
        display(meter)
        display(meter)  # shown twice: both outputs carry the one display id
        f.age.mean(epsilon=0.2)
        f.groupby("state").size(epsilon=0.2)
    first, second, *updates = out.outputs
    assert _display_id(first) == _display_id(second) == meter.display_id
    assert [u.update for u in updates] == [True] * len(updates) and len(updates) >= 2
    assert {_display_id(u) for u in updates} == {meter.display_id}
    assert "spent ε = 0.400 of 1" in updates[-1].data["text/html"]
    assert "spent ε = 0.400 of 1" in updates[-1].data["text/plain"]
    assert meter.value == updates[-1].data["text/html"]


def test_a_replay_or_a_refusal_sends_no_update(home: Path) -> None:
    f = _register()
    f.age.mean(epsilon=0.6)
    meter = jp.budget()
    with capture_output() as out:
        display(meter)
        assert f.age.mean(epsilon=0.6).replayed
        with pytest.raises(jp.BudgetExceededError):
            f.income.mean(epsilon=0.5)
    assert len(out.outputs) == 1


def test_the_bar_turns_amber_past_80_percent_and_red_when_spent(home: Path) -> None:
    f = _register()
    meter = jp.budget()
    f.count(epsilon=0.8)
    assert 'data-level="ok"' in meter.value and render.WARN not in meter.value
    f.age.mean(epsilon=0.05)
    assert 'data-level="warn"' in meter.value and render.WARN in meter.value
    assert "⚠ over 80% spent" in meter.value and "⚠ over 80% spent" in meter.text
    assert "width:85.0%" in meter.value
    f.income.mean(epsilon=0.15)
    assert 'data-level="spent"' in meter.value and render.ERROR in meter.value
    assert "✕ budget spent" in meter.value and "████████████████████" in meter.text


def test_under_zcdp_the_meter_shows_the_composed_epsilon_and_delta(home: Path) -> None:
    df = make_patients(400, seed=5)
    f = jp.register(
        df, name="z", budget=jp.Budget(epsilon=3.0, delta=1e-6), bounds={"age": (18, 90)}
    )
    for i in range(3):
        f.age.mean(epsilon=0.5, alpha=0.1 + 0.01 * i)
    meter = jp.budget()
    state = jp.workspace().budget_state("z")
    assert f"composed ε {state.epsilon_spent:.3f} (the per-query ε add up to 1.500)" in meter.text
    assert "δ = " in meter.value and "of 1e-06" in meter.value


def test_an_empty_workspace_says_how_to_register(home: Path) -> None:
    meter = jp.budget()
    assert "No sources registered yet" in meter.value
    assert repr(meter) == "Privacy budget: no sources registered yet (jp.register(...))"


def test_the_meter_follows_use_workspace(home: Path, tmp_path: Path) -> None:
    _register("first").count(epsilon=0.5)
    meter = jp.budget()
    with capture_output() as out:
        display(meter)
        jp.use_workspace(tmp_path / "other")
        _register("second").count(epsilon=0.3)
    assert "first" not in meter.value and "second" in meter.value
    assert "spent ε = 0.300 of 1" in out.outputs[-1].data["text/plain"]
    assert all(_display_id(o) == meter.display_id for o in out.outputs)


def test_replay_mode_is_said_on_the_meter(home: Path, tmp_path: Path) -> None:
    f = _register()
    f.count(epsilon=0.5)
    jp.export_releases(tmp_path / "releases.json")
    jp.use_workspace(tmp_path / "reviewer")
    jp.replay(tmp_path / "releases.json")
    try:
        meter = jp.budget()
        assert "replay mode: every value is a published release" in meter.value
        assert "(replay mode: every value is a published release" in meter.text
    finally:
        jp.replay(None)


def test_a_closed_or_forgotten_display_stops_following(home: Path) -> None:
    gc.collect()  # displays of earlier tests, not yet collected, would follow this workspace
    ws = jp.workspace()
    f = _register()
    before = len(ws.events)
    meter = jp.budget()
    assert len(ws.events) == before + 1
    meter.close()
    assert len(ws.events) == before
    shown = meter.value
    f.count(epsilon=0.1)
    assert meter.value == shown  # a closed meter keeps its last state
    other = jp.budget()
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None and len(ws.events) == before


def test_the_lineage_display_adds_each_release_and_exports(home: Path, tmp_path: Path) -> None:
    f = _register()
    panel = jp.lineage()
    assert isinstance(panel, LineageDisplay)
    with capture_output() as out:
        display(panel)
        r = f[f.age >= 65].income.mean(epsilon=0.2)
    assert set(out.outputs[0].data) == {"text/html", "text/plain"}
    assert "p[(p.age &gt;= 65)].income.mean(epsilon=0.2)" in out.outputs[-1].data["text/html"]
    assert out.outputs[-1].update and _display_id(out.outputs[-1]) == panel.display_id
    graph = panel.to_dict()
    assert [n["release_id"] for n in graph["nodes"] if n["kind"] == "release"] == [r.id]
    assert json.loads(panel.to_json(tmp_path / "l.json").read_text()) == graph
    assert panel.text.startswith("Lineage: 1 source(s), 1 transform(s), 1 release(s)")


def test_the_magics_show_the_same_displays(home: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    _register()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_privacy")
    try:
        with capture_output() as out:
            ip.run_cell("%privacy budget")
            ip.run_cell("%privacy lineage")
        kinds = [set(o.data) for o in out.outputs]
        assert kinds == [{"text/html", "text/plain"}] * 2
        assert "jpp-budget" in out.outputs[0].data["text/html"]
        assert "jpp-lineage" in out.outputs[1].data["text/html"]
    finally:
        ip.run_line_magic("unload_ext", "jupyter_privacy")


# --- no sidebar rule reaches a notebook output --------------------------------------------------


def _stylesheet_selectors() -> list[str]:
    css = (ROOT / "labextension" / "style" / "base.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return [s.strip() for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")]


def test_every_rule_of_the_lab_stylesheet_is_scoped_to_the_sidebar_or_the_status_bar() -> None:
    scopes = (".jp-privacy-sidebar", ".jp-privacy-statusbar", ".jp-Cell.jp-privacy-revealed")
    selectors = _stylesheet_selectors()
    assert len(selectors) > 30
    assert [s for s in selectors if not s.startswith(scopes)] == []


def test_no_class_of_the_kernel_html_is_styled_by_the_lab_extension(ws: Workspace) -> None:
    ws.register(
        make_patients(300, seed=3),
        name="p",
        budget=jp.Budget(epsilon=5.0),
        bounds={"age": (18, 90)},
        keys={"state": STATES},
    )
    f = jp.SensitiveFrame(ws, "p")
    html = "".join(
        [
            render.release_html(f.age.mean(epsilon=0.2)),
            render.table_html(f.groupby("state").size(epsilon=0.2)),
            render.budget_html([ws.budget_state("p")]),
            BudgetDisplay(ws, follow=False).value,
            LineageDisplay(ws, follow=False).value,
        ]
    )
    used = {c for attr in re.findall(r'class="([^"]+)"', html) for c in attr.split()}
    assert used and all(c.startswith("jpp-") for c in used - {"dataframe"}), used  # pandas
    styled = set(re.findall(r"\.([A-Za-z][\w-]*)", " ".join(_stylesheet_selectors())))
    assert used.isdisjoint(styled)
