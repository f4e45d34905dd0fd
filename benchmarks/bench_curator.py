"""Round trip of a release through the curator against the same release in-process.

Run: .venv/bin/python benchmarks/bench_curator.py [--sizes 100000 10000000] [--repeat 5]

The same Parquet file (written once per size to a temporary folder and reused) is registered
in-process and served by a ``jupyter-privacy serve`` subprocess on a Unix socket, on loopback
TCP and on loopback HTTP. Each timed query asks a fresh cost, so every run is a real release (charge, OpenDP, ledger);
"replayed" asks a recorded release again, the cheapest path: it isolates the protocol's overhead.
Prints median milliseconds and the curator / in-process ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load_text

import jupyter_privacy as jp
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator.client import RemoteWorkspace
from jupyter_privacy.frame import SensitiveFrame

CACHE = Path(tempfile.gettempdir()) / "jupyter-privacy-bench-curator"
STATES = ["CA", "NY", "TX", "WA"]
REGISTER: dict[str, Any] = {
    "privacy_unit": None,
    "budget": jp.Budget(epsilon=1e6),
    "bounds": {"age": (18, 90), "income": (0, 250_000)},
    "keys": {"state": STATES},
}
POLICY = """
[sources.patients]
path = "{path}"
budget = {{ epsilon = 1e6 }}
bounds = {{ age = [18, 90], income = [0, 250000] }}
keys = {{ state = ["CA", "NY", "TX", "WA"] }}
[curator]
socket = "c.sock"  # overridden by --socket or --url
token_file = "client.token"
"""


def parquet(n: int) -> Path:
    """Synthetic patients, written once per size and kept for later runs."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"patients_{n}.parquet"
    if not path.is_file():
        rng = np.random.default_rng(n)
        pd.DataFrame(
            {
                "age": rng.integers(18, 91, n),
                "income": rng.gamma(2.0, 20_000.0, n),
                "state": rng.choice(STATES, n),
            }
        ).to_parquet(path)
    return path


def serve(folder: Path, path: Path, target: str) -> tuple[subprocess.Popen[str], str]:
    (folder / "privacy.toml").write_text(POLICY.format(path=path))
    where = ["--url", target] if "://" in target else ["--socket", target]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_privacy.cli", "--home", str(folder / "home"), "serve",
         "--policy", str(folder / "privacy.toml"), "--rate", "1e6", *where],
        stdout=subprocess.PIPE, text=True, cwd=folder,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "curator on" not in line:
        proc.kill()
        raise SystemExit(f"the curator did not start: {line!r}")
    return proc, line.split("curator on ", 1)[1].split(";", 1)[0]


QUERIES: dict[str, Callable[[SensitiveFrame, float], object]] = {
    "count": lambda p, e: p.count(epsilon=e),
    "mean": lambda p, e: p.age.mean(epsilon=e),
    "grouped count": lambda p, e: p.groupby("state").size(epsilon=e),
    "replayed mean": lambda p, e: p.age.mean(epsilon=0.5),
}


def timings(p: SensitiveFrame, repeat: int, offset: int) -> dict[str, float]:
    out = {}
    QUERIES["replayed mean"](p, 0)  # record it once; the timed runs replay it
    for name, query in QUERIES.items():
        times = []
        for i in range(repeat):
            epsilon = 0.1 + (offset + i) * 1e-4  # a fresh cost: a real release each time
            t = time.perf_counter()
            query(p, epsilon)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine load before: {load_text()}")
    for n in args.sizes:
        t = time.perf_counter()
        path = parquet(n)
        print(f"\n{n:,} rows ({path.stat().st_size / 1e6:.1f} MB Parquet, ready in "
              f"{time.perf_counter() - t:.1f} s)")  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="jpb-") as tmp:
            folder = Path(tmp)
            local = Workspace(folder / "local")
            local.register(path, name="patients", **REGISTER)
            results = {"in-process": timings(SensitiveFrame(local, "patients"), args.repeat, 0)}
            local.close()
            for transport, target in (
                ("unix", str(folder / "c.sock")),
                ("tcp", "tcp://127.0.0.1:0"),
                ("http", "http://127.0.0.1:0"),
            ):
                sub = folder / transport
                sub.mkdir()
                proc, address = serve(sub, path, target)
                try:
                    remote = RemoteWorkspace.connect(address, token_file=sub / "client.token")
                    results[f"curator {transport}"] = timings(remote["patients"], args.repeat, 1000)
                    remote.close()
                finally:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait()
        base = results["in-process"]
        print(f"{'query':<15}{'in-process ms':>15}" + "".join(
            f"{k + ' ms':>18}{'ratio':>8}" for k in results if k != "in-process"))  # fmt: skip
        for q in QUERIES:
            row = f"{q:<15}{base[q]:>15.1f}"
            for k, r in results.items():
                if k != "in-process":
                    row += f"{r[q]:>18.1f}{r[q] / base[q]:>8.2f}"
            print(row)
    print(f"\nmachine load after: {load_text()}")


if __name__ == "__main__":
    main()
