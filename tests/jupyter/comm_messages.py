"""Real ``jupyter_privacy`` comm messages, of every kind, for the schema tests of both ends.

``sample_messages`` runs a small study in a fresh workspace folder — releases of every kind,
a refusal, a cache replay, a zCDP source, a non-finite value, then a reviewer replaying the
published releases — and returns every message the kernel sent, by name, plus the requests
the frontend sends. ``python -m tests.jupyter.comm_messages`` writes them to
``tests/jupyter/fixtures/comm/``, which the TypeScript tests read too: run it after a change
to the wire format, and commit the fixtures with the schema.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jupyter_privacy as jp
from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.service import Event
from jupyter_privacy.jupyter.comm import CommChannel, KernelContext, event_message
from tests.conftest import STATES, make_patients

FIXTURES = Path(__file__).parent / "fixtures" / "comm"
NOTEBOOK = "study/analysis.ipynb"
#: The kernel messages ``sample_messages`` returns, in the order they are sent.
CASES = (
    "snapshot_empty",
    "event_source_registered",
    "event_charge",
    "event_scalar",
    "event_replayed",
    "event_grouped",
    "event_describe",
    "event_value_counts",
    "event_hist",
    "event_quantile",
    "event_non_finite",
    "event_zcdp",
    "event_zcdp_unknown_keys",
    "lineage",
    "snapshot",
    "event_published",
    "lineage_replay",
    "snapshot_replay",
)


class RecordingComm:
    """A comm that keeps what the kernel sends and lets a test send to the kernel."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._on_msg: Any = None

    def send(self, data: dict[str, Any]) -> None:
        self.sent.append(json.loads(json.dumps(data, allow_nan=False)))  # as the wire has it

    def on_msg(self, callback: Any) -> None:
        self._on_msg = callback

    def on_close(self, callback: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def tell(self, data: dict[str, Any]) -> None:
        """Send ``data`` to the kernel, as the frontend does."""
        self._on_msg({"content": {"data": data}})

    def receive(self, data: dict[str, Any]) -> dict[str, Any]:
        """Send ``data`` to the kernel; return the kernel's answer."""
        before = len(self.sent)
        self.tell(data)
        assert len(self.sent) == before + 1, f"no answer to {data['type']}"
        return self.sent[-1]


class NotebookShell:
    """What ``KernelContext`` reads of IPython's shell and kernel: the cell being run."""

    def __init__(self) -> None:
        self.execution_count = 1
        self.kernel = self
        self.user_ns: dict[str, Any] = {}

    def run_cell(self) -> None:
        self.execution_count += 1

    def get_parent(self) -> dict[str, Any]:
        return {
            "header": {"msg_type": "execute_request"},
            "metadata": {"cellId": f"cell-{self.execution_count - 1}"},
            "content": {"code": "..."},
        }


#: What the sidebar sends (labextension/src/requests.ts builds the same).
REQUESTS: dict[str, dict[str, Any]] = {
    "request_snapshot": {"type": "request_snapshot", "limit": 500, "notebook": NOTEBOOK},
    "request_snapshot_default": {"type": "request_snapshot"},
    "request_lineage": {"type": "request_lineage"},
    "hello": {"type": "hello", "notebook": NOTEBOOK},
}


def _last(comm: RecordingComm, kind: str, *, release: bool | None = None) -> dict[str, Any]:
    for message in reversed(comm.sent):
        if message["type"] != kind:
            continue
        if release is None or (message["release"] is not None) == release:
            return message
    raise AssertionError(f"no {kind} message was sent")


def _local_study(home: Path, out: dict[str, dict[str, Any]]) -> Path:
    """A data owner's session: every kind of release, then the published manifest."""
    ws = jp.use_workspace(home)
    shell = NotebookShell()
    kernel = KernelContext(shell)  # as %load_ext sets it up
    ws.context = kernel
    channel = CommChannel(ws, kernel, kernel)
    comm = RecordingComm()
    try:
        channel.open(comm, {"content": {"data": REQUESTS["request_snapshot_default"]}})
        out["snapshot_empty"] = comm.sent[-1]
        comm.tell(REQUESTS["hello"])
        assert kernel.notebook == NOTEBOOK
        shell.run_cell()
        patients = jp.register(
            make_patients(),
            name="patients",
            privacy_unit="patient_id",
            budget=jp.Budget(epsilon=20.0),
            bounds={"age": (18, 90), "income": (0, 250_000)},
            keys={"state": STATES},
        )
        out["event_source_registered"] = _last(comm, "event")

        shell.run_cell()
        patients.age.mean(epsilon=0.5)
        out["event_charge"] = _last(comm, "event", release=False)
        out["event_scalar"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients.age.mean(epsilon=0.5)  # the same question again: replayed, not charged
        out["event_replayed"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients[patients.age >= 40].groupby("state").income.mean(epsilon=0.5)
        out["event_grouped"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients.income.describe(epsilon=1.0)
        out["event_describe"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients.state.value_counts(epsilon=0.3)
        out["event_value_counts"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients.assign(older=patients.age + 1).older.hist(bins=8, epsilon=0.3)
        out["event_hist"] = _last(comm, "event", release=True)
        shell.run_cell()
        patients.age.quantile(0.9, epsilon=0.3, alpha=0.1)
        out["event_quantile"] = _last(comm, "event", release=True)

        sent = len(comm.sent)
        try:
            patients.city.mean(epsilon=0.5)  # no declared bounds: refused before any charge
        except PrivacyError:
            pass
        else:
            raise AssertionError("the mean of an unbounded column was not refused")
        assert len(comm.sent) == sent, "a refusal must send nothing"

        # No mechanism here makes a NaN or an infinity: build a record that has them, as a
        # future statistic might, and send it as the workspace would.
        record = ws.releases()[-1]
        cell0 = record.cells[0]
        odd = replace(
            record,
            id="non-finite",
            cells=(
                replace(cell0, value=math.nan, ci_low=-math.inf, ci_high=math.inf),
                replace(cell0, value=math.inf, ci_low=None, ci_high=None, rank_error=math.nan),
            ),
            scalar=False,
        )
        message = event_message(ws, Event("release", "patients", odd), kernel())
        out["event_non_finite"] = json.loads(json.dumps(message, allow_nan=False))

        shell.run_cell()
        jp.register(
            make_patients(3000, seed=2),
            name="visits",
            privacy_unit="patient_id",
            budget=jp.Budget(epsilon=1.0, delta=1e-6),  # zCDP, reported as (ε, δ)
            bounds={"age": (18, 90)},
        )
        visits = jp.source("visits")
        visits.age.mean(epsilon=0.2)
        out["event_zcdp"] = _last(comm, "event", release=True)
        shell.run_cell()
        visits.groupby("city").size(epsilon=0.5, delta=1e-7)  # unknown keys: δ buys thresholds
        out["event_zcdp_unknown_keys"] = _last(comm, "event", release=True)

        out["lineage"] = comm.receive(REQUESTS["request_lineage"])
        out["snapshot"] = comm.receive(REQUESTS["request_snapshot"])
        return jp.export_releases(home / "releases.json", every_notebook=True)
    finally:
        channel.close()


def _replay_study(home: Path, manifest: Path, out: dict[str, dict[str, Any]]) -> None:
    """A reviewer's session: no data, the published releases replayed from the manifest."""
    jp.use_workspace(home)
    jp.replay(manifest)
    channel = CommChannel(jp.workspace())  # no cell context: a kernel without one sends none
    comm = RecordingComm()
    try:
        jp.register("patients.csv", name="patients")  # described by the manifest
        channel.open(comm)
        jp.source("patients").age.mean(epsilon=0.5)
        out["event_published"] = _last(comm, "event", release=True)
        jp.source("patients").income.describe(epsilon=1.0)
        out["lineage_replay"] = comm.receive(REQUESTS["request_lineage"])
        out["snapshot_replay"] = comm.receive(REQUESTS["request_snapshot_default"])
    finally:
        channel.close()
        jp.replay(None)


def sample_messages(folder: Path) -> dict[str, dict[str, Any]]:
    """Every kind of kernel message, by name, from real sessions in ``folder``."""
    out: dict[str, dict[str, Any]] = {}
    manifest = _local_study(folder / "owner", out)
    _replay_study(folder / "reviewer", manifest, out)
    jp.use_workspace(folder / "closed")
    return out


Mutation = Callable[[dict[str, Any]], None]


def _drop(*path: str | int) -> Mutation:
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path
        target: Any = message
        for step in parents:
            target = target[step]
        del target[last]

    return mutate


def _set(value: Any, *path: str | int) -> Mutation:
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path
        target: Any = message
        for step in parents:
            target = target[step]
        target[last] = value

    return mutate


#: Messages one small change away from a real one, which the schema must reject:
#: name -> (the real message it starts from, the change).
INVALID: dict[str, tuple[str, Mutation]] = {
    "snapshot_without_budget": ("snapshot", _drop("budget")),
    "snapshot_of_schema_2": ("snapshot", _set("jupyter-privacy/2", "schema")),
    "snapshot_in_local_mode": ("snapshot", _set("local", "mode")),
    "snapshot_with_a_budget_as_text": ("snapshot", _set("0.5", "budget", 0, "epsilon_spent")),
    "budget_without_delta_remaining": ("event_zcdp", _drop("budget", 1, "delta_remaining")),
    "release_without_label": ("event_scalar", _drop("release", "label")),
    "release_with_an_undeclared_field": ("event_scalar", _set([54, 61], "release", "rows")),
    "release_with_a_count_as_float": ("event_grouped", _set(4.5, "release", "cell_count")),
    "cell_value_as_nan_text": ("event_non_finite", _set("NaN", "release", "cells", 0, "value")),
    "cell_interval_of_three": ("event_scalar", _set([1.0, 2.0, 3.0], "release", "cells", 0, "ci")),
    "release_event_without_release_id": ("event_scalar", _drop("event", "release_id")),
    "charge_event_with_replayed": ("event_charge", _set(False, "event", "replayed")),
    "event_of_an_unknown_type": ("event_charge", _set("refusal", "event", "type")),
    "event_context_without_notebook": ("event_scalar", _drop("event", "context", "notebook")),
    "lineage_node_of_an_unknown_kind": ("lineage", _set("column", "lineage", "nodes", 0, "kind")),
    "lineage_edge_without_to": ("lineage", _drop("lineage", "edges", 0, "to")),
    "request_snapshot_limit_zero": ("request_snapshot", _set(0, "limit")),
    "request_snapshot_limit_as_text": ("request_snapshot", _set("100", "limit")),
    "hello_without_notebook": ("hello", _drop("notebook")),
    "request_of_an_unknown_type": ("request_lineage", _set("request_budget", "type")),
}


def invalid_messages(valid: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each ``INVALID`` change applied to a copy of its real message."""
    out = {}
    for name, (base, mutate) in INVALID.items():
        message = copy.deepcopy(valid[base])
        mutate(message)
        out[name] = message
    return out


def _write(path: Path, message: dict[str, Any]) -> Path:
    path.write_text(json.dumps(message, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def write_fixtures(folder: Path, target: Path = FIXTURES) -> list[Path]:
    """Write the kernel's messages and the frontend's requests as ``<name>.json``, and the
    invalid variants as ``invalid/<name>.json``."""
    (target / "invalid").mkdir(parents=True, exist_ok=True)
    for old in [*target.glob("*.json"), *target.glob("invalid/*.json")]:
        old.unlink()
    valid = {**sample_messages(folder), **REQUESTS}
    written = [_write(target / f"{name}.json", m) for name, m in valid.items()]
    for name, message in invalid_messages(valid).items():
        written.append(_write(target / "invalid" / f"{name}.json", message))
    return written


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for path in write_fixtures(Path(tmp)):
            print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    sys.exit(0)
