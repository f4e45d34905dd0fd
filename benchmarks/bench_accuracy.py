"""Accuracy at ε = 1: the workbench against OpenDP used directly, measured in the same run.

    .venv/bin/python benchmarks/bench_accuracy.py [--releases 200] [--seed 11]

Four experiments, each with a fixed synthetic data set and many independent releases:

1. the mean of 1,000 ages in [18, 90] (a clipped-normal and a uniform variant): the workbench's
   ``df.age.mean()`` against OpenDP's plain sum/len split (ε = 0.5 for a bounded integer sum with
   discrete Laplace noise, ε = 0.5 for a count, mean = noisy sum / noisy count);
2. per-key counts over 14 declared keys, 1,000 rows: ``df.groupby("state").size()`` against
   OpenDP's ``make_count_by_categories`` with discrete Laplace noise at scale 1.

3. ``describe`` at ε = 1 of 5,000 uniform ages in [18, 89] (real-valued, then whole years;
   bounds 0–110), and of the bundled
   patients table (``jupyter_privacy.datasets.patients``, 5,000 rows, three bounded columns),
   against OpenDP's per-statistic mechanisms at an even split (``make_count``, ``make_sum`` of
   values and of squares with ``make_laplace``, and five ``make_private_quantile``, ε/8 each per
   column), against the count and the mean each released alone at describe's own share, and
   against all five quantiles from one mechanism: OpenDP's hierarchical-histogram CDF at the ε
   describe spends on them.
   ``--experiments describe`` runs only this one.
4. ``bounds="auto"`` against symmetric power-of-two bounds as Tumult's ``get_bounds`` documents
   them (``bounds_accuracy.py``; a quarter as many releases, each one several releases).

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

import bounds_accuracy
import numpy as np
import pandas as pd
from machine import load_text, process_age_s
from opendp import domains, measurements, measures, metrics, transformations
from opendp import typing as opendp_types
from opendp.mod import binary_search_param, enable_features

import jupyter_privacy as jp
from jupyter_privacy.datasets import PATIENT_BOUNDS, patients

# The names of ``opendp.prelude``, from the modules that define them: importing the prelude also
# imports its scikit-learn extras, seconds of start-up that this script does not need.
dp = SimpleNamespace(
    t=transformations,
    m=measurements,
    vector_domain=domains.vector_domain,
    atom_domain=domains.atom_domain,
    symmetric_distance=metrics.symmetric_distance,
    absolute_distance=metrics.absolute_distance,
    max_divergence=measures.max_divergence,
    f64=opendp_types.f64,
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
    return f"{a.mae / b.mae:.3f}" if b.mae > 0 else ("1.000" if a.mae == 0 else "inf")


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


# --- describe ----------------------------------------------------------------------------------

DESCRIBE_ROWS = 5_000
DESCRIBE_BOUNDS = (0, 110)
QUANTILE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
QUANTILE_NAMES = ("min", "25%", "50%", "75%", "max")


def true_quantile(values: np.ndarray[Any, Any], q: float) -> float:
    """The smallest value with at least q·n values at or below it (the rank definition)."""
    return float(np.quantile(values, q, method="inverted_cdf"))


def opendp_describe_chains(lo: float, hi: float, integer: bool, eps_each: float) -> dict[str, Any]:
    """One column's eight independent OpenDP measurements, each verified at ``eps_each``:
    count, bounded sum, bounded sum of squares (Laplace), five private quantiles."""
    T = dp.i64 if integer else dp.f64
    lo_t, hi_t = (int(lo), int(hi)) if integer else (float(lo), float(hi))
    vec = dp.vector_domain(dp.atom_domain(T=T) if integer else dp.atom_domain(T=T, nan=False))
    clamp = transformations.make_clamp(vec, dp.symmetric_distance(), bounds=(lo_t, hi_t))
    chains: dict[str, Any] = {}
    count_t = dp.t.make_count(vec, dp.symmetric_distance(), TO=dp.i64)
    chains["count"] = count_t >> dp.m.make_laplace(
        dp.atom_domain(T=dp.i64), dp.absolute_distance(T=dp.i64), 1 / eps_each
    )
    sum_t = clamp >> dp.t.make_sum(clamp.output_domain, dp.symmetric_distance())
    sens = float(sum_t.map(1))
    chains["sum"] = sum_t >> dp.m.make_laplace(
        sum_t.output_domain, sum_t.output_metric, sens / eps_each
    )
    sq_lo, sq_hi = (lo_t * lo_t, hi_t * hi_t) if lo_t >= 0 else (0, max(lo_t * lo_t, hi_t * hi_t))
    sq_dom = dp.vector_domain(
        dp.atom_domain(bounds=(sq_lo, sq_hi), T=T, nan=None if integer else False)
    )
    sq_t = dp.t.make_sum(sq_dom, dp.symmetric_distance())
    chains["squares"] = sq_t >> dp.m.make_laplace(
        sq_t.output_domain, sq_t.output_metric, float(sq_t.map(1)) / eps_each
    )
    q_dom = dp.vector_domain(dp.atom_domain(T=dp.f64, nan=False))
    cands = (
        [float(v) for v in range(int(lo), int(hi) + 1)]
        if integer and hi - lo <= 2000
        else [float(v) for v in np.linspace(lo, hi, 1001)]
    )
    for name, q in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True):

        def make(scale: float, q: float = q) -> Any:
            return dp.m.make_private_quantile(
                q_dom, dp.symmetric_distance(), dp.max_divergence(), cands, q, scale
            )

        chains[name] = make(binary_search_param(make, d_in=1, d_out=eps_each))
    for name, chain in chains.items():
        loss = float(chain.map(1))
        if loss > eps_each * (1 + 1e-9):
            raise RuntimeError(f"OpenDP {name} chain has ε = {loss} > {eps_each}")
    return chains


def opendp_cdf_quantiles(
    lo: float, hi: float, integer: bool, eps: float
) -> Callable[[np.ndarray[Any, Any]], list[float]]:
    """All five quantiles from ONE mechanism, as OpenDP offers it: a hierarchical histogram
    (``make_find_bin`` >> ``make_count_by_categories`` >> ``make_b_ary_tree`` >> Laplace at
    ``eps``, map(1) checked), made consistent and read as a CDF by
    ``make_quantiles_from_counts``. Bins: one per whole number where the candidates are whole
    numbers (the quantiles then rounded to them), else 1,024 over the bounds."""
    if integer and hi - lo <= 2000:
        edges = [v - 0.5 for v in range(int(lo), int(hi) + 2)]
    else:
        edges = [float(v) for v in np.linspace(lo, hi, 1025)]
    leaves = len(edges) + 1  # find_bin's index 0 is below the first edge, the last above
    b = dp.t.choose_branching_factor(size_guess=leaves)
    vec = dp.vector_domain(dp.atom_domain(T=dp.f64, nan=False))
    tree = (
        dp.t.make_find_bin(vec, dp.symmetric_distance(), edges=edges)
        >> dp.t.then_count_by_categories(categories=list(range(leaves)), null_category=False)
        >> dp.t.then_b_ary_tree(leaf_count=leaves, branching_factor=b)
    )

    def make(scale: float) -> Any:
        return tree >> dp.m.then_laplace(scale)

    meas = make(binary_search_param(make, d_in=1, d_out=eps))
    if float(meas.map(1)) > eps * (1 + 1e-9):
        raise RuntimeError(f"OpenDP CDF chain has ε = {meas.map(1)} > {eps}")
    consistent = dp.t.make_consistent_b_ary_tree(b)
    read = dp.t.make_quantiles_from_counts(edges, alphas=list(QUANTILE_LEVELS))

    def release(values: np.ndarray[Any, Any]) -> list[float]:
        counts = consistent(meas(values))
        # a NaN (now and then, from noisy counts) is read as the bounds' midpoint
        qs = [(lo + hi) / 2 if math.isnan(v) else float(v) for v in read(counts[1:-1])]
        return [float(round(v)) for v in qs] if integer and hi - lo <= 2000 else qs

    return release


@dataclass
class DescribeResult:
    label: str
    column: str
    workbench: dict[str, Errors]
    baseline: dict[str, Errors]
    alone: dict[str, Errors]  # count alone at describe's count share; mean alone at its share(s)
    cdf: dict[str, Errors]  # the five quantiles from OpenDP's hierarchical-histogram CDF
    rank_cover: float  # share of quantile cells whose rank lies within the stated rank_error
    shares: str


def _errors(rows: list[dict[str, float]], keys: Sequence[str]) -> dict[str, Errors]:
    return {k: Errors(np.asarray([r[k] for r in rows])) for k in keys}


def describe_experiment(
    label: str,
    frame: pd.DataFrame,
    bounds: dict[str, tuple[float, float]],
    releases: int,
    eps: Epsilons,
    frame_level: bool,
    not_null: bool = False,
) -> list[DescribeResult]:
    """``not_null``: the columns are declared so, and share one row count (so does the
    baseline: one count and seven measurements per column, an even split)."""
    name = "describe_" + label.split()[0].replace("-", "_")
    cols = list(bounds)
    df = jp.register(
        frame,
        name=name,
        budget=jp.Budget(epsilon=1e9),
        bounds=bounds,
        not_null=cols if not_null else (),
    )
    truth = {
        c: {
            "count": float(len(frame)),
            "mean": float(np.clip(frame[c], *bounds[c]).mean()),
            "std": float(np.clip(frame[c], *bounds[c]).std(ddof=0)),
            **{
                n: true_quantile(np.clip(frame[c].to_numpy(), *bounds[c]), q)
                for n, q in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True)
            },
        }
        for c in cols
    }
    keys = ["count", "mean", "std", *QUANTILE_NAMES]
    target = df if frame_level else df[cols[0]]
    estimate = target.describe(epsilon=EPSILON, dry_run=True)
    shares = estimate.mechanism
    wb: dict[str, list[dict[str, float]]] = {c: [] for c in cols}
    covered = total = 0
    for _ in range(releases):
        out = target.describe(epsilon=eps.next()).to_pandas()
        for c in cols:
            part = out.loc[c] if frame_level else out
            wb[c].append({k: abs(float(part.loc[k, "value"]) - truth[c][k]) for k in keys})
            values = np.clip(frame[c].to_numpy(), *bounds[c])
            n = len(values)
            for k, q in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True):
                v, r = float(part.loc[k, "value"]), float(part.loc[k, "rank_error"])
                at_or_below = int((values <= v).sum())
                below = int((values < v).sum())
                total += 1
                covered += int(at_or_below >= q * n - r and below <= q * n + r)
    # shares as the mechanism text states them: "count ε a; col: mean ε b, std ε c, …"
    import re

    count_share = float(re.search(r"count ε ([0-9.e-]+)", shares).group(1))  # type: ignore[union-attr]
    mean_share = float(re.search(r"mean ε ([0-9.e-]+)", shares).group(1))  # type: ignore[union-attr]
    quartile_share = float(re.search(r"quartiles ε ([0-9.e-]+)", shares).group(1))  # type: ignore[union-attr]
    extreme_share = float(re.search(r"min and max ε ([0-9.e-]+)", shares).group(1))  # type: ignore[union-attr]
    results = []
    for c in cols:
        series = df[c]
        alone: list[dict[str, float]] = []
        for _ in range(releases):
            n = float(series.count(epsilon=count_share + eps.next() - EPSILON))
            m1 = float(series.mean(epsilon=mean_share + eps.next() - EPSILON))
            # the count's share this column's mean uses: a shared count's, split over the columns
            its_count = count_share / len(cols) if not_null else count_share
            m2 = float(series.mean(epsilon=mean_share + its_count + eps.next() - EPSILON))
            alone.append(
                {
                    "count": abs(
                        n - (truth[c]["count"] if not frame_level else frame[c].notna().sum())
                    ),
                    "mean (its share)": abs(m1 - truth[c]["mean"]),
                    "mean (+count share)": abs(m2 - truth[c]["mean"]),
                }
            )
        lo, hi = bounds[c]
        integer = frame[c].dtype.kind in "iu"
        measurements = 1 + 7 * len(cols) if not_null else 8 * len(cols)
        # a shared count: each column's count chain stands in for it (the same ε, the same law)
        chains = opendp_describe_chains(lo, hi, integer, EPSILON / measurements)
        data = frame[c].to_numpy().astype(np.int64 if integer else np.float64)
        fdata = data.astype(np.float64)
        base: list[dict[str, float]] = []
        for _ in range(releases):
            n = max(float(chains["count"](data)), 1.0)
            s, sq = float(chains["sum"](data)), float(chains["squares"](data * data))
            mean = min(max(s / n, lo), hi)
            var = max(sq / n - mean * mean, 0.0)
            qs = sorted(float(chains[k](fdata)) for k in QUANTILE_NAMES)
            row = {
                "count": abs(n - truth[c]["count"]),
                "mean": abs(mean - truth[c]["mean"]),
                "std": abs(math.sqrt(var) - truth[c]["std"]),
            }
            row.update({k: abs(v - truth[c][k]) for k, v in zip(QUANTILE_NAMES, qs, strict=True)})
            base.append(row)
        # one mechanism for the five quantiles, at the ε describe spends on this column's five
        one = opendp_cdf_quantiles(lo, hi, integer, 3 * quartile_share + 2 * extreme_share)
        cdf = [
            {k: abs(v - truth[c][k]) for k, v in zip(QUANTILE_NAMES, one(fdata), strict=True)}
            for _ in range(releases)
        ]
        results.append(
            DescribeResult(
                label,
                c,
                _errors(wb[c], keys),
                _errors(base, keys),
                _errors(alone, ["count", "mean (its share)", "mean (+count share)"]),
                _errors(cdf, QUANTILE_NAMES),
                covered / total,
                shares,
            )
        )
    return results


def print_describe(results: list[DescribeResult]) -> None:
    print("\n## 3. describe at ε = 1, 5,000 rows (MAE, ± 1 s.e.)")
    print(
        "workbench: count, mean (centred sum), std (centred squares), each quantile the median of "
        "values padded by the released count; split as its dry run states.\n"
        "baseline, OpenDP direct, even split: make_count, make_clamp >> make_sum, make_sum of "
        "squares (make_laplace), five make_private_quantile, ε/8 per column each; map(1) checked.\n"
        "one mechanism: the five quantiles from OpenDP's hierarchical-histogram CDF "
        "(make_b_ary_tree, consistent, make_quantiles_from_counts) at the ε describe spends on "
        "the column's five quantiles."
    )
    for r in results:
        print(f"\n### {r.label}, column {r.column}")
        rows = []
        for k in ["count", "mean", "std", *QUANTILE_NAMES]:
            rows.append(
                [
                    k,
                    r.workbench[k].text(),
                    r.baseline[k].text(),
                    ratio_text(r.workbench[k], r.baseline[k]),
                ]
            )
        quart = [k for k in ("25%", "50%", "75%")]
        wq = float(np.mean([r.workbench[k].mae for k in quart]))
        bq = float(np.mean([r.baseline[k].mae for k in quart]))
        rows.append(
            ["quartiles (mean)", f"{wq:.4f}", f"{bq:.4f}", f"{wq / bq:.3f}" if bq > 0 else "inf"]
        )
        print(table(["statistic", "workbench MAE", "baseline MAE", "wb / baseline"], rows))
        alone = [
            [
                k,
                r.alone[k].text(),
                ratio_text(r.workbench["count" if k == "count" else "mean"], r.alone[k]),
            ]
            for k in r.alone
        ]
        print(table(["released alone at describe's share", "MAE", "describe / alone"], alone))
        one = [[k, r.cdf[k].text(), ratio_text(r.workbench[k], r.cdf[k])] for k in QUANTILE_NAMES]
        cq = float(np.mean([r.cdf[k].mae for k in quart]))
        one.append(["quartiles (mean)", f"{cq:.4f}", f"{wq / cq:.3f}" if cq > 0 else "inf"])
        print(table(["one mechanism: OpenDP CDF, same quantile ε", "MAE", "describe / CDF"], one))
    print(
        f"\nshare of quantile cells whose rank lies within their rank_error (95%): "
        f"{results[0].rank_cover:.1%}"
        + "".join(f"; {r.label}: {r.rank_cover:.1%}" for r in results[1:])
    )
    for label in dict.fromkeys(r.label for r in results):
        print(f"split ({label}): {next(r.shares for r in results if r.label == label)}")


# --- main ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200, help="releases per experiment")
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic data")
    parser.add_argument(
        "--experiments", default="mean,counts,describe,bounds", help="comma-separated subset"
    )
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
        chosen = set(args.experiments.split(","))
        means: list[MeanResult] = []
        if "mean" in chosen:
            runs: list[Callable[[], MeanResult]] = [
                lambda: mean_experiment(
                    "clipped normal(47, 18)", ages_normal(rng), args.releases, eps
                ),
                lambda: mean_experiment("uniform [18, 90]", ages_uniform(rng), args.releases, eps),
            ]
            means = [run() for run in runs]
        counts = count_experiment(states(rng), args.releases, eps) if "counts" in chosen else None
        described: list[DescribeResult] = []
        if "describe" in chosen:
            t_describe = time.perf_counter()
            drng = np.random.default_rng(args.seed)
            ages = pd.DataFrame({"age": drng.uniform(18, 89, DESCRIBE_ROWS)})
            described += describe_experiment(
                "uniform ages 18-89", ages, {"age": DESCRIBE_BOUNDS}, args.releases, eps, False
            )
            whole = pd.DataFrame({"age": drng.integers(18, 90, DESCRIBE_ROWS)})
            described += describe_experiment(
                "whole-year ages 18-89", whole, {"age": DESCRIBE_BOUNDS}, args.releases, eps, False
            )
            bounded = {k: v for k, v in PATIENT_BOUNDS.items()}
            described += describe_experiment(
                "patients (frame-level)", patients(DESCRIBE_ROWS), bounded, args.releases, eps, True
            )
            described += describe_experiment(
                "patients (frame-level, not_null)",
                patients(DESCRIBE_ROWS),
                bounded,
                args.releases,
                eps,
                True,
                not_null=True,
            )
            describe_seconds = time.perf_counter() - t_describe
    finally:
        jp.workspace().close()
        shutil.rmtree(home, ignore_errors=True)

    if means:
        print_means(means)
    if counts is not None:
        print_counts(counts)
    if described:
        print_describe(described)
        print(f"describe experiment took {describe_seconds:.1f} s")
    if "bounds" in chosen:
        print('\n## 4. bounds="auto" against power-of-two bounds (benchmarks/bounds_accuracy.py)')
        bounds_accuracy.report(max(20, args.releases // 4), args.seed)
    age = process_age_s()
    since = f"; {age:.1f} s since process start, imports included" if age is not None else ""
    print(f"releases: {eps.i}; experiments took {time.perf_counter() - t0:.1f} s{since}")
    print(f"load average (1, 5, 15 min) at end: {load_text()}")
    return 0


def print_means(means: list[MeanResult]) -> None:
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
    for m in means:
        print(
            f"time, {m.label}: workbench {m.wb_seconds:.2f} s, OpenDP direct {m.od_seconds:.3f} s"
        )


def print_counts(c: CountResult) -> None:
    print("\n## 2. Per-key counts, 14 declared keys, 1,000 rows, ε = 1 (MAE per cell, ± 1 s.e.)")
    print(
        "workbench: df.groupby('state').size(epsilon=1), declared keys.\n"
        "OpenDP direct: make_count_by_categories(categories=14 keys, null_category=False) >> "
        "make_laplace(L1, scale 1.0); map(1) ≤ 1 checked."
    )
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

    print(
        "time: "
        + f"per-key counts workbench {c.wb_seconds:.2f} s, OpenDP direct {c.od_seconds:.3f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
