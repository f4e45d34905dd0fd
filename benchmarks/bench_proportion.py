"""A share at equal ε: the ``proportion`` statistic against other ways to release it.

    .venv/bin/python benchmarks/bench_proportion.py [--releases 300] [--rows 1000] [--seed 5]

For a condition ``df.age > T`` on ``--rows`` rows, with T chosen so the true share is 0.02, 0.1,
0.3, 0.5 and 0.9, each at ε = 1 under a pure budget and under zCDP (ε = 1 at δ = 1e-6):

1. ``proportion``: ``(df.age > T).mean()``, what a condition's mean releases;
2. True/False counts: ``(df.age > T).value_counts(alpha=α/2)`` — one vector of two counts (rows
   where the condition is True, rows where it is False), each at the whole ε by parallel
   composition; the share and its interval computed from them (what ``proportion`` does inside
   the engine, so 1. and 2. differ only by noise);
3. bounded mean of 0/1: ``(df.age > T).astype(int).mean()`` — a count and a centred sum (weights
   0.3 / 0.7): what ``.mean()`` of a condition did before ``proportion``;
4. count of True over count of rows: ``df[df.age > T].count(ε/2) / df.count(ε/2)``.

Prints mean absolute errors (± one standard error) and the coverage and median width of the 95%
intervals (4. has none). Every release uses a distinct ε, so none is replayed. Never asserts.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from machine import load_text

import jupyter_privacy as jp

EPSILON = 1.0
EPS_STEP = 1e-9  # a distinct ε per release (so the release cache never replays)
SHARES = (0.02, 0.1, 0.3, 0.5, 0.9)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in lines
    )


class Epsilons:
    def __init__(self) -> None:
        self.i = 0

    def next(self, base: float = EPSILON) -> float:
        self.i += 1
        return base + self.i * EPS_STEP


def run(
    label: str, release: Callable[[float], Any], truth: float, n: int, eps: Epsilons
) -> list[str]:
    errors, covered, widths = [], 0, []
    for _ in range(n):
        value, ci = release(eps.next())
        errors.append(abs(value - truth))
        if ci is not None:
            covered += ci[0] <= truth <= ci[1]
            widths.append(ci[1] - ci[0])
    e = np.asarray(errors)
    se = e.std(ddof=1) / math.sqrt(n)
    coverage = f"{covered / n:.1%}" if widths else "—"
    width = f"{float(np.median(widths)):.4f}" if widths else "—"
    return [label, f"{e.mean():.4f} ± {se:.4f}", coverage, width]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=300)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="jp-bench-")
    jp.use_workspace(home)
    t0 = time.perf_counter()
    try:
        rng = np.random.default_rng(args.seed)
        ages = rng.integers(0, 1000, args.rows)
        frame = pd.DataFrame({"age": ages})
        eps = Epsilons()
        for mode, budget in (
            ("pure ε", jp.Budget(epsilon=1e9)),
            ("zCDP (ε at δ = 1e-6)", jp.Budget(epsilon=1e4, delta=1e-6)),
        ):
            name = "pure" if budget.mode == "pure" else "zcdp"
            df = jp.register(frame, name=name, budget=budget, bounds={"age": (0, 999)})
            print(f"\n## {mode}, ε = {EPSILON}, {args.rows:,} rows, {args.releases} releases each")
            rows = []
            for share in SHARES:
                threshold = int(np.quantile(ages, 1 - share))
                cond = df.age > threshold
                truth = float((ages > threshold).mean())

                def proportion(e: float, cond: Any = cond) -> tuple[float, Any]:
                    r = cond.mean(epsilon=e)
                    assert r.statistic == "proportion" and not r.replayed
                    return float(r), r.ci

                def true_false_counts(e: float, cond: Any = cond) -> tuple[float, Any]:
                    r = cond.value_counts(epsilon=e, alpha=0.025)  # two intervals at 97.5%
                    cells = {c.key[0]: c for c in r.cells}
                    t, f = cells[True], cells[False]
                    est = t.value / (t.value + f.value) if t.value + f.value > 0 else 0.5
                    low = t.ci_low / (t.ci_low + f.ci_high) if t.ci_low > 0 else 0.0
                    high = t.ci_high / (t.ci_high + f.ci_low) if f.ci_low > 0 else 1.0
                    return est, (low, high)

                def zero_one_mean(e: float, cond: Any = cond) -> tuple[float, Any]:
                    r = cond.astype(int).mean(epsilon=e)
                    assert r.statistic == "mean" and not r.replayed
                    return float(r), r.ci

                def count_ratio(e: float, df: Any = df, cond: Any = cond) -> tuple[float, Any]:
                    t = float(df[cond].count(epsilon=e / 2))
                    n = float(df.count(epsilon=e / 2))
                    return min(max(t / n, 0.0), 1.0) if n > 0 else 0.5, None

                for label, how in (
                    ("proportion: (cond).mean()", proportion),
                    ("True/False counts, one vector", true_false_counts),
                    ("bounded mean of 0/1", zero_one_mean),
                    ("count True / count rows (ε/2 each)", count_ratio),
                ):
                    rows.append([f"{truth:.3f}", *run(label, how, truth, args.releases, eps)])
            print(table(["share", "method", "MAE ± 1 s.e.", "95% CI coverage", "CI width"], rows))
        print(f"\nreleases: {eps.i}; {time.perf_counter() - t0:.1f} s; load {load_text()}")
    finally:
        jp.use_workspace(tempfile.mkdtemp(prefix="jp-bench-closed-"))
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
