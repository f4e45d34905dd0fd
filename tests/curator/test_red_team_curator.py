"""Red team, curator mode: a canary planted in the data never reaches the kernel's process.

The data (with the canary) is written by a separate process, served by a curator in another
process, and hunted for in this one: in every protocol message, every output and refusal, every
object ``gc`` knows and what they refer to, every frame's locals, the raw memory of every object
(``ctypes``) and every writable page of the process. The hunts are shown to work on a positive
control first: a process that does hold the canary is caught by each of them.

When the tests run as root, the same attack also runs in a kernel without capabilities while the
data file belongs to another uid, mode 0600 (the deployment's shape): reading the file and the
curator's memory must fail too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_privacy as jp
from jupyter_privacy.curator.client import CuratorService
from tests.curator.conftest import REPO, Process, Site, serve_process
from tests.curator.red_team_kernel import attack

KERNEL = Path(__file__).resolve().parent / "red_team_kernel.py"
CURATOR_UID = 65534  # stands for the curator's own OS user: it owns the data file

WRITER = r"""
import hashlib, os, secrets, sys
import numpy as np, pandas as pd
canary = "JPCANARY" + secrets.token_hex(12)
rng = np.random.default_rng(3)
n = 400
df = pd.DataFrame({
    "patient_id": np.arange(n),
    "age": rng.integers(18, 91, n),
    "income": rng.gamma(2.0, 20_000.0, n),
    "state": rng.choice(["CA", "NY", "TX", "WA"], n),
    "city": rng.choice([f"c{i}" for i in range(5)], n),
    "note": [secrets.token_hex(8) for _ in range(n)],
})
df.loc[17, "city"] = canary
df.loc[17, "note"] = canary
path = sys.argv[1]
df.to_csv(path, index=False)
os.chmod(path, 0o600)
print(hashlib.sha256(canary.encode()).hexdigest())
"""

POSITIVE = r"""
import json, sys, secrets, hashlib
sys.path.insert(0, sys.argv[1])
from red_team_kernel import hunt_gc, hunt_frames, hunt_ctypes, hunt_process_memory
held = "JPCANARY" + secrets.token_hex(12)
sha = hashlib.sha256(held.encode()).hexdigest()
print(json.dumps({f.__name__: bool(f(sha)) for f in (hunt_gc, hunt_frames, hunt_ctypes, hunt_process_memory)}))
"""


@pytest.fixture(scope="module")
def canary_site() -> Iterator[tuple[Site, str]]:
    """A site whose data holds a canary this process never sees (only its hash)."""
    root = Path(tempfile.mkdtemp(prefix="jpr-"))
    os.chmod(root, 0o711)  # others may reach the socket and their token, not list or read
    (root / "data").mkdir(mode=0o700)
    data = root / "data" / "patients.csv"
    sha = subprocess.run(
        [sys.executable, "-c", WRITER, str(data)], capture_output=True, text=True, check=True
    ).stdout.strip()
    policy = root / "privacy.toml"
    policy.write_text(
        '[sources.patients]\npath = "data/patients.csv"\nprivacy_unit = "patient_id"\n'
        "budget = { epsilon = 50.0 }\n"
        "bounds = { age = [18, 90], income = [0, 250000] }\n"
        'keys = { state = ["CA", "NY", "TX", "WA"] }\n'
        '[curator]\nsocket = "c.sock"\ntoken_file = "client.token"\n'
    )
    site = Site(root, policy, root / "home", data, root / "client.token")
    yield site, sha
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def curator_process(canary_site: tuple[Site, str]) -> Iterator[Process]:
    site, _ = canary_site
    proc = serve_process(site, site.socket(), "--socket-mode", "666")
    yield proc
    proc.stop()


def test_each_hunt_finds_a_canary_that_is_really_there() -> None:
    """Positive control: the hunts are not blind."""
    out = subprocess.run(
        [sys.executable, "-c", POSITIVE, str(KERNEL.parent)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert json.loads(out.stdout) == {
        "hunt_gc": True,
        "hunt_frames": True,
        "hunt_ctypes": True,
        "hunt_process_memory": True,
    }


def _assert_clean(result: dict[str, object]) -> None:
    assert result["message_count"] > 40  # the session really talked to the curator
    for hunt in ("outputs", "messages", "path_in_messages"):
        assert result[hunt] == 0, (hunt, result)
    for hunt in ("gc", "frames", "ctypes", "memory"):
        assert result[hunt] == [], (hunt, result)


def test_no_hunt_in_this_process_finds_the_canary(
    home: Path, canary_site: tuple[Site, str], curator_process: Process
) -> None:
    site, sha = canary_site
    trace: list[bytes] = []
    ws = CuratorService.connect(curator_process.address, token_file=site.token_file, trace=trace)
    jp.api._workspace = ws  # as jp.connect does; ``home`` restores a local workspace after
    result = attack(ws, trace, "/no/such/path", sha)
    _assert_clean(result)
    assert all(spec.data is None for spec in ws.sources.values())
    assert str(site.data).encode() not in b"".join(trace)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (to give the data to another uid) and setpriv (to drop capabilities)",
)
def test_a_kernel_without_the_curators_privileges_cannot_read_the_file_nor_find_the_canary(
    canary_site: tuple[Site, str], curator_process: Process
) -> None:
    """The deployment's shape: the data file belongs to another user, mode 0600, and the kernel
    has no capability to bypass that (root without capabilities is an ordinary user for files)."""
    site, sha = canary_site
    os.chown(site.data.parent, CURATOR_UID, CURATOR_UID)
    os.chown(site.data, CURATOR_UID, CURATOR_UID)
    out = subprocess.run(
        [
            "setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs",
            sys.executable, str(KERNEL), site.socket(), str(site.token_file), str(site.data),
            sha, str(curator_process.pid),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    _assert_clean(result)
    assert result["read_data_file"] == "PermissionError"
    assert result["read_curator_memory"] == "PermissionError"
