"""The kernel end of the ``jupyter_privacy`` comm (schema in docs/comm-schema.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jupyter_privacy as jp
from jupyter_privacy.jupyter import comm as comm_module
from jupyter_privacy.jupyter.comm import (
    SCHEMA,
    CommChannel,
    KernelContext,
    cell_context,
    notebook_from_environment,
    same_notebook,
)
from tests.conftest import make_patients, register_patients


class FakeComm:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.on_message: Any = None
        self.on_closed: Any = None

    def send(self, data: dict[str, Any]) -> None:
        self.sent.append(data)

    def on_msg(self, callback: Any) -> None:
        self.on_message = callback

    def on_close(self, callback: Any) -> None:
        self.on_closed = callback

    def close(self) -> None:
        pass

    def receive(self, data: dict[str, Any]) -> None:
        self.on_message({"content": {"data": data}})


class FakeKernel:
    def __init__(self, parent: dict[str, Any]) -> None:
        self.parent = parent

    def get_parent(self) -> dict[str, Any]:
        return self.parent


class FakeShell:
    def __init__(self, count: int, parent: dict[str, Any] | None) -> None:
        self.execution_count = count
        self.kernel = FakeKernel(parent) if parent is not None else None


def execute_request(cell_id: str | None = "cell-1", **content: Any) -> dict[str, Any]:
    return {
        "header": {"msg_type": "execute_request"},
        "metadata": {"cellId": cell_id} if cell_id else {},
        "content": {"code": "x", **content},
    }


@pytest.fixture
def channel(patients_df: Any, home: Path) -> Any:
    register_patients(patients_df)
    ch = CommChannel(jp.workspace(), cell_context=lambda: {"execution_count": 4, "cell_id": "c4"})
    yield ch
    ch.close()


def test_the_running_cell_is_named_by_its_prompt_and_its_cell_id() -> None:
    # IPython counts the running cell before it runs: the prompt shows one less.
    shell = FakeShell(8, execute_request("abc"))
    assert cell_context(shell) == {"execution_count": 7, "cell_id": "abc"}


def test_outside_an_execute_request_the_count_is_left_alone() -> None:
    assert cell_context(FakeShell(8, None)) == {"execution_count": 8, "cell_id": None}
    silent = FakeShell(8, execute_request(None, silent=True, store_history=False))
    assert cell_context(silent) == {"execution_count": 8, "cell_id": None}


def test_a_release_event_carries_the_running_cell_and_a_send_time(channel: Any) -> None:
    comm = FakeComm()
    channel.open(comm)
    jp.source("patients").age.mean(epsilon=0.5)
    events = [m for m in comm.sent if m["type"] == "event" and m["release"]]
    assert len(events) == 1
    event = events[0]
    assert event["schema"] == SCHEMA
    assert event["event"]["context"] == {"execution_count": 4, "cell_id": "c4", "notebook": None}
    assert event["release"]["query"] == "patients.age.mean()"
    assert event["release"]["label"] == "patients.age.mean(epsilon=0.5)"
    assert event["mode"] == "guard-rail" and event["release"]["published"] is False
    assert isinstance(event["sent_at"], float) and event["sent_at"] > 1e12
    assert "lineage" not in event  # sent on request, after the cell


def test_the_lineage_is_sent_on_request(channel: Any) -> None:
    comm = FakeComm()
    channel.open(comm)
    jp.source("patients").age.mean(epsilon=0.5)
    comm.receive({"type": "request_lineage"})
    message = comm.sent[-1]
    assert message["type"] == "lineage" and message["schema"] == SCHEMA
    kinds = [n["kind"] for n in message["lineage"]["nodes"]]
    assert kinds.count("source") == 1 and kinds.count("release") == 1


def test_a_snapshot_request_honours_its_limit_within_bounds(channel: Any) -> None:
    patients = jp.source("patients")
    for i in range(3):
        patients.age.mean(epsilon=0.1 + i / 100)
    comm = FakeComm()
    channel.open(comm, {"content": {"data": {"type": "request_snapshot", "limit": 2}}})
    assert comm.sent[-1]["type"] == "snapshot" and len(comm.sent[-1]["releases"]) == 2
    comm.receive({"type": "request_snapshot", "limit": 10_000})
    assert len(comm.sent[-1]["releases"]) == 3
    comm.receive({"type": "request_snapshot", "limit": "all"})
    assert len(comm.sent[-1]["releases"]) == 3
    assert comm_module._limit({"limit": 10_000}) == comm_module.MAX_SNAPSHOT_RELEASES
    assert comm_module._limit({"limit": True}) == 100


def test_announce_opens_a_comm_to_the_frontend_with_a_snapshot(
    channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[dict[str, Any]] = []
    fake = FakeComm()

    def create_comm(**kwargs: Any) -> FakeComm:
        opened.append(kwargs)
        return fake

    import comm

    monkeypatch.setattr(comm, "create_comm", create_comm)
    assert channel.announce() is fake
    assert opened[0]["target_name"] == "jupyter_privacy"
    assert opened[0]["data"]["type"] == "snapshot"
    assert [b["source"] for b in opened[0]["data"]["budget"]] == ["patients"]
    jp.source("patients").count(epsilon=0.2)
    assert fake.sent and fake.sent[-1]["type"] == "event"  # the announced comm gets events
    fake.on_closed({})  # a frontend without the sidebar closes it
    assert fake not in channel.comms


# --- notebooks, workspaces and replay mode -----------------------------------------------------


def test_the_frontend_names_the_notebook_and_each_release_records_it(
    patients_df: Any, home: Path
) -> None:
    register_patients(patients_df)
    context = KernelContext(FakeShell(5, execute_request("cell-9")))
    ws = jp.workspace()
    ws.context = context
    channel = CommChannel(ws, context, context)
    try:
        comm = FakeComm()
        channel.open(comm, {"content": {"data": {"type": "request_snapshot"}}})
        assert comm.sent[-1]["notebook"] is None and comm.sent[-1]["mode"] == "guard-rail"
        comm.receive({"type": "hello", "notebook": "study/analysis.ipynb"})
        comm.receive({"type": "hello", "notebook": "not-a-notebook.txt"})  # ignored
        jp.source("patients").count(epsilon=0.1)
        (event,) = [m for m in comm.sent if m["type"] == "event" and m["release"]]
        assert event["event"]["context"]["notebook"] == "study/analysis.ipynb"
        assert event["release"]["notebook"] == "study/analysis.ipynb"
        assert event["release"]["cell_id"] == "cell-9"
        record = ws.releases()[-1]
        assert record.context == {
            "execution_count": 4,
            "cell_id": "cell-9",
            "notebook": "study/analysis.ipynb",
        }
        comm.receive({"type": "hello", "notebook": "study/renamed.ipynb"})  # a rename
        comm.receive({"type": "request_snapshot"})
        assert comm.sent[-1]["notebook"] == "study/renamed.ipynb"
    finally:
        channel.close()
        ws.context = dict


def test_without_a_frontend_the_environment_names_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shell = FakeShell(1, None)
    shell.user_ns = {}  # type: ignore[attr-defined]
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "sub" / "a.ipynb"))
    assert notebook_from_environment(shell) == "sub/a.ipynb"  # no home folder recorded
    monkeypatch.setenv("JPY_SESSION_NAME", "/elsewhere/b.ipynb")
    assert notebook_from_environment(shell) == "b.ipynb"
    shell.user_ns = {"__vsc_ipynb_file__": str(tmp_path / "c.ipynb")}  # type: ignore[attr-defined]
    assert notebook_from_environment(shell) == "c.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME")
    shell.user_ns = {}  # type: ignore[attr-defined]
    assert notebook_from_environment(shell) is None


@pytest.mark.parametrize(
    ("recorded", "current", "same"),
    [
        ("a/b.ipynb", "a/b.ipynb", True),
        ("b.ipynb", "a/b.ipynb", True),  # relative to the notebook's folder
        ("a/b.ipynb", "x/a/b.ipynb", True),
        ("ab.ipynb", "a/b.ipynb", False),
        ("a/c.ipynb", "a/b.ipynb", False),
        (None, "a/b.ipynb", False),
    ],
)
def test_two_spellings_of_one_notebook_match(recorded: Any, current: str, same: bool) -> None:
    assert same_notebook(recorded, current) is same


def test_the_channel_follows_a_new_workspace(channel: Any, home: Path, tmp_path: Path) -> None:
    comm = FakeComm()
    channel.open(comm)
    old = channel.ws
    new = jp.use_workspace(tmp_path / "second")
    channel.switch(new)
    assert not old.events.subscribed(channel.on_event)
    assert new.events.subscribed(channel.on_event)
    assert comm.sent[-1]["type"] == "snapshot" and comm.sent[-1]["budget"] == []
    jp.register(
        make_patients(300),
        name="other",
        budget=jp.Budget(epsilon=1.0),
        bounds={"age": (0, 110)},
    ).count(epsilon=0.2)
    assert comm.sent[-1]["type"] == "event"
    assert [b["source"] for b in comm.sent[-1]["budget"]] == ["other"]


def test_replay_mode_shows_the_published_values_not_this_ledgers(
    patients_df: Any, home: Path, tmp_path: Path
) -> None:
    patients = register_patients(patients_df)
    published = patients.age.mean(epsilon=0.5)
    by_state = patients.groupby("state").size(epsilon=0.2)
    jp.export_releases(tmp_path / "releases.json")
    # The same query again in this ledger, at another cost: this ledger's value differs.
    patients.age.mean(epsilon=0.6)
    jp.replay(tmp_path / "releases.json")
    jp.register("patients.csv", name="patients")  # described by the manifest: no data read
    channel = CommChannel(jp.workspace())
    try:
        comm = FakeComm()
        channel.open(comm)
        assert comm.sent[-1]["mode"] == "replay" and comm.sent[-1]["releases"] == []
        again = jp.source("patients").age.mean(epsilon=0.5)
        assert again.replayed and float(again) == float(published)
        (event,) = [m for m in comm.sent if m["type"] == "event" and m["release"]]
        assert event["mode"] == "replay" and event["release"]["published"] is True
        assert event["release"]["cells"][0]["value"] == float(published)
        comm.receive({"type": "request_snapshot"})
        (listed,) = comm.sent[-1]["releases"]
        assert listed["id"] == published.id and listed["published"] is True
        assert listed["cells"][0]["value"] == float(published)
        jp.source("patients").groupby("state").size(epsilon=0.2)
        comm.receive({"type": "request_lineage"})
        releases = [n for n in comm.sent[-1]["lineage"]["nodes"] if n["kind"] == "release"]
        assert [n["release_id"] for n in releases] == [published.id, by_state.id]
        assert releases[1]["label"] == "4 cells: count by state"  # not "by column"
    finally:
        channel.close()
        jp.replay(None)
