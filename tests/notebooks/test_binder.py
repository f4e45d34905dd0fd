"""Binder's set-up, replayed in a fresh virtual environment (there is no Docker daemon here).

What repo2docker does with ``binder/``: build the environment from ``environment.yml`` (conda
packages come from the machine here: the same Python, a Node that satisfies the pin; the pip
packages are installed as listed), run ``postBuild`` in a clone of the repository, then start each
session through ``start``. Then: JupyterLab serves the quickstart at the README's Binder URL path,
and the quickstart executes end to end with the session's own ledger. pip's cache is reused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path

from tests.notebooks.nbrun import SECRETS

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
QUICKSTART = "notebooks/01-quickstart.ipynb"

RUNNER = r"""
import json, os, sys
import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import os, sys; print('KERNEL=' + sys.executable); "
    "print('HOME=' + os.environ.get('JUPYTER_PRIVACY_HOME', ''))"
))
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": os.path.dirname(path)}},
               store_widget_state=True).execute()
nbformat.write(nb, sys.argv[2])
"""


def parse_environment(path: Path) -> tuple[dict[str, str], list[str]]:
    """(conda packages -> version spec, pip requirements) from a simple environment.yml."""
    conda: dict[str, str] = {}
    pip: list[str] = []
    section = None
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        item = line.strip()
        if section != "dependencies" or not item.startswith("- "):
            continue
        item = item[2:].strip()
        if raw.startswith("      - "):
            pip.append(item)
        elif item != "pip:":
            m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", item)
            assert m, item
            conda[m.group(1)] = m.group(2).strip()
    return conda, pip


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _satisfies(have: tuple[int, ...], spec: str) -> bool:
    if not spec:
        return True
    if spec.startswith(">="):
        return have >= _version(spec)
    if spec.startswith("="):
        want = _version(spec)
        return have[: len(want)] == want
    raise AssertionError(f"unsupported spec {spec!r}")


def _clone(dest: Path) -> Path:
    """What Binder clones: tracked files, plus new files not ignored (this working tree)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except (urllib.error.URLError, ConnectionError):  # not listening yet
        return 0, ""


def test_the_environment_file_parses_as_binder_reads_it() -> None:
    conda, pip = parse_environment(BINDER / "environment.yml")
    assert set(conda) == {"python", "pip", "nodejs"}
    assert any(r.startswith("jupyterlab") for r in pip)
    assert os.access(BINDER / "postBuild", os.X_OK) and os.access(BINDER / "start", os.X_OK)
    text = "".join(p.read_text() for p in BINDER.iterdir())
    assert not re.search(r"(?i)token|password|secret\s*=|api[_-]?key", text)


def test_binder_setup_in_a_fresh_venv_serves_and_runs_the_quickstart(tmp_path: Path) -> None:
    conda, pip_reqs = parse_environment(BINDER / "environment.yml")
    assert _satisfies(sys.version_info[:3], conda["python"]), "run the tests with Binder's Python"
    node = shutil.which("node")
    assert node, "Binder installs nodejs; this machine needs one for the replay"
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    assert _satisfies(_version(node_version), conda["nodejs"]), node_version

    started = time.monotonic()
    repo = _clone(tmp_path / "repo")
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    build_env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **({"PIP_CACHE_DIR": cache} if cache else {}),
    }
    build_env.pop("PYTHONPATH", None)
    build_env.pop("JUPYTER_PRIVACY_HOME", None)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *pip_reqs],
        env=build_env,
        check=True,
        cwd=repo,
    )
    print(f"binder replay: environment.yml pip packages in {time.monotonic() - started:.0f}s")
    subprocess.run([str(repo / "binder" / "postBuild")], env=build_env, check=True, cwd=repo)
    print(f"binder replay: postBuild done at {time.monotonic() - started:.0f}s")

    installed = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import jupyter_privacy, jupyterlab; print(jupyter_privacy.__file__)",
        ],
        env=build_env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the checkout, which `python -c` would import from
    ).stdout
    assert str(env_dir) in installed  # the installed package, not this checkout
    pyproject = (repo / "pyproject.toml").read_text()
    if "jupyter-builder" in pyproject:  # once the labextension ships in the wheel, Binder has it
        listed = subprocess.run(
            [str(bin_dir / "jupyter"), "labextension", "list"],
            env=build_env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "jupyter-privacy" in listed.stdout + listed.stderr

    # A session: HOME is the container's; `start` gives it its own ledger.
    session = {**build_env, "HOME": str(tmp_path / "jovyan")}
    (tmp_path / "jovyan").mkdir()
    port = _free_port()
    token = "binder-replay"
    server = subprocess.Popen(
        [
            str(repo / "binder" / "start"),
            str(bin_dir / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            "--allow-root",
            f"--ServerApp.root_dir={repo}",
            f"--IdentityProvider.token={token}",
        ],
        env=session,
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(360):  # start-up is slow on a loaded machine
            if server.poll() is not None:
                break
            status, _ = _get(f"{base}/api/status?token={token}")
            if status == 200:
                break
            time.sleep(0.5)
        assert server.poll() is None, "jupyter lab exited"
        status, page = _get(f"{base}/lab/tree/{QUICKSTART}?token={token}")
        assert status == 200 and "JupyterLab" in page
        status, body = _get(f"{base}/api/contents/{QUICKSTART}?content=0&token={token}")
        assert status == 200 and json.loads(body)["type"] == "notebook"
    finally:
        server.terminate()
        server.wait(timeout=30)

    runner = tmp_path / "run_quickstart.py"
    runner.write_text(RUNNER)
    executed = tmp_path / "executed.ipynb"
    subprocess.run(
        [
            str(repo / "binder" / "start"),
            str(bin_dir / "python"),
            str(runner),
            str(repo / QUICKSTART),
            str(executed),
        ],
        env=session,
        cwd=repo,
        check=True,
        timeout=900,
    )
    print(f"binder replay: quickstart executed at {time.monotonic() - started:.0f}s")
    nb = json.loads(executed.read_text())
    shown = json.dumps(nb["cells"])
    assert "Refused to access rows with head" in shown and "[noised" in shown
    last = "".join(nb["cells"][-1]["outputs"][0]["text"])
    assert f"KERNEL={bin_dir / 'python'}" in last
    ledger_home = tmp_path / "jovyan" / ".jupyter_privacy"
    assert f"HOME={ledger_home}" in last
    assert (ledger_home / "ledger.sqlite").is_file()
    assert not (repo / "notebooks" / ".jupyter_privacy").exists()  # nothing shared in the repo
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and "raises-exception" not in tags:
            assert all(o["output_type"] != "error" for o in cell["outputs"]), cell["source"]
    assert all(s not in shown for s in SECRETS)
