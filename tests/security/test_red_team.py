"""Red team: concrete attempts to get rows, or more than the budget pays for, out of a source.

Each test is one attempt. It passes when the attempt is refused with a ``PrivacyError``, or when
what comes out is a differentially private release correctly charged to the ledger, and no
spelling of the planted sentinel appears anywhere it could be seen. Attempts that guard-rail mode
cannot stop by design are marked ``curator_only`` (see ``conftest.py`` and docs/threat-model.md).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import logging
import math
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.core.engine import mechanisms as mech
from tests.conftest import STATES, extension_loaded, make_patients
from tests.curator.harness import Users
from tests.security.conftest import (
    SENTINEL_CITY,
    SENTINEL_ID,
    SENTINEL_INCOME,
    Target,
    build_target,
    leaked,
    planted,
)


def guard_rail_only(target: Target, why: str) -> None:
    if target.mode != "guard-rail":
        pytest.skip(f"guard-rail mode only: {why}")


def needs_another_user(target: Target) -> None:
    """Curator mode stops these only when the curator's files are not the kernel's to read."""
    if target.mode != "guard-rail" and target.kernel is None:
        pytest.xfail(str(target.unisolated))


def spent(frame: jp.SensitiveFrame) -> float:
    return frame.budget.epsilon_spent


def charged(frame: jp.SensitiveFrame) -> float:
    """Sum of per-query ε charged so far (exact on the ledger, read back as a float)."""
    return frame.budget.naive_epsilon


def refused(call: Callable[[], object], error: type[jp.PrivacyError] = jp.PrivacyError) -> str:
    with pytest.raises(error) as err:
        call()
    text = str(err.value)
    assert text.startswith("Refused to ")
    assert not leaked(text), text
    return text


# --- display and repr ----------------------------------------------------------------------------


def test_repr_of_frame_series_and_groupby_shows_schema_and_budget_only(guarded: Target) -> None:
    p = guarded.frame
    texts = [repr(p), str(p), repr(p.income), repr(p.groupby("state")), repr(p.groupby("city"))]
    assert "rows are not shown" in texts[0] and "income" in texts[0]
    assert not leaked("\n".join(texts))


@pytest.fixture
def shell(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with extension_loaded(tmp_path, monkeypatch) as ip:
        yield ip


def _run(ip: InteractiveShell, code: str) -> str:
    with capture_output() as out:
        ip.run_cell(code)
    return (
        out.stdout
        + out.stderr
        + "".join(
            str(o.data.get("text/plain", "")) + str(o.data.get("text/html", ""))
            for o in out.outputs
        )
    )


def test_displaying_guarded_objects_in_the_notebook_shows_no_rows(
    guarded: Target, shell: InteractiveShell
) -> None:
    shown = _run(
        shell,
        "import jupyter_privacy as jp\np = jp.source('canary')\n"
        "display(p, p.income, p.groupby('city'), p.income.mean(epsilon=0.1))\np",
    )
    assert "rows are not shown" in shown and "noised" in shown
    assert not leaked(shown)


def test_read_csv_of_the_registered_path_returns_the_guarded_frame(
    guarded: Target, shell: InteractiveShell
) -> None:
    guard_rail_only(guarded, "the kernel registers no paths; the curator reads the file")
    shell.user_ns["path"] = str(guarded.csv)
    shown = _run(shell, "import pandas as pd\ndf = pd.read_csv(path)\ndf.head()")
    assert isinstance(shell.user_ns["df"], jp.SensitiveFrame)
    assert "Refused to access rows with head" in shown
    assert not leaked(shown)


def test_out_history_and_saved_outputs_of_a_registered_raw_frame_show_no_rows(
    home: Path, shell: InteractiveShell
) -> None:
    """The raw frame stays in memory (it is the user's own object) but never renders."""
    shell.user_ns["raw"] = planted()
    with pytest.warns(UserWarning, match="still reachable as `raw`"):
        _run(shell, "import jupyter_privacy as jp\np = jp.register(raw, name='raw_src', "
                    "budget=jp.Budget(epsilon=1.0))")  # fmt: skip
    shown = _run(shell, "raw")
    shown += _run(shell, "print(repr(Out))\nOut")
    saved = [shell.display_formatter.format(v)[0] for v in shell.user_ns["Out"].values()]
    assert "Refused to display a raw frame on 'raw_src'" in shown
    assert not leaked(shown + repr(saved))


# --- raw row access ------------------------------------------------------------------------------

ROW_ACCESS: list[tuple[str, Callable[[jp.SensitiveFrame], object]]] = [
    ("head", lambda p: p.head()),
    ("tail", lambda p: p.tail(3)),
    ("sample", lambda p: p.sample(5)),
    ("values", lambda p: p.income.values),
    ("to_numpy", lambda p: p.income.to_numpy()),
    ("iloc", lambda p: p.iloc[17]),
    ("loc", lambda p: p.loc[p.patient_id == SENTINEL_ID]),
    ("series indexing", lambda p: p.income[17]),
    ("frame indexing by int", lambda p: p[17]),
    ("iteration over the frame", lambda p: list(p)),
    ("iteration over a series", lambda p: [v for v in p.income]),
    ("iteration over a groupby", lambda p: list(p.groupby("state"))),
    ("len", lambda p: len(p)),
    ("len of a series", lambda p: len(p.income)),
    ("numpy conversion", lambda p: np.asarray(p.income)),
    ("float of a series", lambda p: float(p.income)),
    ("dataframe interchange", lambda p: p.__dataframe__()),
    ("arrow stream", lambda p: p.__arrow_c_stream__()),
    ("groupby groups", lambda p: p.groupby("state").groups),
    ("groupby get_group", lambda p: p.groupby("state").get_group("CA")),
    ("groupby nth", lambda p: p.groupby("state").nth(0)),
    ("unique", lambda p: p.city.unique()),
    ("sort_values", lambda p: p.sort_values("income")),
    ("nlargest", lambda p: p.income.nlargest(1)),
]


@pytest.mark.parametrize("label, attempt", ROW_ACCESS, ids=[a[0] for a in ROW_ACCESS])
def test_raw_row_access_is_refused_and_charges_nothing(
    guarded: Target, label: str, attempt: Callable[[jp.SensitiveFrame], object]
) -> None:
    refused(lambda: attempt(guarded.frame), jp.RowAccessError)
    assert spent(guarded.frame) == 0


EXPORTERS = [
    "to_csv", "to_parquet", "to_json", "to_dict", "to_pandas", "to_polars", "to_excel",
    "to_sql", "to_records", "to_string", "to_html", "to_markdown", "to_clipboard", "to_latex",
    "to_pickle", "to_feather", "to_arrow", "to_list", "collect",
]  # fmt: skip


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_every_exporter_is_refused_on_frames_and_series(guarded: Target, exporter: str) -> None:
    p = guarded.frame
    refused(lambda: getattr(p, exporter)("out.csv"), jp.RowAccessError)
    refused(lambda: getattr(p.income, exporter)(), jp.RowAccessError)


def test_vars_and_dunder_dict_expose_nothing(guarded: Target) -> None:
    p = guarded.frame
    for obj in (p, p.income, p.groupby("state")):
        with pytest.raises(TypeError):
            vars(obj)
        with pytest.raises((AttributeError, jp.PrivacyError)):
            obj.__dict__  # noqa: B018


def test_setting_attributes_to_redirect_a_frame_is_refused(guarded: Target) -> None:
    p = guarded.frame
    refused(lambda: setattr(p, "_source", "other"), jp.UnsupportedOperationError)
    refused(lambda: setattr(p.income, "_expr", None), jp.UnsupportedOperationError)
    assert p.name == "canary"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_frames_series_and_groupbys_is_refused(guarded: Target, protocol: int) -> None:
    p = guarded.frame
    for obj in (p, p.income, p[p.age > 30], p.groupby("state")):
        refused(lambda obj=obj: pickle.dumps(obj, protocol), jp.RowAccessError)


def test_copy_and_deepcopy_are_refused(guarded: Target) -> None:
    p = guarded.frame
    refused(lambda: copy.deepcopy(p), jp.RowAccessError)
    refused(lambda: copy.copy(p.income), jp.RowAccessError)


def test_arbitrary_python_callables_are_refused(guarded: Target) -> None:
    p = guarded.frame
    seen: list[object] = []
    for attempt in (
        lambda: p.income.apply(seen.append),
        lambda: p.income.map(seen.append),
        lambda: p.pipe(seen.append),
        lambda: p.transform(seen.append),
        lambda: p.groupby("state").agg({"income": seen.append}),  # type: ignore[dict-item]
    ):
        refused(attempt)
    assert seen == []


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').getpid() > 0",
        "income.max() > 0",
        "@threshold < income",
        "(lambda: 1)() == 1",
        "[x for x in income] == []",
    ],
)
def test_query_strings_are_parsed_never_evaluated(guarded: Target, expression: str) -> None:
    refused(lambda: guarded.frame.query(expression), jp.InvalidArgumentError)


# --- error messages, warnings and logs ---------------------------------------------------------------


def test_a_bad_cast_releases_noise_or_refuses_and_never_quotes_a_cell(guarded: Target) -> None:
    p = guarded.frame
    refused(lambda: p.city.astype(float).mean(), jp.MissingBoundsError)
    r = p.city.astype(float).clip(0, 100).mean(epsilon=0.2)  # every cell fails: nulls, not errors
    assert isinstance(r, jp.Release) and not leaked(repr(r))
    r = p.income.astype(int).clip(0, 250_000).sum(epsilon=0.2)
    assert not leaked(repr(r))


def test_unknown_columns_and_keys_are_refused_with_public_facts_only(guarded: Target) -> None:
    p = guarded.frame
    with pytest.raises(jp.InvalidArgumentError) as err:
        p["no_such_column"]
    assert str(err.value) == (  # what the analyst typed and the public schema, nothing else
        "Refused to read column 'no_such_column' on 'canary': there is no column "
        "'no_such_column'.\n  columns  age, city, income, patient_id, state\nTry: canary['age']"
    )
    refused(lambda: p.groupby("city").size(delta=0.5))  # δ beyond the budget
    table = p.groupby("state").size(epsilon=0.1)
    with pytest.raises(KeyError) as err:
        table[SENTINEL_CITY]
    assert str(err.value) == repr(SENTINEL_CITY)  # what the analyst typed, nothing else


def test_warnings_and_logs_carry_no_values(
    guarded: Target, caplog: pytest.LogCaptureFixture
) -> None:
    p = guarded.frame
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.income.mean(epsilon=0.1)
        p.groupby("city").income.median(epsilon=0.2)
        p.city.value_counts(epsilon=0.1)
        with contextlib.suppress(jp.PrivacyError):
            p.city.mean()
        guarded.csv.write_text(f"income,city\n{SENTINEL_INCOME},{SENTINEL_CITY}\n")  # now broken
        with pytest.raises(jp.ReleaseFailedError) as err:
            p.age.mean(epsilon=0.1)
    blob = "\n".join([caplog.text, str(err.value), *(str(w.message) for w in caught)])
    assert not leaked(blob), blob


# --- isolating one person ------------------------------------------------------------------------------


def test_a_filter_isolating_one_person_releases_only_a_charged_noisy_count(guarded: Target) -> None:
    p = guarded.frame
    one = p[p.patient_id == SENTINEL_ID]
    r = one.count(epsilon=0.5)
    assert r.mechanism == "discrete Gaussian" and r.epsilon == 0.5
    assert charged(p) == pytest.approx(0.5)
    income = one.income.sum(epsilon=0.5)
    assert income.ci[0] <= float(income) <= income.ci[1]
    assert charged(p) == pytest.approx(1.0)
    # noise at the scale of the bound, 250,000. The released interval is clipped at 0 (a sum of
    # incomes is not negative), so it is narrow when the draw is far below 0 (1 in 40): read the
    # width from the estimate, which is the same whatever the draw
    assert one.income.sum(epsilon=0.5, dry_run=True).halfwidth > 100_000
    assert charged(p) == pytest.approx(1.0)


def test_group_by_a_unique_id_is_refused_or_releases_no_id(guarded: Target) -> None:
    p = guarded.frame
    table = p.groupby("patient_id").size(epsilon=1.0)  # unknown keys: thresholded
    assert len(table) == 0  # every id has one row: all below the threshold (P[any] ≤ 400·δ)
    assert charged(p) == pytest.approx(1.0)


def test_group_by_a_unique_id_under_pure_dp_is_refused(home: Path) -> None:
    p = jp.register(make_patients(), name="pure", privacy_unit="patient_id",
                    budget=jp.Budget(epsilon=1.0))  # fmt: skip
    refused(lambda: p.groupby("patient_id").size(), jp.MissingBoundsError)


def test_declared_keys_absent_from_the_data_are_released_as_noise_not_omitted(home: Path) -> None:
    keys = [*STATES, "ZZ"]  # no row has ZZ; its cell must appear, noisy, like every other
    p = jp.register(make_patients(), name="k", budget=jp.Budget(epsilon=2.0), keys={"state": keys})
    table = p.groupby("state").size(epsilon=1.0)
    assert [c.key[0] for c in table.cells] == keys
    assert sorted(c.key[0] for c in p.state.value_counts(epsilon=1.0).cells) == sorted(keys)


def test_bins_bounds_and_candidates_never_come_from_the_data(guarded: Target) -> None:
    p = guarded.frame
    refused(lambda: p.patient_id.hist(bins=5), jp.MissingBoundsError)
    refused(lambda: p.patient_id.median(), jp.MissingBoundsError)
    refused(lambda: p.patient_id.max(), jp.MissingBoundsError)
    hist = p.income.hist(bins=5, epsilon=0.2)
    assert [c.key[0] for c in hist.cells] == [
        "[0, 50000)", "[50000, 100000)", "[100000, 150000)", "[150000, 200000)",
        "[200000, 250000]",
    ]  # fmt: skip
    quartiles = p.income.clip(0, 100_000).quantile([0.25, 0.75], epsilon=0.2)
    assert all(0 <= c.value <= 100_000 for c in quartiles.cells)


# --- extreme and missing values --------------------------------------------------------------------


def _extreme(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["income"] = out["income"].astype(float)
    out.loc[0, "income"] = 1e308
    out.loc[1, "income"] = math.inf
    out.loc[2, "income"] = -math.inf
    out["big"] = np.int64(1)
    out.loc[3, "big"] = np.iinfo(np.int64).max
    out.loc[4, "big"] = np.iinfo(np.int64).min
    return out


ALL_AGGREGATES: list[tuple[str, Callable[[jp.SensitiveFrame], object]]] = [
    ("count", lambda p: p.income.count(epsilon=0.1)),
    ("sum", lambda p: p.income.sum(epsilon=0.1)),
    ("mean", lambda p: p.income.mean(epsilon=0.1)),
    ("var", lambda p: p.income.var(epsilon=0.1)),
    ("median", lambda p: p.income.median(epsilon=0.1)),
    ("big sum", lambda p: p.big.sum(epsilon=0.1)),
    ("big mean", lambda p: p.big.mean(epsilon=0.1)),
    ("describe", lambda p: p.describe(epsilon=0.1)),
    ("grouped mean", lambda p: p.groupby("state").income.mean(epsilon=0.1)),
    ("hist", lambda p: p.income.hist(bins=4, epsilon=0.1)),
]


@pytest.mark.parametrize("label, call", ALL_AGGREGATES, ids=[a[0] for a in ALL_AGGREGATES])
def test_extreme_values_neither_crash_nor_leak_and_are_clipped(
    home: Path, label: str, call: Callable[[jp.SensitiveFrame], object]
) -> None:
    """1e308, ±inf and int64 extremes in one row: a release, charged, within the bounds."""
    bounds = {"income": (0, 250_000), "big": (-10, 10)}
    p = jp.register(_extreme(make_patients()), name="x", budget=jp.Budget(epsilon=5.0),
                    bounds=bounds, keys={"state": STATES})  # fmt: skip
    result = call(p)
    cells = result.cells if isinstance(result, jp.ReleaseTable) else [result.cell]  # type: ignore[attr-defined]
    assert cells and all(math.isfinite(c.value) for c in cells)
    assert charged(p) == pytest.approx(0.1)


@pytest.mark.parametrize("label, call", ALL_AGGREGATES, ids=[a[0] for a in ALL_AGGREGATES])
def test_nan_and_null_injection_cannot_turn_a_release_into_an_error(
    home: Path, label: str, call: Callable[[jp.SensitiveFrame], object]
) -> None:
    """Clean data and data with NaN / None in one row both release: an error would be an oracle."""
    for name, mark in (("clean", None), ("nan", math.nan), ("null", None)):
        df = _extreme(make_patients()).astype({"income": "float64"})
        df.loc[5:, "income"] = df.loc[5:, "income"].clip(0, 250_000)
        if name != "clean":
            df.loc[6, "income"] = mark
            df.loc[7, "state"] = None
        p = jp.register(df, name=f"n_{name}", budget=jp.Budget(epsilon=5.0),
                        bounds={"income": (0, 250_000), "big": (-10, 10)},
                        keys={"state": STATES})  # fmt: skip
        call(p)
        assert charged(p) == pytest.approx(0.1)


# --- averaging, differencing, budget resets -----------------------------------------------------------


def test_repeating_a_query_replays_the_same_noise_instead_of_averaging(guarded: Target) -> None:
    p = guarded.frame
    first = p.income.mean(epsilon=0.5)
    again = [p.income.mean(epsilon=0.5) for _ in range(20)]
    assert {float(r) for r in again} == {float(first)} and all(r.replayed for r in again)
    assert charged(p) == pytest.approx(0.5)


def test_averaging_with_slightly_different_costs_pays_for_every_draw(guarded: Target) -> None:
    p = guarded.frame
    draws = [p.count(epsilon=0.1 + i * 1e-9) for i in range(10)]
    assert not any(r.replayed for r in draws)
    assert charged(p) == pytest.approx(1.0 + 45e-9)


def test_differencing_two_counts_pays_for_both(guarded: Target) -> None:
    p = guarded.frame
    everyone = p.count(epsilon=0.3)
    without = p[p.patient_id != SENTINEL_ID].count(epsilon=0.3)
    assert not everyone.replayed and not without.replayed
    assert charged(p) == pytest.approx(0.6)


def test_an_overspend_is_refused_whole_and_charges_nothing(home: Path) -> None:
    p = jp.register(
        make_patients(), name="o", budget=jp.Budget(epsilon=1.0), bounds={"age": (0, 99)}
    )
    refused(lambda: p.age.mean(epsilon=1e308), jp.InvalidArgumentError)  # above the ceiling
    refused(lambda: p.age.mean(epsilon=5.0), jp.BudgetExceededError)
    refused(lambda: p.age.mean(epsilon=1.0000000000000002), jp.BudgetExceededError)
    assert spent(p) == 0
    p.age.mean(epsilon=1.0)
    refused(lambda: p.count(epsilon=1e-6), jp.BudgetExceededError)  # the smallest ε allowed
    assert spent(p) == 1.0


def test_ten_charges_of_a_tenth_spend_exactly_one(home: Path) -> None:
    p = jp.register(make_patients(), name="f", budget=jp.Budget(epsilon=1.0))
    for i in range(10):
        p.count(epsilon=0.1, alpha=0.05 + i / 1000)
    assert spent(p) == 1.0
    refused(lambda: p.count(epsilon=1e-6), jp.BudgetExceededError)


def test_restarting_python_does_not_reset_the_budget(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    make_patients().to_csv(csv, index=False)
    script = textwrap.dedent(f"""
        import sys
        import jupyter_privacy as jp
        jp.use_workspace({str(home)!r})
        p = jp.register({str(csv)!r}, name="p", budget=jp.Budget(epsilon=1.0))
        try:
            p.count(epsilon=0.6, alpha=float(sys.argv[1]))  # not a replay: another interval
            print("released")
        except jp.BudgetExceededError:
            print("refused")
    """)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, alpha], capture_output=True, text=True, check=True
        )
        for alpha in ("0.05", "0.1")
    ]
    assert [r.stdout.strip() for r in runs] == ["released", "refused"]


def test_re_registering_the_same_name_with_a_larger_budget_is_refused(guarded: Target) -> None:
    refused(
        lambda: jp.register(guarded.csv, name="canary", privacy_unit="patient_id",
                            budget=jp.Budget(epsilon=1000.0, delta=1e-6)),
        jp.PolicyError,
    )  # fmt: skip


def test_re_registering_changed_data_under_the_same_name_shares_the_budget(guarded: Target) -> None:
    guard_rail_only(guarded, "clients cannot register sources with a curator")
    guarded.frame.count(epsilon=0.5)
    other = make_patients(50, seed=3)
    p2 = jp.register(other, name="canary", privacy_unit="patient_id",
                     budget=jp.Budget(epsilon=10.0, delta=1e-6))  # fmt: skip
    assert charged(p2) == pytest.approx(0.5)


def test_dry_run_reads_no_data_and_charges_nothing(guarded: Target) -> None:
    guarded.csv.unlink()
    estimate = guarded.frame.income.mean(epsilon=0.5, dry_run=True)
    assert isinstance(estimate, jp.Estimate)
    assert spent(guarded.frame) == 0


# --- what guard-rail mode cannot stop, by design ------------------------------------------------------
#
# Each attempt is a function of the guarded frame and of what an attacker may know (the data
# file's path, the ledger's path; the exact count, computed by the test, to recognise it).
# ``Target.attempt`` runs it in this process in guard-rail mode, and in curator mode in a kernel
# process of another OS user than the curator's. What it returns says how it was stopped.


def _contains_sentinel(obj: object) -> bool:
    if isinstance(obj, pl.DataFrame):
        return bool(obj["city"].cast(pl.String).eq(SENTINEL_CITY).any())
    if isinstance(obj, pd.DataFrame):
        return bool((obj["city"].astype(str) == SENTINEL_CITY).any())
    if isinstance(obj, Path) and obj.is_file():  # a registered path: the data is a read away
        return SENTINEL_CITY in obj.read_text()
    return False


def planted_count() -> int:
    """The exact row count after contribution bounding (one row per patient_id)."""
    return int(planted()["patient_id"].nunique())


def walk_gc_referents(p: jp.SensitiveFrame) -> list[str]:
    """Everything reachable from the frame through ``gc.get_referents``; the types met."""
    p.count(epsilon=0.1)
    seen, todo, kinds = set(), list(gc.get_referents(p)), set()
    found = False
    while todo and not found:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        kinds.add(type(obj).__name__)
        found = _contains_sentinel(obj)
        todo.extend(gc.get_referents(obj))
    assert not found, "gc.get_referents reached the raw rows"
    return sorted(kinds)


@pytest.mark.curator_only
def test_gc_referents_do_not_reach_the_rows(guarded: Target) -> None:
    # the walk went through the workspace to the source's description, where the rows would be
    assert {"CuratorService", "SourceSpec"} <= set(guarded.attempt(walk_gc_referents))


def profile_a_release(p: jp.SensitiveFrame, *, exact: int) -> int:
    """A profiler hook reads every local of the package's frames while a release runs."""
    locals_seen: list[object] = []

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "return" and "jupyter_privacy" in frame.f_code.co_filename:
            locals_seen.extend(frame.f_locals.values())

    sys.setprofile(profile)
    try:
        p.count(epsilon=0.1)
    finally:
        sys.setprofile(None)
    assert exact not in [v for v in locals_seen if type(v) is int], "the exact count was seen"
    return len(locals_seen)


@pytest.mark.curator_only
def test_frame_inspection_during_a_release_does_not_see_pre_noise_values(guarded: Target) -> None:
    assert guarded.attempt(profile_a_release, exact=planted_count()) > 0  # the hook saw frames


def read_slots_with_ctypes(p: jp.SensitiveFrame) -> list[str]:
    """Read the object's slot pointers straight from memory: no Python-level guard applies.
    The types of the objects in the slots."""
    found, kinds = False, []
    slots = (type(p).__basicsize__ - object.__basicsize__) // ctypes.sizeof(ctypes.c_void_p)
    for i in range(slots):
        address = ctypes.c_void_p.from_address(
            id(p) + object.__basicsize__ + i * ctypes.sizeof(ctypes.c_void_p)
        ).value
        obj = ctypes.cast(address, ctypes.py_object).value
        kinds.append(type(obj).__name__)
        for spec in getattr(obj, "sources", {}).values():
            found = found or _contains_sentinel(spec.data)
    assert not found, "ctypes reached the registered data"
    return kinds


@pytest.mark.curator_only
def test_ctypes_cannot_read_the_frame_past_its_attribute_guards(guarded: Target) -> None:
    assert "CuratorService" in guarded.attempt(read_slots_with_ctypes)  # its sources were read


def read_the_data_file(p: jp.SensitiveFrame, *, csv: str) -> list[str]:
    """Open the file, and read it with pandas and polars; how each was stopped."""
    stopped = []
    for read in (lambda: Path(csv).read_text(), lambda: pd.read_csv(csv), lambda: pl.read_csv(csv)):
        try:
            data = read()
        except PermissionError as exc:
            stopped.append(type(exc).__name__)
            continue
        assert not (SENTINEL_CITY in data if isinstance(data, str) else _contains_sentinel(data)), (
            "the kernel can read the data file"
        )
    return stopped


@pytest.mark.curator_only
def test_reading_the_data_file_directly_is_not_possible(guarded: Target) -> None:
    needs_another_user(guarded)
    assert guarded.attempt(read_the_data_file, csv=str(guarded.csv)) == ["PermissionError"] * 3


def follow_private_attributes(p: jp.SensitiveFrame) -> str:
    spec = p._ws.sources["canary"]
    assert not _contains_sentinel(spec.data), "p._ws.sources[...].data is the raw source"
    return type(spec.data).__name__


@pytest.mark.curator_only
def test_private_attributes_do_not_lead_to_the_data(guarded: Target) -> None:
    assert guarded.attempt(follow_private_attributes) == "NoneType"


def patch_the_engine(p: jp.SensitiveFrame, *, exact: int) -> float:
    # The patch marks what it releases (exact value + 10⁹), so whether it took effect is certain,
    # not a matter of the noise happening to be zero.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mech.Noise, "release", lambda self, value: value + 10**9)
        released = float(p.count(epsilon=0.1))
    assert released - exact < 10**8, "a patched engine released the value"
    return released


@pytest.mark.curator_only
def test_monkeypatching_the_engine_cannot_release_exact_values(guarded: Target) -> None:
    released = guarded.attempt(patch_the_engine, exact=planted_count())
    assert abs(released - planted_count()) < 200  # a noisy count, ε = 0.1


def assert_refused_for_budget(call: Callable[[], object], bypass: str) -> None:
    """An AssertionError (not pytest.raises' Failed) when the bypass works, as xfail expects."""
    try:
        call()
    except jp.BudgetExceededError:
        return
    raise AssertionError(bypass)


def register_a_renamed_copy(p: jp.SensitiveFrame, *, csv: str) -> list[str]:
    """Spend the budget, then register the file again under another name: in this workspace,
    then in a new local one (a kernel may always start its own). Why each was refused."""
    p.count(epsilon=10.0)  # the whole budget
    stopped = []
    for fresh in (False, True):
        if fresh:
            jp.use_workspace(tempfile.mkdtemp(prefix="jp-copy-"))
        try:
            copy_ = jp.register(csv, name="canary_copy", privacy_unit="patient_id",
                                budget=jp.Budget(epsilon=10.0, delta=1e-6))  # fmt: skip
            copy_.count(epsilon=1.0)
        except jp.PrivacyError as exc:
            stopped.append(f"{type(exc).__name__}: {str(exc).splitlines()[0].split(': ', 1)[1]}")
            continue
        raise AssertionError("a renamed copy got a fresh budget")
    return stopped


@pytest.mark.curator_only
def test_re_registering_a_renamed_copy_does_not_get_a_fresh_budget(guarded: Target) -> None:
    needs_another_user(guarded)
    assert guarded.attempt(register_a_renamed_copy, csv=str(guarded.csv)) == [
        "PolicyError: in curator mode the curator declares the sources; the kernel never names a file.",
        "PolicyError: the file cannot be read.",
    ]


def edit_the_ledger(p: jp.SensitiveFrame, *, ledger: str) -> str:
    """Spend the budget, set it back to zero in the ledger file, ask again; what the edit did."""
    p.count(epsilon=10.0)
    try:
        db = sqlite3.connect(f"file:{ledger}?mode=rw", uri=True)  # never create another file
        try:
            db.execute("UPDATE sources SET spent = ? WHERE name = 'canary'",
                       ('{"epsilon": "0", "rho": "0", "delta": "0"}',))  # fmt: skip
            db.commit()
        finally:
            db.close()
        edit = "edited"
    except sqlite3.OperationalError as exc:
        edit = str(exc)
    assert_refused_for_budget(lambda: p.count(epsilon=1.0), "the edit reset the budget")
    return edit


@pytest.mark.curator_only
def test_editing_the_ledger_file_cannot_reset_the_budget(guarded: Target) -> None:
    needs_another_user(guarded)
    assert guarded.attempt(edit_the_ledger, ledger=str(guarded.ledger)) == (
        "unable to open database file"
    )
    assert guarded.frame.budget.epsilon_spent == 10.0  # the curator's ledger, read as operator


# --- the curator-mode harness itself ------------------------------------------------------------------


def what_the_kernel_can_read(p: jp.SensitiveFrame, *, paths: dict[str, str]) -> dict[str, str]:
    """Read each file (list each folder); "read", or the error that stopped it."""
    found = {}
    for name, path in paths.items():
        try:
            os.listdir(path) if os.path.isdir(path) else Path(path).read_bytes()
            found[name] = "read"
        except OSError as exc:
            found[name] = type(exc).__name__
    return found


def a_bypass_that_works(p: jp.SensitiveFrame) -> None:
    raise AssertionError("the bypass worked")


def test_a_curator_mode_kernel_reads_its_token_and_nothing_of_the_curators(
    isolation: Users | str, home: Path
) -> None:
    """The isolation the curator-mode attempts above rely on, checked from the kernel's side,
    and a bypass that works in the kernel is a failure here (not lost on the way)."""
    if isinstance(isolation, str):
        pytest.xfail(isolation)
    target = build_target("curator", home, isolation)
    try:
        assert target.kernel is not None
        site, pid = target.kernel.site, target.kernel.process.pid
        paths = {
            "its token": target.kernel.kernel_token,
            "data": site.data,
            "data folder": site.data.parent,
            "ledger": site.home / "ledger.sqlite",
            "ledger home": site.home,
            "clients": site.home / "clients.json",
            "curator's token": site.token_file,
            "policy": site.policy,
            "site folder": site.root,
            "curator's memory": f"/proc/{pid}/mem",
            "curator's environment": f"/proc/{pid}/environ",
        }
        seen = target.attempt(what_the_kernel_can_read, paths={k: str(v) for k, v in paths.items()})
        assert seen == {
            name: "read" if name == "its token" else "PermissionError" for name in paths
        }
        with pytest.raises(AssertionError, match="the bypass worked"):
            target.attempt(a_bypass_that_works)
    finally:
        if target.stop is not None:
            target.stop()
