"""Curator subprocesses for suites outside tests/curator (the security suite).

``serve_csv`` starts a curator as this process's own user: the calling process gets the process
and the site (address, token file). That is enough to test the protocol, not the boundary:
whoever runs as the curator's user can read its files.

``serve_isolated`` starts one in the deployment's shape. The curator runs as its own OS user
(``jp-curator``) and owns the data file, the policy, its ledger home and its own token (modes 0600
and 0700); the kernel runs as another user (``jp-kernel``) and holds only a token issued for its
uid. ``IsolatedCurator.run_as_kernel`` runs one function of a test file in a fresh Python process
as that user, connected to the curator, and reports what came of it. Both processes are started
by root and drop to their user before doing anything (``as_user.py``). Creating the users and
handing files to them needs root or passwordless ``sudo -n`` (``find_admin`` says which, or why
neither).

    python -m tests.curator.harness FILE:FUNCTION ADDRESS TOKEN_FILE SOURCE FACTS_JSON

is the kernel's side: connect, call ``FUNCTION(jp.source(SOURCE), **FACTS)``, print the report.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.curator.conftest import REPO, Process, Site, serve_argv, serve_process

CURATOR_USER = "jp-curator"
KERNEL_USER = "jp-kernel"
REPORT = "jp-kernel-report: "  # the kernel's last line of output starts with this


def _policy(csv: Path, name: str, register: dict[str, Any]) -> str:
    budget = register.pop("budget")
    lines = [f"[sources.{name}]", f"path = {json.dumps(str(csv))}"]
    lines.append(f"budget = {{ epsilon = {budget.epsilon!r}, delta = {budget.delta!r} }}")
    for key, value in register.items():
        if isinstance(value, dict):
            inner = ", ".join(
                f"{k} = {json.dumps(v if isinstance(v, str) else list(v))}"
                for k, v in value.items()
            )
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    lines += ["[curator]", 'socket = "c.sock"', 'token_file = "client.token"']
    return "\n".join(lines) + "\n"


def serve_csv(csv: Path, name: str, **register: Any) -> tuple[Process, Site]:
    """Start ``jupyter-privacy serve`` for ``csv`` registered as ``name``, as this user."""
    root = Path(tempfile.mkdtemp(prefix="jps-"))  # short: a socket path must fit in 108 bytes
    policy = root / "privacy.toml"
    policy.write_text(_policy(csv, name, register))
    site = Site(root, policy, root / "home", csv, root / "client.token")
    return serve_process(site, site.socket()), site


# --- doing what only root may ---------------------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    """Runs commands as root (this process is root) or through ``sudo -n``."""

    sudo: bool

    def run(self, *argv: str | Path, env: dict[str, str] | None = None) -> str:
        """Run ``argv`` as root; its output. ``env`` adds variables."""
        args = [str(a) for a in argv]
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        if self.sudo:
            args = ["sudo", "-n", "env", *extra, *args]
        out = subprocess.run(
            args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def as_user(self, user: str, module: str, *args: str, env: dict[str, str]) -> list[str]:
        """The command line running ``python -m module args`` as ``user`` (``as_user.py``),
        with ``env`` (pass it to ``Popen`` too: sudo replaces the environment)."""
        argv = [sys.executable, "-m", "tests.curator.as_user", user, module, *args]
        if self.sudo:
            return ["sudo", "-n", "env", *[f"{k}={v}" for k, v in env.items()], *argv]
        return argv


def find_admin() -> Admin | str:
    """Root or passwordless sudo, or why this process has neither."""
    if os.geteuid() == 0:
        return Admin(sudo=False)
    why = f"this process runs as uid {os.geteuid()}, not root"
    if shutil.which("sudo") is None:
        return f"{why}, and there is no sudo"
    probe = subprocess.run(["sudo", "-n", "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"{why}, and `sudo -n true` failed: {probe.stderr.strip() or probe.returncode}"
    return Admin(sudo=True)


def ensure_user(admin: Admin, name: str) -> pwd.struct_passwd:
    """A system user ``name`` with its own group and no home, created once (idempotent)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    # Another session may create it meanwhile (useradd then fails): the lookup below decides.
    with contextlib.suppress(RuntimeError):
        admin.run(
            "useradd", "--system", "--no-create-home", "--user-group",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name,
        )  # fmt: skip
    return pwd.getpwnam(name)


@dataclass(frozen=True)
class Users:
    admin: Admin
    curator: pwd.struct_passwd
    kernel: pwd.struct_passwd


def make_users(admin: Admin) -> Users:
    users = Users(admin, ensure_user(admin, CURATOR_USER), ensure_user(admin, KERNEL_USER))
    assert len({users.curator.pw_uid, users.kernel.pw_uid, os.getuid()}) == 3
    return users


# --- the curator under its own user, the kernel under another --------------------------------------


class KernelAttemptFailed(AssertionError):
    """The function run as the kernel raised an AssertionError: the bypass worked."""


@dataclass
class IsolatedCurator:
    users: Users
    site: Site
    process: Process
    kernel_dir: Path  # the kernel's own folder (0700): its token, its HOME and working folder
    kernel_token: Path  # issued for the kernel's uid, owned by it, mode 0600
    operator_token: Path  # issued for this process's uid
    source: str

    @property
    def address(self) -> str:
        return self.process.address

    def run_as_kernel(self, function: Callable[..., Any], **facts: Any) -> Any:
        """Call ``function(frame, **facts)`` in a new Python process running as the kernel user,
        with ``frame = jp.source(source)`` from a ``jp.connect`` to this curator; what it
        returned. Its AssertionError is raised here as ``KernelAttemptFailed``; anything else
        that goes wrong is a ``RuntimeError`` (a broken attempt, not a bypass)."""
        users = self.users
        # relative to the checkout: the kernel user may not reach its real path (a checkout in
        # a 0700 temporary folder), only the import folders as_user keeps open
        where = Path(inspect.getfile(function)).resolve().relative_to(REPO)
        spec = f"{where}:{function.__qualname__}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_PRIVACY")},
            "HOME": str(self.kernel_dir),
            "TMPDIR": str(self.kernel_dir),
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        argv = users.admin.as_user(
            users.kernel.pw_name, "tests.curator.harness", spec, self.address,
            str(self.kernel_token), self.source, json.dumps(facts), env=env,
        )  # fmt: skip
        out = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.kernel_dir, env=env, timeout=600
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith(REPORT)]
        if out.returncode != 0 or not lines:
            raise RuntimeError(
                f"the kernel process failed ({out.returncode}):\n{out.stderr[-4000:]}"
            )
        report = json.loads(lines[-1][len(REPORT) :])
        who = (report["uid"], report["gid"], set(report["groups"]) - {users.kernel.pw_gid})
        if who != (users.kernel.pw_uid, users.kernel.pw_gid, set()):
            raise RuntimeError(f"the attempt did not run as {users.kernel.pw_name} only: {who}")
        if report["assertion"] is not None:
            raise KernelAttemptFailed(report["assertion"])
        return report["returned"]

    def stop(self) -> None:
        self.process.stop()
        self.users.admin.run("rm", "-rf", self.site.root)


def serve_isolated(users: Users, csv: Path, name: str, **register: Any) -> IsolatedCurator:
    """Move ``csv`` into a new curator site owned by the curator user and serve it as that user.

    The site's folder is ``--x`` for others (they may reach the socket and their own folder, not
    list it); data, policy and ledger home are the curator's alone; the kernel's folder and its
    token are the kernel's alone."""
    admin, curator, kernel = users.admin, users.curator, users.kernel
    root = Path(tempfile.mkdtemp(prefix="jpi-"))  # short: a socket path must fit in 108 bytes
    data, home, kernel_dir = root / "data", root / "home", root / "kernel"
    for folder in (data, home, kernel_dir):
        folder.mkdir()
    shutil.move(csv, data / csv.name)
    site = Site(root, root / "privacy.toml", home, data / csv.name, root / "client.token")
    site.policy.write_text(_policy(site.data, name, register))
    admin.run("chown", "-R", f"{curator.pw_uid}:{curator.pw_gid}", root)
    admin.run("chmod", "0711", root)
    admin.run("chmod", "0700", data, home)
    admin.run("chmod", "0600", site.data, site.policy)
    admin.run("chown", f"{kernel.pw_uid}:{kernel.pw_gid}", kernel_dir)
    admin.run("chmod", "0700", kernel_dir)
    cli = [sys.executable, "-m", "jupyter_privacy.cli", "--home", str(home), "token", "add"]
    env = {"PYTHONPATH": str(REPO)}
    kernel_token, operator_token = kernel_dir / "kernel.token", root / "operator.token"
    admin.run(*cli, "kernel", "--out", kernel_token, "--uid", str(kernel.pw_uid), env=env)
    admin.run(*cli, "operator", "--out", operator_token, "--uid", str(os.getuid()), env=env)
    env = {"HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    serve = serve_argv(site, site.socket(), "--socket-mode", "666")[2:]  # after "python -m"
    argv = admin.as_user(curator.pw_name, *serve, env={**os.environ, **env})
    try:
        process = Process(argv, env)
    except Exception:
        admin.run("rm", "-rf", root)
        raise
    return IsolatedCurator(users, site, process, kernel_dir, kernel_token, operator_token, name)


# --- the kernel's side --------------------------------------------------------------------------


def _kernel_main(argv: list[str]) -> int:
    import jupyter_privacy as jp

    spec, address, token_file, source, facts = argv
    relative, _, name = spec.rpartition(":")
    path = str(Path(__file__).parents[2] / relative)  # the checkout, as this process reaches it
    loader = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    function = getattr(module, name)
    jp.connect(address, token_file=token_file)
    report: dict[str, Any] = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "returned": None,
        "assertion": None,
    }
    try:
        report["returned"] = function(jp.source(source), **json.loads(facts))
    except AssertionError as exc:
        report["assertion"] = str(exc) or traceback.format_exc()
    print(REPORT + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_kernel_main(sys.argv[1:]))
