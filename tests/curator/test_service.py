"""The release service protocol, in both places it runs: the same calls, the same kinds of answer.

``Workspace`` (local, and replay from a manifest) and ``CuratorService`` (remote) implement
``core.service.ReleaseService``; frames, the comm and the displays rely on nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.record import ReleaseRecord
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.service import Event, ReleaseService
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.curator.server import CuratorServer
from jupyter_privacy.frame import SensitiveFrame
from tests.curator.conftest import Site, start


@pytest.fixture
def curator(site: Site) -> Iterator[CuratorServer]:
    """One transport is enough here: tests/curator runs every call over all three."""
    server = start(site, "unix")
    yield server
    server.stop()


@pytest.fixture(params=["local", "curator"])
def service(request: pytest.FixtureRequest, local: Workspace) -> ReleaseService:
    if request.param == "local":
        return local
    remote: CuratorService = request.getfixturevalue("remote")
    return remote


def test_both_implement_the_protocol_and_say_their_mode(
    local: Workspace, remote: CuratorService
) -> None:
    assert isinstance(local, ReleaseService) and isinstance(remote, ReleaseService)
    assert (local.mode, remote.mode) == ("local", "curator")
    assert not isinstance(remote, Workspace)  # composition: no inherited local machinery
    assert not hasattr(remote, "ledger")


def test_a_release_reaches_subscribers_with_its_record_then_the_list(
    service: ReleaseService,
) -> None:
    heard: list[Event] = []
    unsubscribe = service.subscribe(heard.append)
    frame = SensitiveFrame(service, "patients")
    first = frame.age.mean(epsilon=0.5)
    again = frame.age.mean(epsilon=0.5)
    unsubscribe()
    frame.count(epsilon=0.5)  # not heard: unsubscribed
    assert [(e.type, e.replayed) for e in heard] == [
        ("charge", False),
        ("release", False),
        ("release", True),
    ]
    made, replayed = heard[1].record, heard[2].record
    assert isinstance(made, ReleaseRecord) and made.id == first.id == again.id == replayed.id
    assert made.cells[0].value == float(first) and made.plan is not None
    listed = service.releases("patients")
    assert [r.id for r in listed][:1] == [first.id] and len(listed) == 2
    assert all(isinstance(r, ReleaseRecord) for r in listed)


def test_budget_audit_verify_and_export_answer_alike(service: ReleaseService) -> None:
    SensitiveFrame(service, "patients").count(epsilon=0.25)
    state = service.budget_state("patients")
    assert state.epsilon_spent == pytest.approx(0.25)
    outcomes = [r["outcome"] for r in service.audit_rows() if r["source"] == "patients"]
    assert outcomes[-2:] == ["charged", "released"]
    assert service.verify().ok
    manifest = service.export_manifest()
    assert manifest["version"] == 2
    (published,) = manifest["releases"]
    assert published["fingerprint"] is None  # never published
    assert ReleaseRecord.from_json(published).epsilon == pytest.approx(0.25)


def test_adding_a_source_is_the_local_services_alone(service: ReleaseService, site: Site) -> None:
    declared = SourceDeclaration(name="again", budget=jp.Budget(epsilon=1.0))
    if service.mode == "curator":
        with pytest.raises(jp.PolicyError, match="the curator declares the sources"):
            service.add_source(site.data, declared)
    else:
        assert service.add_source(site.data, declared).name == "again"


def test_replay_is_the_local_service_with_a_manifest_store(
    local: Workspace, tmp_path: Path, site: Site
) -> None:
    made = SensitiveFrame(local, "patients").age.mean(epsilon=0.5)
    manifest = json.loads(json.dumps(local.export_manifest()))
    reviewer = Workspace(tmp_path / "reviewer")
    reviewer.load_manifest(manifest)
    assert reviewer.mode == "replay"
    reviewer.add_source(site.data, SourceDeclaration(name="patients"))  # described by the manifest
    heard: list[Event] = []
    reviewer.subscribe(heard.append)
    shown = SensitiveFrame(reviewer, "patients").age.mean(epsilon=0.5)
    assert float(shown) == float(made) and shown.replayed
    assert [r.id for r in reviewer.releases()] == [made.id]
    assert heard[-1].record is not None and heard[-1].record.fingerprint is None
    with pytest.raises(jp.ReplayMissError):
        SensitiveFrame(reviewer, "patients").age.mean(epsilon=0.25)
    reviewer.load_manifest(None)
    assert reviewer.mode == "local"
    reviewer.close()
