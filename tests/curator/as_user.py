"""Run a Python module as another OS user, from root:

    python -m tests.curator.as_user USER MODULE|SCRIPT.py [ARG ...]

drops every privilege for good (supplementary groups, gid and uid, real, effective and saved, so
no capability is left) and then runs ``MODULE`` (or the script) as ``__main__``, like
``python -m MODULE ARG ...`` started by that user, with one difference: the interpreter was
started by root.

That difference is what makes this needed. The interpreter, its standard library or the checkout
may live where the user cannot reach (pyenv under ``/root``, mode 0700). Before the drop, each
import folder (``sys.path`` and the packages already imported) is opened and replaced by its
``/proc/self/fd/N`` path: those folders stay importable, nothing else is reachable that the user
could not reach anyway (a folder's own permissions still apply to every lookup in it), and no
other file is open. The process is made dumpable again, as it would be had the user started it.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pwd
import runpy
import sys

PR_SET_DUMPABLE = 4


def _keep_import_folders_reachable() -> None:
    opened: dict[str, str] = {}

    def reachable(entry: str) -> str:
        real = os.path.realpath(entry or ".")
        if real not in opened:
            if not os.path.isdir(real):
                return entry
            opened[real] = f"/proc/self/fd/{os.open(real, os.O_RDONLY | os.O_DIRECTORY)}"
        return opened[real]

    sys.path[:] = [reachable(entry) for entry in sys.path]
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):  # a regular package; namespace paths follow sys.path
            path[:] = [reachable(entry) for entry in path]
    importlib.invalidate_caches()
    sys.path_importer_cache.clear()


def drop_to(user: str) -> pwd.struct_passwd:
    """Become ``user`` (its own group only) irrevocably; fails unless run as root."""
    pw = pwd.getpwnam(user)
    _keep_import_folders_reachable()
    os.setgroups([])
    os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    with open("/proc/self/status") as status:
        caps = {k: v.strip() for k, _, v in (line.partition(":") for line in status)}
    if os.getresuid() != (pw.pw_uid,) * 3 or os.getgroups() or int(caps["CapPrm"], 16):
        raise SystemExit(f"could not drop to {user}: {os.getresuid()} {caps['CapPrm']}")
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    os.environ.update(USER=user, LOGNAME=user)
    return pw


def main() -> None:
    user, module, *args = sys.argv[1:]
    drop_to(user)
    sys.argv = [module, *args]
    if module.endswith(".py"):  # a script's path
        runpy.run_path(module, run_name="__main__")
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
