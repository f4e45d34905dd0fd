"""Per-cell overhead of the loaded extension on cells that touch no sensitive data, and load time.

Run: .venv/bin/python benchmarks/bench_extension.py [--cells 2000]
Targets (issue 3): overhead under 1 ms median per cell; %load_ext under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from IPython.core.interactiveshell import InteractiveShell

CELLS = ["x = 1", "y = [i * i for i in range(100)]", "z = sum(y)", "import math\nw = math.sqrt(z)"]


def per_cell_ms(ip: InteractiveShell, n: int) -> float:
    times = []
    for i in range(n):
        code = CELLS[i % len(CELLS)]
        t = time.perf_counter()
        ip.run_cell(code, store_history=False)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


LOAD = """
import time, tempfile, os
os.environ["JUPYTER_PRIVACY_HOME"] = tempfile.mkdtemp()
from IPython.core.interactiveshell import InteractiveShell
import pandas  # a data notebook has pandas imported before it loads the extension
ip = InteractiveShell.instance()
t = time.perf_counter()
ip.run_line_magic("load_ext", "{ext}")
print((time.perf_counter() - t) * 1000)
"""


def load_ms(ext: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", LOAD.format(ext=ext)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.mkdtemp(),
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=2000)
    args = parser.parse_args()
    ip = InteractiveShell.instance()
    per_cell_ms(ip, 200)  # warm up
    base = per_cell_ms(ip, args.cells)
    ip.run_line_magic("load_ext", "jupyter_privacy")
    loaded = per_cell_ms(ip, args.cells)
    ip.run_line_magic("unload_ext", "jupyter_privacy")
    print(f"{'measure':<38}{'without':>10}{'with':>10}{'ratio':>8}{'overhead':>11}")
    print(
        f"{'median ms per cell (no sensitive data)':<38}{base:>10.3f}{loaded:>10.3f}"
        f"{loaded / base:>8.2f}{loaded - base:>9.3f}ms"
    )
    autoreload = load_ms("autoreload")
    ours = load_ms("jupyter_privacy")
    print(
        f"{'%load_ext ms (fresh process)':<38}{autoreload:>10.1f}{ours:>10.1f}"
        f"{ours / autoreload:>8.1f}{ours - autoreload:>9.1f}ms   (baseline: %load_ext autoreload)"
    )


if __name__ == "__main__":
    main()
