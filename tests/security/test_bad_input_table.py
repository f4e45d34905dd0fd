"""Bad input, table-driven: each case names its error class and the words of its message.

Covers ``jp.register``, every aggregate, ``privacy.toml`` and the ``%privacy`` magic. A case
passes when the call raises exactly that ``PrivacyError`` subclass (never a raw ``ValueError``,
``TypeError``, OpenDP or SQLite exception) with a message in the house shape, and charges nothing.
tests/core/test_bad_input.py keeps the cases where bad data must *not* raise (NaN, inf, empty).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import jupyter_privacy as jp
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.policy import load_policy
from tests.conftest import STATES, make_patients, register_patients
from tests.curator.conftest import REPO
from tests.curator.harness import Users

Invalid, Policy, Missing, Unsupported, Budget_ = (
    jp.InvalidArgumentError,
    jp.PolicyError,
    jp.MissingBoundsError,
    jp.UnsupportedOperationError,
    jp.BudgetExceededError,
)


@dataclass(frozen=True)
class Case:
    label: str
    call: Callable[..., object]
    error: type[jp.PrivacyError]
    message: str


def ids(cases: list[Case]) -> list[str]:
    return [c.label for c in cases]


def check(case: Case, *args: Any) -> str:
    with pytest.raises(jp.PrivacyError) as err:
        case.call(*args)
    assert type(err.value) is case.error, f"{case.label}: {type(err.value).__name__}: {err.value}"
    text = str(err.value)
    assert text.startswith("Refused to ") and case.message in text, text
    return text


# --- register ----------------------------------------------------------------------------------------


def _reg(data: Any = None, **kw: Any) -> Callable[[], object]:
    def call() -> object:
        frame = make_patients() if data is None else data
        kwargs: dict[str, Any] = {"name": "p", "budget": jp.Budget(epsilon=1.0)}
        kwargs.update(kw)
        return jp.register(frame, **kwargs)

    return call


REGISTER = [
    Case("budget as a float", _reg(budget=1.0), Policy, "a budget is required"),
    Case("budget as a dict", _reg(budget={"epsilon": 1}), Policy, "a budget is required"),
    Case("budget ε NaN", lambda: jp.Budget(epsilon=math.nan), Invalid, "epsilon must be a finite number > 0"),
    Case("budget ε inf", lambda: jp.Budget(epsilon=math.inf), Invalid, "epsilon must be a finite number > 0"),
    Case("budget ε zero", lambda: jp.Budget(epsilon=0), Invalid, "epsilon must be a finite number > 0"),
    Case("budget ε negative", lambda: jp.Budget(epsilon=-1), Invalid, "epsilon must be a finite number > 0"),
    Case("budget ε string", lambda: jp.Budget(epsilon="1"), Invalid, "epsilon must be a finite number > 0"),  # type: ignore[arg-type]
    Case("budget ε bool", lambda: jp.Budget(epsilon=True), Invalid, "epsilon must be a finite number > 0"),
    Case("budget δ = 1", lambda: jp.Budget(epsilon=1, delta=1.0), Invalid, "delta must be between 1e-30 and 0.01"),
    Case("budget δ negative", lambda: jp.Budget(epsilon=1, delta=-1e-6), Invalid, "delta must be a finite number ≥ 0"),
    Case("budget δ NaN", lambda: jp.Budget(epsilon=1, delta=math.nan), Invalid, "delta must be a finite number ≥ 0"),
    Case("huge ε with δ", lambda: jp.Budget(epsilon=1e300, delta=1e-6), Invalid, "epsilon must be between 1e-06 and 10000"),
    Case("huge pure ε", lambda: jp.Budget(epsilon=1e300), Invalid, "epsilon must be between 1e-06 and 1e+09"),
    Case("tiny budget ε", lambda: jp.Budget(epsilon=1e-300), Invalid, "epsilon must be between 1e-06 and 1e+09"),
    Case("data is a list", _reg([1, 2, 3]), Policy, "a CSV or Parquet path or a data frame"),
    Case("data is a number", _reg(3.5), Policy, "a CSV or Parquet path or a data frame"),
    Case("data is a dict", _reg({"a": [1]}), Policy, "a CSV or Parquet path or a data frame"),
    Case("name with a space", _reg(name="my data"), Policy, "must be a Python identifier"),
    Case("name empty", _reg(name=""), Policy, "must be a Python identifier"),
    Case("name an int", _reg(name=3), Policy, "must be a Python identifier"),
    Case("name unicode emoji", _reg(name="données📊"), Policy, "must be a Python identifier"),
    Case("no columns", _reg(pd.DataFrame()), Policy, "uniquely named columns"),
    Case("bounds reversed", _reg(bounds={"age": (90, 18)}), Invalid, "bounds for 'age' are reversed"),
    Case("bounds NaN", _reg(bounds={"age": (math.nan, 90)}), Invalid, "must be two finite numbers"),
    Case("bounds inf", _reg(bounds={"age": (0, math.inf)}), Invalid, "must be two finite numbers"),
    Case("bounds strings", _reg(bounds={"age": ("0", "90")}), Invalid, "must be two finite numbers"),
    Case("bounds a scalar", _reg(bounds={"age": 90}), Invalid, "must be a pair (lo, hi)"),
    Case("bounds three numbers", _reg(bounds={"age": (0, 1, 2)}), Invalid, "must be a pair (lo, hi)"),
    Case("bounds unknown column", _reg(bounds={"âge": (0, 1)}), Policy, "bounds names 'âge', which is not a column"),
    Case("bounds on text", _reg(bounds={"state": (0, 1)}), Policy, "bounds were given for 'state', which is str"),
    Case("keys a string", _reg(keys={"state": "CA"}), Policy, "must be a non-empty list"),
    Case("keys empty", _reg(keys={"state": []}), Policy, "must be a non-empty list"),
    Case("keys duplicated", _reg(keys={"state": ["CA", "CA"]}), Policy, "contain duplicates"),
    Case("keys unknown column", _reg(keys={"nope": ["a"]}), Policy, "keys names 'nope', which is not a column"),
    Case("privacy unit unknown", _reg(privacy_unit="id"), Policy, "privacy_unit names 'id', which is not a column"),
    Case("max rows a float", _reg(max_rows_per_unit=1.5), Policy, "max_rows_per_unit must be a positive integer"),
    Case("max rows a bool", _reg(max_rows_per_unit=True), Policy, "max_rows_per_unit must be a positive integer"),
    Case("max rows negative", _reg(max_rows_per_unit=-3), Policy, "max_rows_per_unit must be a positive integer"),
    Case("default ε inf", _reg(default_epsilon=math.inf), Invalid, "epsilon must be a finite number > 0"),
    Case("alpha zero", _reg(alpha=0.0), Invalid, "alpha must be a number between 1e-12 and 0.5"),
    Case("alpha NaN", _reg(alpha=math.nan), Invalid, "alpha must be a number between 1e-12 and 0.5"),
]  # fmt: skip


@pytest.mark.parametrize("case", REGISTER, ids=ids(REGISTER))
def test_bad_registrations(home: Path, case: Case) -> None:
    check(case)
    assert not jp.workspace().sources


def test_missing_and_unreadable_paths(home: Path, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("a\n1\n")
    for case in (
        Case("missing file", _reg(tmp_path / "nope.csv"), Policy, "the file does not exist"),
        Case(
            "unicode missing file", _reg(tmp_path / "données_é.parquet"), Policy, "does not exist"
        ),
        Case("wrong suffix", _reg(tmp_path / "x.txt"), Policy, "only CSV and Parquet files"),
        Case("a folder", _reg(tmp_path), Policy, "only CSV and Parquet files"),
    ):
        check(case)


def register_each(paths: list[str], home: str) -> dict[str, str]:
    """Register each path in a workspace at ``home``: "registered", or the refusal."""
    jp.use_workspace(home)
    found = {}
    for path in paths:
        try:
            jp.register(path, budget=jp.Budget(epsilon=1.0))
            found[path] = "registered"
        except jp.PrivacyError as exc:  # anything else fails the test, with its traceback
            found[path] = f"{type(exc).__name__}: {exc}"
    return found


PROBE = """
import json, sys
from tests.security.test_bad_input_table import register_each
print(json.dumps(register_each(sys.argv[2:], sys.argv[1])))
"""


def test_files_this_user_cannot_read_are_refused_clearly(
    home: Path, isolation: Users | str
) -> None:
    """A file of another user (0600), and a file in a folder of another user (0700). As root,
    which reads everything, the registering process runs as the unprivileged ``jp-kernel``."""
    base = Path(tempfile.mkdtemp(prefix="jpu-"))
    try:
        os.chmod(base, 0o711)
        (base / "closed").mkdir(mode=0o700)
        private, closed = base / "private.csv", base / "closed" / "data.csv"
        for path in (private, closed):
            path.write_text("x,g\n1,a\n")
        paths = [str(private), str(closed)]
        if os.geteuid() != 0:  # this user cannot read them either once they are closed
            private.chmod(0o000)
            (base / "closed").chmod(0o000)
            found = register_each(paths, str(home / "ws"))
        else:
            assert isinstance(isolation, Users), isolation
            private.chmod(0o600)
            kernel, probe = base / "kernel", base / "probe.py"
            kernel.mkdir()
            os.chown(kernel, isolation.kernel.pw_uid, isolation.kernel.pw_gid)
            probe.write_text(PROBE)
            env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(kernel)}
            out = subprocess.run(
                isolation.admin.as_user(
                    isolation.kernel.pw_name, str(probe), str(kernel / "ws"), *paths, env=env
                ),
                capture_output=True, text=True, cwd=kernel, env=env, timeout=300,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr[-3000:]
            found = json.loads(out.stdout.splitlines()[-1])
    finally:
        for folder in (base, base / "closed"):
            folder.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)
    for path in paths:
        assert found[path].startswith(f"PolicyError: Refused to register on '{path}': "), found
        assert "the file cannot be read" in found[path], found


# --- aggregates -------------------------------------------------------------------------------------

AGGREGATES: list[tuple[str, Callable[..., object]]] = [
    ("count", lambda p, **o: p.count(**o)),
    ("sum", lambda p, **o: p.income.sum(**o)),
    ("mean", lambda p, **o: p.age.mean(**o)),
    ("median", lambda p, **o: p.age.median(**o)),
    ("quantile", lambda p, **o: p.age.quantile([0.1, 0.9], **o)),
    ("var", lambda p, **o: p.income.var(**o)),
    ("std", lambda p, **o: p.income.std(**o)),
    ("min", lambda p, **o: p.age.min(**o)),
    ("max", lambda p, **o: p.age.max(**o)),
    ("value_counts", lambda p, **o: p.state.value_counts(**o)),
    ("hist", lambda p, **o: p.age.hist(bins=5, **o)),
    ("describe", lambda p, **o: p.describe(**o)),
    ("frame mean", lambda p, **o: p.mean(**o)),
    ("grouped size", lambda p, **o: p.groupby("state").size(**o)),
    ("grouped mean", lambda p, **o: p.groupby("state").income.mean(**o)),
    ("grouped agg", lambda p, **o: p.groupby("state").agg({"age": "median"}, **o)),
    ("proportion", lambda p, **o: (p.age > 65).mean(**o)),
]
BAD_OPTIONS: list[tuple[str, dict[str, Any], type[jp.PrivacyError], str]] = [
    ("ε NaN", {"epsilon": math.nan}, Invalid, "epsilon must be a finite number > 0"),
    ("ε -inf", {"epsilon": -math.inf}, Invalid, "epsilon must be a finite number > 0"),
    ("ε string", {"epsilon": "0.1"}, Invalid, "epsilon must be a finite number > 0"),
    (
        "ε numpy float32",
        {"epsilon": np.float32(0.1)},
        Invalid,
        "epsilon must be a finite number > 0",
    ),
    ("ε beyond the budget", {"epsilon": 5000.0}, Budget_, "the query costs more than remains"),
    ("ε above the ceiling", {"epsilon": 1e308}, Invalid, "epsilon must be between 1e-06 and 10000"),
    ("ε below the floor", {"epsilon": 5e-324}, Invalid, "epsilon must be between 1e-06 and 10000"),
    ("δ on a pure budget", {"delta": 1e-6}, Invalid, "a pure ε-DP budget cannot spend δ"),
    ("alpha one", {"alpha": 1.0}, Invalid, "alpha must be a number between 1e-12 and 0.5"),
    (
        "alpha a string",
        {"alpha": "0.05"},
        Invalid,
        "alpha must be a number between 1e-12 and 0.5",
    ),
    ("unknown option", {"epsilon_": 0.1}, Invalid, "unknown option 'epsilon_'"),
    (
        "ε and accuracy",
        {"epsilon": 0.1, "accuracy": 5},
        Invalid,
        "give either epsilon= or accuracy=",
    ),
]


@pytest.mark.parametrize("option", BAD_OPTIONS, ids=[o[0] for o in BAD_OPTIONS])
@pytest.mark.parametrize("aggregate", AGGREGATES, ids=[a[0] for a in AGGREGATES])
def test_bad_options_on_every_aggregate(
    patients: jp.SensitiveFrame,
    aggregate: tuple[str, Callable[..., object]],
    option: tuple[str, dict[str, Any], type[jp.PrivacyError], str],
) -> None:
    name, call = aggregate
    label, opts, error, message = option
    check(Case(f"{name}: {label}", lambda: call(patients, **opts), error, message))
    assert patients.budget.epsilon_spent == 0


def _zcdp(df: pd.DataFrame) -> jp.SensitiveFrame:
    return register_patients(df, name="z", budget=jp.Budget(epsilon=1.0, delta=1e-6))


QUERIES = [
    Case("δ beyond the budget", lambda p: p.groupby("city").size(delta=0.5), Budget_, "the query costs more than remains"),
    Case("δ negative", lambda p: p.groupby("city").size(delta=-1e-9), Invalid, "delta must be a finite number > 0"),
    Case("δ NaN", lambda p: p.groupby("city").size(delta=math.nan), Invalid, "delta must be a finite number > 0"),
    Case("huge ε under zCDP", lambda p: p.age.mean(epsilon=1e300), Invalid, "epsilon must be between 1e-06 and 10000"),
    Case("huge ε dry run", lambda p: p.age.mean(epsilon=1e300, dry_run=True), Invalid, "epsilon must be between 1e-06 and 10000"),
    Case("tiny ε under zCDP", lambda p: p.count(epsilon=1e-17), Invalid, "epsilon must be between 1e-06 and 10000"),
    Case("accuracy NaN", lambda p: p.count(accuracy=math.nan), Invalid, "accuracy must be a finite number > 0"),
    Case("accuracy zero", lambda p: p.count(accuracy=0), Invalid, "accuracy must be a finite number > 0"),
    Case("accuracy on a median", lambda p: p.age.median(accuracy=1), Unsupported, "accuracy= needs an interval known in advance"),
    Case("unknown column", lambda p: p["âge"], Invalid, "there is no column 'âge'"),
    Case("unknown groupby column", lambda p: p.groupby("nope").size(), Invalid, "there is no column 'nope'"),
    Case("quantile above 1", lambda p: p.age.quantile(1.5), Invalid, "quantile levels must be numbers in [0, 1]"),
    Case("quantile NaN", lambda p: p.age.quantile(math.nan), Invalid, "query parameters must be finite numbers"),
    Case("quantile an object", lambda p: p.age.quantile(object()), Invalid, "query parameters must be finite numbers"),
    Case("quantile string", lambda p: p.age.quantile("median"), Invalid, "quantile levels must be numbers in [0, 1]"),
    Case("hist bins zero", lambda p: p.age.hist(bins=0), Invalid, "bins must be an integer between 1 and 10000"),
    Case("hist bins huge", lambda p: p.age.hist(bins=10**9), Invalid, "bins must be an integer between 1 and 10000"),
    Case("hist bins float", lambda p: p.age.hist(bins=2.5), Invalid, "bins must be an integer between 1 and 10000"),
    Case("mean of text", lambda p: p.state.mean(), Unsupported, "'state' is not numeric"),
    Case("share of a number", lambda p: jp.workspace().run(Query("z", (), "proportion", "age")), Unsupported, "'age' is not a condition (int)"),
    Case("accuracy on a share", lambda p: (p.age > 65).mean(accuracy=0.1), Unsupported, "accuracy= needs an interval known in advance"),
    Case("mean without bounds", lambda p: p.patient_id.mean(), Missing, "'patient_id' has no public bounds"),
    Case("clip with inf", lambda p: p.age.clip(0, math.inf), Invalid, "clip bounds must be finite numbers"),
    Case("clip reversed", lambda p: p.age.clip(90, 0), Invalid, "clip bounds are reversed"),
    Case("compare with NaN", lambda p: p[p.age > math.nan], Invalid, "constants must be finite numbers"),
    Case("cut unsorted edges", lambda p: jp.cut(p.age, [50, 20, 90]), Invalid, "bins must be at least two increasing finite edges"),
    Case("cut label count", lambda p: jp.cut(p.age, [0, 50, 90], ["young"]), Invalid, "labels must be one distinct name per bin"),
    Case("astype to a date", lambda p: p.age.astype("datetime64[ns]"), Unsupported, "astype('datetime64[ns]')"),
    Case("fillna with None", lambda p: p.age.fillna(None), Invalid, "fillna needs a public constant"),
    Case("isin a string", lambda p: p.state.isin("CA"), Invalid, "isin needs a list of constants"),
    Case("agg empty", lambda p: p.groupby("state").agg({}), Invalid, "agg needs a dict of column → statistic"),
    Case("agg unknown statistic", lambda p: p.groupby("state").agg({"age": "mode"}), Unsupported, "agg statistic 'mode'"),
    Case("unicode query", lambda p: p.query("âge ≥ 3"), Invalid, "the expression is not valid"),
]  # fmt: skip


@pytest.mark.parametrize("case", QUERIES, ids=ids(QUERIES))
def test_bad_queries(home: Path, patients_df: pd.DataFrame, case: Case) -> None:
    p = _zcdp(patients_df)
    check(case, p)
    assert p.budget.epsilon_spent == 0


# --- privacy.toml -----------------------------------------------------------------------------------

SOURCE = """
[sources.p]
path = "p.csv"
budget = { epsilon = 1.0 }
"""
POLICIES = [
    Case("not TOML", lambda: "[sources.p\npath = ", Policy, "it is not valid TOML"),
    Case("binary garbage", lambda: "\x00\x01\x02", Policy, "it is not valid TOML"),
    Case("defaults ε a word", lambda: '[defaults]\nepsilon = "lots"\n' + SOURCE, Policy, "a setting has the wrong type"),
    Case("defaults ε zero", lambda: "[defaults]\nepsilon = 0\n" + SOURCE, Policy, "[defaults] needs epsilon > 0"),
    Case("defaults ε inf", lambda: "[defaults]\nepsilon = inf\n" + SOURCE, Policy, "[defaults] needs epsilon > 0"),
    Case("defaults ε NaN", lambda: "[defaults]\nepsilon = nan\n" + SOURCE, Policy, "[defaults] needs epsilon > 0"),
    Case("defaults alpha 2", lambda: "[defaults]\nalpha = 2\n" + SOURCE, Policy, "0 < alpha < 1"),
    Case("defaults not a table", lambda: "defaults = 3\n" + SOURCE, Policy, "a setting has the wrong type"),
    Case("sources not a table", lambda: "sources = 3\n", Policy, "a setting has the wrong type"),
    Case("source without a path", lambda: "[sources.p]\nbudget = { epsilon = 1.0 }\n", Policy, "needs a path and a budget"),
    Case("source without a budget", lambda: '[sources.p]\npath = "p.csv"\n', Policy, "needs a path and a budget"),
    Case("budget without ε", lambda: '[sources.p]\npath = "p.csv"\nbudget = { delta = 1e-6 }\n', Policy, "budget needs an epsilon"),
    Case("budget a number", lambda: '[sources.p]\npath = "p.csv"\nbudget = 3\n', Policy, "budget needs an epsilon"),
    Case("budget ε negative", lambda: '[sources.p]\npath = "p.csv"\nbudget = { epsilon = -1 }\n', Invalid, "epsilon must be a finite number > 0"),
    Case("budget δ = 2", lambda: '[sources.p]\npath = "p.csv"\nbudget = { epsilon = 1, delta = 2 }\n', Invalid, "delta must be between 1e-30 and 0.01"),
    Case("unknown setting", lambda: SOURCE + "bonds = { age = [0, 1] }\n", Policy, "unknown setting 'bonds'"),
    Case("bounds a number", lambda: SOURCE + "bounds = { age = 5 }\n", Policy, "a setting has the wrong type"),
    Case("bounds a string", lambda: SOURCE + 'bounds = "age"\n', Policy, "a setting has the wrong type"),
    Case("path a number", lambda: '[sources.p]\npath = 5\nbudget = { epsilon = 1.0 }\n', Policy, "a setting has the wrong type"),
]  # fmt: skip


@pytest.mark.parametrize("case", POLICIES, ids=ids(POLICIES))
def test_bad_policy_files(tmp_path: Path, case: Case) -> None:
    policy = tmp_path / "privacy.toml"
    policy.write_text(case.call())  # type: ignore[arg-type]
    check(Case(case.label, lambda: load_policy(policy), case.error, case.message))


POLICY_REGISTRATION = [
    ("bounds reversed", "bounds = { age = [90, 18] }", Invalid, "bounds for 'age' are reversed"),
    ("keys empty", "keys = { state = [] }", Policy, "keys for 'state' must be a non-empty list"),
    ("unknown unit", 'privacy_unit = "nope"', Policy, "privacy_unit names 'nope'"),
    ("data file missing", 'path = "gone.csv"', Policy, "the file does not exist"),
]


@pytest.fixture
def shell(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    make_patients().to_csv(tmp_path / "p.csv", index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JUPYTER_PRIVACY_POLICY", raising=False)
    ip = InteractiveShell.instance()
    yield ip
    from jupyter_privacy.jupyter import extension

    if extension.is_loaded():
        ip.run_line_magic("unload_ext", "jupyter_privacy")
    ip.user_ns.clear()
    ip.init_user_ns()


@pytest.mark.parametrize("label, line, error, message", POLICY_REGISTRATION)
def test_bad_sources_in_a_policy_are_refused_when_the_extension_loads(
    shell: InteractiveShell, tmp_path: Path, label: str, line: str, error: type, message: str
) -> None:
    body = SOURCE.replace('path = "p.csv"\n', "") if line.startswith("path") else SOURCE
    (tmp_path / "privacy.toml").write_text(body + line + "\n")
    check(Case(label, lambda: shell.run_line_magic("load_ext", "jupyter_privacy"), error, message))


# --- magics ---------------------------------------------------------------------------------------

MAGICS = [
    ("bounds not numbers", "register p.csv --name m --epsilon 1 --bounds age=a:b", Invalid, "--bounds takes col=low:high"),
    ("bounds without =", "register p.csv --name m --epsilon 1 --bounds age", Invalid, "--bounds takes col=value pairs"),
    ("keys without =", "register p.csv --name m --epsilon 1 --keys state", Invalid, "--keys takes col=value pairs"),
    ("bounds reversed", "register p.csv --name m --epsilon 1 --bounds age=90:18", Invalid, "bounds for 'age' are reversed"),
    ("bounds infinite", "register p.csv --name m --epsilon 1 --bounds age=0:inf", Invalid, "must be two finite numbers"),
    ("ε negative", "register p.csv --name m --epsilon -1", Invalid, "epsilon must be a finite number > 0"),
    ("ε NaN", "register p.csv --name m --epsilon nan", Invalid, "epsilon must be a finite number > 0"),
    ("δ above 1", "register p.csv --name m --epsilon 1 --delta 2", Invalid, "delta must be between 1e-30 and 0.01"),
    ("missing file", "register gone.csv --name m --epsilon 1", Policy, "the file does not exist"),
    ("unicode name", "register p.csv --name 'nom é' --epsilon 1", Policy, "must be a Python identifier"),
    ("unknown unit", "register p.csv --name m --epsilon 1 --unit nope", Policy, "privacy_unit names 'nope'"),
    ("dtypes of no kind", "register p.csv --name m --epsilon 1 --dtypes age=date", Policy, "dtypes for 'age' must be one of int, float, str, bool"),
    ("dtypes without =", "register p.csv --name m --epsilon 1 --dtypes age", Invalid, "--dtypes takes col=value pairs"),
    ("max rows zero", "register p.csv --name m --epsilon 1 --unit patient_id --max-rows 0", Policy, "max_rows_per_unit must be a positive integer"),
    ("replay of a missing manifest", "replay gone.json", Policy, "the manifest cannot be read"),
    ("replay of a non-JSON file", "replay p.csv", Policy, "the manifest cannot be read"),
]  # fmt: skip


@pytest.mark.parametrize("label, line, error, message", MAGICS, ids=[m[0] for m in MAGICS])
def test_bad_magics(
    shell: InteractiveShell, label: str, line: str, error: type, message: str
) -> None:
    shell.run_line_magic("load_ext", "jupyter_privacy")
    check(Case(label, lambda: shell.run_line_magic("privacy", line), error, message))


@pytest.mark.parametrize(
    "line", ["register p.csv --name m", "register p.csv --name m --epsilon lots", "register"]
)
def test_magics_missing_required_arguments_print_the_usage(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    shell.run_line_magic("load_ext", "jupyter_privacy")
    shell.run_line_magic("privacy", line)
    assert "Usage:" in capsys.readouterr().out
    assert not {"m"} & set(jp.workspace().sources)


def test_the_table_has_at_least_fifty_bad_inputs() -> None:
    total = (
        len(REGISTER) + 4 + len(AGGREGATES) * len(BAD_OPTIONS) + len(QUERIES) + len(POLICIES)
        + len(POLICY_REGISTRATION) + len(MAGICS) + 3
    )  # fmt: skip
    print(f"\n{total} bad inputs")
    assert total >= 50
    _ = STATES  # the fixtures' keys, for readers of the table
