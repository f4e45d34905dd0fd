"""A curator subprocess serving one CSV, for suites outside tests/curator (the security suite).

The data is read only by the curator process: the calling process gets the address, a token file
and the process to stop (by its pid).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.curator.conftest import Process, Site, serve_process


def serve_csv(csv: Path, name: str, **register: Any) -> tuple[Process, str, Path]:
    """Start ``jupyter-privacy serve`` for ``csv`` registered as ``name``; (process, address, token)."""
    root = Path(tempfile.mkdtemp(prefix="jps-"))  # short: a socket path must fit in 108 bytes
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
    policy = root / "privacy.toml"
    policy.write_text("\n".join(lines) + "\n")
    site = Site(root, policy, root / "home", csv, root / "client.token")
    process = serve_process(site, site.socket())
    return process, process.address, site.token_file
