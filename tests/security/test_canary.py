"""A sentinel planted in a registered frame never reaches any output, widget, comm message or error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.jupyter.comm import CommChannel
from tests.conftest import make_patients

SENTINEL_INCOME = 98_765.4321
SENTINEL_CITY = "Zyxwvut"
# Spelled with a dot or letters beyond hex, so no hash or release id can match by chance.
SECRETS = ("98765.43", "98,765.4", SENTINEL_CITY)

SESSION = """
import pandas as pd
import jupyter_privacy as jp
p = jp.source("canary")
outputs = [
    p, p.age, p.groupby("state"),
    p.count(), p.income.sum(), p.income.mean(), p.income.median(), p.income.quantile([0.1, 0.9]),
    p.income.var(), p.income.std(), p.income.min(), p.income.max(), p.state.value_counts(),
    p.income.hist(bins=5), p.income.describe(), p.describe(), p.mean(), p.sum(),
    p[p.income > 50_000].count(), p[(p.age >= 40) & p.state.isin(["CA", "NY"])].income.mean(),
    p.query("age >= 30 and state == 'TX'").count(), p.assign(k=p.income / 1000).k.clip(0, 250).mean(),
    p.groupby("state").size(), p.groupby("state").income.mean(), p.groupby("state").income.median(),
    p.groupby("state").agg({"income": ["mean", "max"], "age": "median"}),
    p.groupby("city").size(), p.groupby("city").income.mean(), p.city.value_counts(),
    p.income.mean(dry_run=True), p.count(accuracy=30), p.budget,
    jp.cut(p.age, [18, 50, 90]).value_counts() if False else None,
]
for o in outputs:
    display(o)
for bad in ["p.head()", "p.income.values", "p.city.mean()", "p.income.mean(epsilon=99)",
            "len(p)", "p.iloc[0]", "p.income.apply(float)", "p.groupby('nope').size()"]:
    try:
        eval(bad)
    except jp.PrivacyError as err:
        display(err)
        print(err)
display(jp.budget(), jp.lineage(), jp.audit())
%privacy
%privacy audit
%privacy lineage
%privacy budget
p.income.to_numpy()
"""


class FakeComm:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, data: dict[str, Any]) -> None:
        self.sent.append(data)

    def on_msg(self, callback: Any) -> None:
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _planted() -> pd.DataFrame:
    df = make_patients(600, seed=9)
    df.loc[17, "income"] = SENTINEL_INCOME
    df.loc[17, "city"] = SENTINEL_CITY
    return df


def test_the_sentinel_never_leaves(home: Path, tmp_path: Path) -> None:
    df = _planted()
    jp.register(
        df,
        name="canary",
        privacy_unit="patient_id",
        budget=jp.Budget(epsilon=30.0, delta=1e-6),
        bounds={"age": (18, 90), "income": (0, 250_000)},
        keys={"state": ["CA", "NY", "TX", "WA"]},
    )
    channel = CommChannel(jp.workspace())
    comm = FakeComm()
    channel.open(comm)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_privacy")
    try:
        with capture_output() as out:
            ip.run_cell(SESSION)
        widgets = [ip.user_ns.get("outputs")]
        texts = [out.stdout, out.stderr]
        texts += [json.dumps(o.data, default=str) for o in out.outputs]
        texts += [json.dumps(m, default=str) for m in comm.sent]
        for w in (jp.budget(), jp.lineage()):
            texts.append(json.dumps(w._repr_mimebundle_(), default=str))  # what a page shows
        texts.append(jp.audit().to_json())
        texts.append(json.dumps(jp.workspace().export_manifest(), default=str))
        texts.append((tmp_path / "ledger.sqlite").read_bytes().decode("latin-1"))
        assert widgets and len(comm.sent) > 20
        assert "Refused to access rows" in out.stdout + "".join(texts)
        blob = "\n".join(texts)
        for secret in SECRETS:
            assert secret not in blob, f"{secret!r} leaked"
    finally:
        channel.close()
        ip.run_line_magic("unload_ext", "jupyter_privacy")


def test_the_canary_check_can_fail(home: Path) -> None:
    """If a raw value did reach an output, the scan above would see it."""
    df = _planted()
    with capture_output() as out:
        print(df.loc[17, ["income", "city"]].to_dict())
    assert any(s in out.stdout for s in SECRETS)
