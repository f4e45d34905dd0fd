"""The kernel end of the ``jupyter_privacy`` comm (schema in docs/comm-schema.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jupyter_privacy as jp
from jupyter_privacy.jupyter import comm as comm_module
from jupyter_privacy.jupyter.comm import SCHEMA, CommChannel, cell_context
from tests.conftest import register_patients


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
    assert event["event"]["context"] == {"execution_count": 4, "cell_id": "c4"}
    assert event["release"]["query"] == "patients.age.mean()"
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
