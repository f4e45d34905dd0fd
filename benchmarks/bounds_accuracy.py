"""Bounds from the data at ε = 1: ``bounds="auto"`` against a get_bounds-style baseline.

    .venv/bin/python benchmarks/bounds_accuracy.py [--releases 100] [--seed 7]

Data: 5,000 rows, ``age`` uniform floats in [18, 89] and ``income`` lognormal (μ 10.5, σ 0.8),
fixed by ``seed``. For each release and column, two estimates of clipping bounds, each at ε = 1:

- **ours**: the ``bounds`` release (``bounds="auto"``): OpenDP exponential-mechanism quantiles at
  the 2% and 98% points over the public geometric ladder of ``core/auto_bounds.py``;
- **baseline**: the behaviour Tumult Analytics' ``QueryBuilder.get_bounds`` documents: nulls, NaN
  and infinities dropped, symmetric bounds ``(-2^k, 2^k)`` chosen to perform well as clamping
  bounds, not to be tight. Its documentation does not give the exact rule, so this baseline
  assumes the natural one: a Laplace histogram (scale 1/ε) of how many |x| fall in each
  power-of-two band, and the smallest 2^k whose noisy cumulative count reaches 95% of the noisy
  total. It is a reimplementation for comparison, not Tumult's code (which cannot be installed
  here).

For each pair it reports the share of rows inside the bounds, the bias that clipping to them puts
in the mean, and the absolute error of a DP mean at ε = 1 clipped to them (the workbench's own
``mean``, so only the bounds differ). ``main`` prints medians and means per column and method, and
ratios ours / baseline measured in the same run. Never asserts.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.release import Release, ReleaseTable
from jupyter_privacy.core.workspace import Workspace

ROWS = 5_000
EPSILON = 1.0
EPS_STEP = 1e-9  # a distinct ε per release, so the release cache never replays one
COLUMNS = ("age", "income")
POWERS = range(-10, 64)  # bands of the baseline's histogram: |x| ≤ 2^k
THRESHOLD = 0.95  # the baseline's share of rows inside its bounds


def data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"age": rng.uniform(18, 89, ROWS), "income": rng.lognormal(10.5, 0.8, ROWS)}
    )


def baseline_bounds(
    values: np.ndarray[Any, Any], epsilon: float, rng: np.random.Generator
) -> float:
    """The baseline's b (bounds (-b, b)), as the module docstring describes."""
    x = np.abs(values[np.isfinite(values)])
    edges = np.array([2.0**k for k in POWERS])
    band = np.searchsorted(edges, x, side="left")  # index of the smallest 2^k ≥ |x|
    counts = np.bincount(band, minlength=len(edges) + 1)[: len(edges) + 1]
    noisy = counts + rng.laplace(0.0, 1.0 / epsilon, len(counts))
    cumulative = np.cumsum(noisy)
    reached = np.nonzero(cumulative >= THRESHOLD * cumulative[-1])[0]
    k = int(reached[0]) if len(reached) else len(edges) - 1
    return float(edges[min(k, len(edges) - 1)])


def _register(ws: Workspace, frame: pd.DataFrame, bounds: Any, bounds_epsilon: float) -> None:
    ws.register(
        frame,
        name="d",
        budget=Budget(epsilon=1e9),
        bounds=bounds,
        default_epsilon=EPSILON,
        bounds_epsilon=bounds_epsilon,
    )


def _dp_mean(
    ws: Workspace, frame: pd.DataFrame, column: str, lo: float, hi: float, eps: float
) -> float:
    _register(ws, frame, {column: (lo, hi)}, EPSILON)
    out = ws.run(Query("d", (), "mean", column), epsilon=eps)
    assert isinstance(out, Release) and not out.replayed
    return float(out)


def _row(
    column: str,
    method: str,
    i: int,
    values: np.ndarray[Any, Any],
    lo: float,
    hi: float,
    dp_mean: float,
) -> dict[str, Any]:
    true_mean = float(values.mean())
    return {
        "column": column,
        "method": method,
        "release": i,
        "lower": lo,
        "upper": hi,
        "inside": float(np.mean((values >= lo) & (values <= hi))),
        "clip_bias": abs(float(np.clip(values, lo, hi).mean()) - true_mean),
        "mean_abs_error": abs(dp_mean - true_mean),
    }


def run(releases: int, seed: int) -> list[dict[str, Any]]:
    """``releases`` bounds estimates per column and method on one data set; one row each."""
    frame = data(seed)
    rng = np.random.default_rng(seed + 1)
    home = tempfile.mkdtemp(prefix="jp-bounds-bench-")
    ws = Workspace(home)
    rows: list[dict[str, Any]] = []
    try:
        for i in range(releases):
            eps = EPSILON + i * EPS_STEP
            for column in COLUMNS:
                values = frame[column].to_numpy()
                _register(ws, frame, {column: "auto"}, eps)
                table = ws.run(Query("d", (), "bounds", column), epsilon=eps)
                assert isinstance(table, ReleaseTable) and not table.replayed
                lo, hi = (c.value for c in table.cells)
                ours = _dp_mean(ws, frame, column, lo, hi, eps)
                rows.append(_row(column, "ours", i, values, lo, hi, ours))
                b = baseline_bounds(values, EPSILON, rng)
                base = _dp_mean(ws, frame, column, -b, b, eps + EPS_STEP / 2)  # no replay
                rows.append(_row(column, "baseline", i, values, -b, b, base))
    finally:
        ws.close()
        shutil.rmtree(home, ignore_errors=True)
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per column and method: median share inside, mean clipping bias, mean DP-mean error."""
    table = pd.DataFrame(rows)
    out = []
    for (column, method), g in table.groupby(["column", "method"], sort=False):
        out.append(
            {
                "column": column,
                "method": method,
                "median lower": float(g["lower"].median()),
                "median upper": float(g["upper"].median()),
                "median inside": float(g["inside"].median()),
                "mean clip bias": float(g["clip_bias"].mean()),
                "mean |DP mean error|": float(g["mean_abs_error"].mean()),
                "se": float(g["mean_abs_error"].std(ddof=1) / math.sqrt(len(g))),
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    report(args.releases, args.seed)


def report(releases: int, seed: int) -> None:
    """Run the experiment and print its table and ratios (``bench_accuracy`` calls this too)."""
    rows = run(releases, seed)
    stats = summary(rows)
    print(f"bounds at ε = {EPSILON:g} on {ROWS:,} rows, {releases} releases, seed {seed}")
    print(pd.DataFrame(stats).to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    by = {(s["column"], s["method"]): s for s in stats}
    print("\nratios ours / baseline (same run; < 1 means ours is better for errors):")
    for column in COLUMNS:
        o, b = by[(column, "ours")], by[(column, "baseline")]
        error = o["mean |DP mean error|"] / b["mean |DP mean error|"]
        bias = f"{o['mean clip bias'] / b['mean clip bias']:.3g}" if b["mean clip bias"] else "n/a"
        width = (o["median upper"] - o["median lower"]) / (b["median upper"] - b["median lower"])
        inside = o["median inside"] / b["median inside"]
        print(
            f"  {column:7s} DP-mean error {error:.3g}   clip bias {bias}   "
            f"width {width:.3g}   inside {inside:.3g}"
        )


if __name__ == "__main__":
    main()
