"""Authentication, token files, the peer uid, the ``[curator]`` policy section and ``%load_ext``."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import jupyter_privacy as jp
from jupyter_privacy.cli import main
from jupyter_privacy.core.policy import load_policy
from jupyter_privacy.curator.auth import Client, Registry, digest, read_token
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.curator.server import CuratorServer, build
from tests.conftest import extension_loaded
from tests.curator.conftest import Raw, Site, start


def test_the_curator_creates_the_token_file_owner_only(site: Site) -> None:
    server = start(site, "unix")
    try:
        mode = stat.S_IMODE(site.token_file.stat().st_mode)
        assert mode == 0o600 and len(read_token(site.token_file)) >= 32
        assert stat.S_IMODE(os.stat(server.address).st_mode) == 0o660
    finally:
        server.stop()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_token_file_others_can_read_is_refused_by_both_ends(site: Site, mode: int) -> None:
    site.token_file.write_text("t" * 40)
    os.chmod(site.token_file, mode)
    with pytest.raises(jp.PolicyError, match="readable by others") as refused:
        build(site.policy, home=site.home, target=site.socket(), token_file=site.token_file)
    assert f"chmod 600 {site.token_file}" in str(refused.value)
    with pytest.raises(jp.PolicyError, match="readable by others"):
        CuratorService.connect("/nonexistent.sock", token_file=site.token_file)


def test_a_wrong_token_is_refused(curator: CuratorServer) -> None:
    with pytest.raises(jp.PrivacyError, match="the token is not accepted"):
        CuratorService.connect(curator.address, token="x" * 40)


@pytest.mark.parametrize("curator", ["unix"], indirect=True)
def test_on_the_socket_a_token_works_only_for_its_uid(curator: CuratorServer) -> None:
    other_uid = os.getuid() + 4242
    curator.curator.registry.extra.append(Client("carol", digest("c" * 40), other_uid))
    raw = Raw(curator.address)
    try:
        answer = raw.hello("c" * 40)
        assert answer is not None and answer["error"]["code"] == "unauthenticated"
    finally:
        raw.close()
    mine = Client("dave", digest("d" * 40), os.getuid())
    curator.curator.registry.extra.append(mine)
    ws = CuratorService.connect(curator.address, token="d" * 40)
    assert ws.connection.identity["client"] == "dave"
    assert ws.connection.identity["peer_uid"] == os.getuid()
    ws.close()


@pytest.mark.parametrize("scheme", ["tcp", "http"])
def test_tcp_and_http_listen_on_loopback_only(site: Site, scheme: str) -> None:
    with pytest.raises(jp.PolicyError, match="loopback only"):
        build(
            site.policy, home=site.home, target=f"{scheme}://0.0.0.0:0", token_file=site.token_file
        )


@pytest.mark.parametrize(
    "target, words",
    [
        ("https://127.0.0.1:8765", "not https://"),
        ("ftp://127.0.0.1:8765", "not ftp://"),
        ("http://127.0.0.1", "http://HOST:PORT"),
        ("http://127.0.0.1:8765/other", "http://HOST:PORT"),
        ("tcp://:8765", "tcp://HOST:PORT"),
    ],
)
def test_addresses_the_curator_cannot_serve_are_refused_with_the_right_spelling(
    site: Site, target: str, words: str
) -> None:
    with pytest.raises(jp.PolicyError, match=words):
        build(site.policy, home=site.home, target=target, token_file=site.token_file)


def test_a_second_curator_on_a_live_socket_is_refused(site: Site) -> None:
    server = start(site, "unix")
    try:
        with pytest.raises(jp.PolicyError, match="already listening"):
            build(site.policy, home=site.home / "2", target=site.socket())
    finally:
        server.stop()


def test_token_add_writes_an_owner_only_file_and_registers_only_its_hash(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    out = site.root / "alice.token"
    assert main(["--home", str(site.home), "token", "add", "alice", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    token = read_token(out)
    registry = site.home / "clients.json"
    assert stat.S_IMODE(registry.stat().st_mode) == 0o600
    text = registry.read_text()
    assert token not in text and digest(token) in text
    assert Registry(registry).authenticate(token, None) == Client("alice", digest(token), None)
    assert main(["--home", str(site.home), "token", "add", "alice", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_policy_curator_section_resolves_paths_beside_the_file(site: Site) -> None:
    policy = load_policy(site.policy)
    assert policy.curator is not None
    assert policy.curator.target == str(site.root / "c.sock")
    assert policy.curator.token_file == site.root / "client.token"


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ('[curator]\nsocket = "a"\nurl = "tcp://127.0.0.1:1"', "exactly one of socket or url"),
        ("[curator]\ntoken_file = 'x'", "exactly one of socket or url"),
        ('[curator]\nsocket = "a"\npassword = "x"', "unknown setting 'password'"),
        ("[curator]\nsocket = 3", "non-empty strings"),
    ],
)
def test_bad_curator_sections_are_refused(tmp_path: Path, section: str, words: str) -> None:
    path = tmp_path / "privacy.toml"
    path.write_text(section)
    with pytest.raises(jp.PolicyError, match=words):
        load_policy(path)


@pytest.fixture
def shell(
    home: Path, curator: CuratorServer, site: Site, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    kernel_side = site.root / "kernel"
    kernel_side.mkdir()
    where = (
        f'socket = "{curator.address}"'
        if "://" not in curator.address
        else f'url = "{curator.address}"'
    )
    (kernel_side / "privacy.toml").write_text(
        f'[curator]\n{where}\ntoken_file = "{site.token_file}"\n'
    )
    with extension_loaded(kernel_side, monkeypatch) as ip:
        yield ip


def test_load_ext_connects_to_the_curator_named_in_privacy_toml(shell: InteractiveShell) -> None:
    assert isinstance(jp.workspace(), CuratorService)
    with capture_output() as out:
        shell.run_cell(
            "import jupyter_privacy as jp\np = jp.source('patients')\nr = p.age.mean(epsilon=0.5)\nr"
        )
        shell.run_line_magic("privacy", "")
        shell.run_cell("p.head()")
    text = out.stdout + "".join(o.data.get("text/plain", "") for o in out.outputs)
    assert "curator mode" in text and "guard-rail" not in text
    assert "mean = " in text and "noised" in text
    assert "Refused to access rows with head on 'patients'" in text
    release = shell.user_ns["r"]
    assert release.epsilon == 0.5
    audit = jp.audit()
    assert json.loads(audit.iloc[-1]["detail"])["release"] == release.id
