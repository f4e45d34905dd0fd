"""Accuracy at ε = 1: the workbench against OpenDP used directly, measured in the same run.

    .venv/bin/python benchmarks/bench_accuracy.py [--releases 200] [--seed 11]

Two experiments, each with a fixed synthetic data set and many independent releases:

1. the mean of 1,000 ages in [18, 90] (a clipped-normal and a uniform variant): the workbench's
   ``df.age.mean()`` against OpenDP's plain sum/len split (ε = 0.5 for a bounded integer sum with
   discrete Laplace noise, ε = 0.5 for a count, mean = noisy sum / noisy count);
2. per-key counts over 14 declared keys, 1,000 rows: ``df.groupby("state").size()`` against
   OpenDP's ``make_count_by_categories`` with discrete Laplace noise at scale 1.

Prints mean absolute errors (± one standard error), their ratio, and the published anchors from
the field notes, which are quoted and not re-measured here. Never asserts.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from machine import load_text, process_age_s
from opendp import domains, measurements, metrics, transformations
from opendp import typing as opendp_types
from opendp.mod import enable_features

import jupyter_privacy as jp

# The names of ``opendp.prelude``, from the modules that define them: importing the prelude also
# imports its scikit-learn extras, seconds of start-up that this script does not need.
dp = SimpleNamespace(
    t=transformations,
    m=measurements,
    vector_domain=domains.vector_domain,
    atom_domain=domains.atom_domain,
    symmetric_distance=metrics.symmetric_distance,
    absolute_distance=metrics.absolute_distance,
    l1_distance=metrics.l1_distance,
    i64=opendp_types.i64,
    String=opendp_types.String,
)
enable_features("contrib")

STATES = ["AL", "AK", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "NY", "OH", "PA", "TX", "WA"]
LO, HI = 18, 90
N_ROWS = 1_000
EPSILON = 1.0
EPS_STEP = 1e-9  # a distinct ε per release (so the release cache never replays); 200 steps < 2e-7

# Published anchors (field notes), quoted for orientation only: different data, other runs.
MEAN_ANCHORS = [
    ("OpenDP plain sum/len split", 0.166),
    ("SmartNoise", 0.267),
    ("Tumult", 0.079),
    ("PyDP normalised bounded mean", 0.057),
]
COUNT_ANCHOR = ("per-key counts, discrete Laplace scale 1", 0.85)


# --- helpers ---------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if a == "l" else str(c).rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


@dataclass(frozen=True)
class Errors:
    """Absolute errors of many releases (one per release, or one per cell)."""

    abs_errors: np.ndarray[Any, Any]

    @property
    def mae(self) -> float:
        return float(self.abs_errors.mean())

    @property
    def se(self) -> float:
        return float(self.abs_errors.std(ddof=1) / math.sqrt(self.abs_errors.size))

    def text(self) -> str:
        return f"{self.mae:.4f} ± {self.se:.4f}"


def ratio_text(a: Errors, b: Errors) -> str:
    return f"{a.mae / b.mae:.3f}"


class Epsilons:
    def __init__(self) -> None:
        self.i = 0

    def next(self) -> float:
        value = EPSILON + self.i * EPS_STEP
        self.i += 1
        return value


# --- data ------------------------------------------------------------------------------------------


def ages_normal(rng: np.random.Generator) -> np.ndarray[Any, Any]:
    return np.clip(rng.normal(47, 18, N_ROWS).round(), LO, HI).astype(np.int64)


def ages_uniform(rng: np.random.Generator) -> np.ndarray[Any, Any]:
    return rng.integers(LO, HI + 1, N_ROWS, dtype=np.int64)


def states(rng: np.random.Generator) -> np.ndarray[Any, Any]:
    weights = np.linspace(2, 1, len(STATES))
    return np.asarray(STATES, dtype=object)[
        rng.choice(len(STATES), size=N_ROWS, p=weights / weights.sum())
    ]


# --- OpenDP used directly ----------------------------------------------------------------------------


def opendp_mean_chains(eps_each: float) -> tuple[Any, Any]:
    """(noisy bounded sum, noisy count) on i64 vectors, each verified at ``eps_each``."""
    domain = dp.vector_domain(dp.atom_domain(bounds=(LO, HI), T=dp.i64))
    sum_t = dp.t.make_sum(domain, dp.symmetric_distance())
    sensitivity = max(abs(LO), abs(HI))  # = 90: OpenDP's bounded sum under symmetric distance
    noisy_sum = sum_t >> dp.m.make_laplace(
        dp.atom_domain(T=dp.i64), dp.absolute_distance(T=dp.i64), sensitivity / eps_each
    )
    count_t = dp.t.make_count(
        dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.symmetric_distance(), TO=dp.i64
    )
    noisy_count = count_t >> dp.m.make_laplace(
        dp.atom_domain(T=dp.i64), dp.absolute_distance(T=dp.i64), 1 / eps_each
    )
    for name, chain in (("sum", noisy_sum), ("count", noisy_count)):
        loss = float(chain.map(1))
        if loss > eps_each:
            raise RuntimeError(f"OpenDP {name} chain has ε = {loss} > {eps_each}")
    return noisy_sum, noisy_count


def opendp_counts_chain(keys: list[str], scale: float) -> Any:
    chain = dp.t.make_count_by_categories(
        dp.vector_domain(dp.atom_domain(T=dp.String)),
        dp.symmetric_distance(),
        categories=keys,
        null_category=False,
        MO="L1Distance<i64>",  # the default is L1Distance<i32>, which does not chain with i64 noise
        TOA=dp.i64,
    ) >> dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.l1_distance(T=dp.i64), scale=scale
    )
    loss = float(chain.map(1))
    if loss > EPSILON:
        raise RuntimeError(f"OpenDP count-by-categories chain has ε = {loss} > {EPSILON}")
    return chain


# --- experiments -----------------------------------------------------------------------------------


@dataclass
class MeanResult:
    label: str
    truth: float
    workbench: Errors
    opendp: Errors
    coverage: float  # share of workbench releases whose 95% interval holds the true mean
    ci_width: float  # median width of the workbench intervals
    wb_seconds: float
    od_seconds: float


def mean_experiment(
    label: str, ages: np.ndarray[Any, Any], releases: int, eps: Epsilons
) -> MeanResult:
    truth = float(ages.mean())
    frame = pd.DataFrame({"age": ages})
    name = f"ages_{label.split()[0]}"
    df = jp.register(frame, name=name, budget=jp.Budget(epsilon=1e9), bounds={"age": (LO, HI)})

    start = time.perf_counter()
    wb, covered, widths = [], 0, []
    for _ in range(releases):
        r = df.age.mean(epsilon=eps.next())
        if r.replayed:
            raise RuntimeError("a workbench release was replayed; ε values are not distinct")
        wb.append(abs(float(r) - truth))
        low, high = r.ci
        covered += int(low <= truth <= high)
        widths.append(high - low)
    wb_seconds = time.perf_counter() - start

    noisy_sum, noisy_count = opendp_mean_chains(EPSILON / 2)
    data = ages.astype(np.int64)
    start = time.perf_counter()
    od = []
    for _ in range(releases):
        od.append(abs(noisy_sum(data) / noisy_count(data) - truth))
    od_seconds = time.perf_counter() - start
    return MeanResult(
        label,
        truth,
        Errors(np.asarray(wb)),
        Errors(np.asarray(od)),
        covered / releases,
        float(np.median(widths)),
        wb_seconds,
        od_seconds,
    )


@dataclass
class CountResult:
    workbench: Errors
    opendp: Errors
    coverage: float
    truth: dict[str, int]
    wb_seconds: float
    od_seconds: float


def count_experiment(values: np.ndarray[Any, Any], releases: int, eps: Epsilons) -> CountResult:
    truth_s = pd.Series(values).value_counts()
    truth = {k: int(truth_s.get(k, 0)) for k in STATES}
    frame = pd.DataFrame({"state": values})
    df = jp.register(frame, name="states", budget=jp.Budget(epsilon=1e9), keys={"state": STATES})

    start = time.perf_counter()
    wb: list[float] = []
    covered = cells = 0
    for _ in range(releases):
        t = df.groupby("state").size(epsilon=eps.next())
        if t.replayed:
            raise RuntimeError("a workbench release was replayed; ε values are not distinct")
        out = t.to_pandas()
        for key, row in out.iterrows():
            true = truth[str(key)]
            wb.append(abs(float(row["value"]) - true))
            covered += int(row["ci_low"] <= true <= row["ci_high"])
            cells += 1
    wb_seconds = time.perf_counter() - start
    if cells != releases * len(STATES):
        raise RuntimeError(f"expected {releases * len(STATES)} cells, got {cells}")

    chain = opendp_counts_chain(STATES, scale=1.0)
    data = [str(v) for v in values]
    true_vec = np.asarray([truth[k] for k in STATES])
    start = time.perf_counter()
    od: list[float] = []
    for _ in range(releases):
        od += list(np.abs(np.asarray(chain(data)) - true_vec))
    od_seconds = time.perf_counter() - start
    return CountResult(
        Errors(np.asarray(wb, dtype=float)),
        Errors(np.asarray(od, dtype=float)),
        covered / cells,
        truth,
        wb_seconds,
        od_seconds,
    )


# --- main ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200, help="releases per experiment")
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic data")
    args = parser.parse_args(argv)
    if args.releases < 2:
        parser.error("--releases must be at least 2")

    t0 = time.perf_counter()
    home = tempfile.mkdtemp(prefix="jp-bench-accuracy-")
    jp.use_workspace(home)
    eps = Epsilons()
    rng = np.random.default_rng(args.seed)
    print(
        f"# bench_accuracy: ε = {EPSILON:g}, {N_ROWS:,} rows, {args.releases} releases per "
        f"experiment, data seed {args.seed}"
    )
    print(
        f"workbench ε per release is {EPSILON:g} + i·{EPS_STEP:g} (distinct, so nothing replays; "
        f"the largest is {EPSILON + (3 * args.releases - 1) * EPS_STEP:.7f}); ledger {home}"
    )
    print(f"load average (1, 5, 15 min) at start: {load_text()}")
    try:
        runs: list[Callable[[], MeanResult]] = [
            lambda: mean_experiment("clipped normal(47, 18)", ages_normal(rng), args.releases, eps),
            lambda: mean_experiment("uniform [18, 90]", ages_uniform(rng), args.releases, eps),
        ]
        means = [run() for run in runs]
        counts = count_experiment(states(rng), args.releases, eps)
    finally:
        jp.workspace().close()
        shutil.rmtree(home, ignore_errors=True)

    print("\n## 1. Mean of 1,000 ages in [18, 90] at ε = 1 (mean absolute error, ± 1 s.e.)")
    print(
        "workbench: df.age.mean(epsilon=1): count (0.3 ε) and sum centred on the bounds' midpoint"
        " (0.7 ε), discrete Laplace, mean clamped to the bounds.\n"
        "OpenDP direct: make_sum(bounds=(18, 90)) >> make_laplace(scale 90/0.5) and "
        "make_count >> make_laplace(scale 1/0.5); mean = noisy sum / noisy count; "
        "each chain's map(1) ≤ 0.5 checked."
    )
    rows = []
    for m in means:
        rows.append(
            [
                m.label,
                f"{m.truth:.3f}",
                m.workbench.text(),
                m.opendp.text(),
                ratio_text(m.workbench, m.opendp),
                f"{m.coverage:.1%}",
                f"{m.ci_width:.3f}",
            ]
        )
    print(
        table(
            [
                "ages",
                "true mean",
                "workbench MAE",
                "OpenDP sum/len MAE",
                "wb / OpenDP",
                "wb 95% CI coverage",
                "wb CI width",
            ],
            rows,
            "lrrrrrr",
        )
    )
    print(
        "\nPublished anchors for the same task (quoted from the field notes, NOT re-measured here):"
    )
    print(table(["library / method", "MAE"], [[n, f"{v:.3f}"] for n, v in MEAN_ANCHORS], "lr"))

    print("\n## 2. Per-key counts, 14 declared keys, 1,000 rows, ε = 1 (MAE per cell, ± 1 s.e.)")
    print(
        "workbench: df.groupby('state').size(epsilon=1), declared keys.\n"
        "OpenDP direct: make_count_by_categories(categories=14 keys, null_category=False) >> "
        "make_laplace(L1, scale 1.0); map(1) ≤ 1 checked."
    )
    c = counts
    print(
        table(
            [
                "cells",
                "workbench MAE",
                "OpenDP direct MAE",
                "wb / OpenDP",
                "wb 95% CI coverage",
                "anchor (quoted)",
            ],
            [
                [
                    f"{c.workbench.abs_errors.size:,}",
                    c.workbench.text(),
                    c.opendp.text(),
                    ratio_text(c.workbench, c.opendp),
                    f"{c.coverage:.1%}",
                    f"{COUNT_ANCHOR[1]:.2f}",
                ]
            ],
        )
    )
    exact = 2 * math.exp(-1) / (1 - math.exp(-2))
    print(
        f"(for reference: E|X| of a discrete Laplace at scale 1 is {exact:.4f}; "
        f"true counts range {min(c.truth.values())}–{max(c.truth.values())})"
    )

    print("\n## Time")
    timing = [[m.label, f"{m.wb_seconds:.2f}", f"{m.od_seconds:.3f}"] for m in means] + [
        ["per-key counts", f"{c.wb_seconds:.2f}", f"{c.od_seconds:.3f}"]
    ]
    print(table(["experiment", "workbench s", "OpenDP direct s"], timing))
    age = process_age_s()
    since = f"; {age:.1f} s since process start, imports included" if age is not None else ""
    print(f"releases: {eps.i}; experiments took {time.perf_counter() - t0:.1f} s{since}")
    print(f"load average (1, 5, 15 min) at end: {load_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
