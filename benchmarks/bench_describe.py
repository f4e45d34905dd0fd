"""Whole-table ``describe()`` with ``not_null`` columns (one shared row count, nulls filled when
the rows are read) against the same describe with nullable columns (a count per column), on
every way a user reaches a source: a Parquet path, a pandas frame, a polars frame, each with and
without a privacy unit; registration, the first release and later ones. Prints ratios against the
nullable baseline measured in the same run; never asserts on time.

    cd benchmarks && ../.venv/bin/python bench_describe.py --rows 1e5,1e6 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_release import Epsilons, parse_rows, table
from machine import load_text
from source_variants import BOUNDS, variants


def measure(jp: Any, data: Any, name: str, unit: str | None, not_null: list[str], repeat: int,
            eps: Epsilons) -> tuple[float, float, float]:  # fmt: skip
    """(register, first release, median later release) in ms."""
    start = time.perf_counter()
    frame = jp.register(
        data,
        name=name,
        budget=jp.Budget(epsilon=1e6),
        bounds=BOUNDS,
        privacy_unit=unit,
        not_null=not_null,
    )
    register_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    frame.describe(epsilon=eps.next())
    first_ms = (time.perf_counter() - start) * 1000
    later = []
    for _ in range(repeat):
        start = time.perf_counter()
        frame.describe(epsilon=eps.next())
        later.append((time.perf_counter() - start) * 1000)
    return register_ms, first_ms, statistics.median(later)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import jupyter_privacy as jp

    home = tempfile.mkdtemp(prefix="jp-bench-describe-")
    jp.use_workspace(home)
    eps = Epsilons()
    print(f"# bench_describe: rows {args.rows}; repeat {args.repeat}; load {load_text()}")
    body = []
    with tempfile.TemporaryDirectory(prefix="jp-bench-describe-data-") as folder:
        for n in args.rows:
            for v in variants(n, Path(folder)):
                tag = v.name.replace(" ", "_").replace("+", "u")
                base = measure(jp, v.data(), f"nullable_{tag}_{n}", v.unit, [], args.repeat, eps)
                cols = list(BOUNDS)
                nn = measure(jp, v.data(), f"notnull_{tag}_{n}", v.unit, cols, args.repeat, eps)
                body.append(
                    [
                        f"{n:,}",
                        v.name,
                        *(f"{a:,.1f} / {b:,.1f}" for a, b in zip(nn, base, strict=True)),
                        f"{nn[1] / base[1]:.2f}×",
                        f"{nn[2] / base[2]:.2f}×",
                    ]
                )
    print(
        table(
            [
                "rows",
                "registered as",
                "register ms (not_null / nullable)",
                "first describe ms",
                "later describe ms",
                "first ratio",
                "later ratio",
            ],
            body,
        )
    )
    print(f"load average at end: {load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
