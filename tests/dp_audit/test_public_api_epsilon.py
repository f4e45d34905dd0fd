"""Empirical DP audit through the public API: neighbours must not be told apart beyond the charge.

For each statistic we register two neighbouring datasets D and D' (one row added: at the bound,
an extreme value, or a new group key) and release the same query M times on each with
``jp.register(...)`` and the ordinary aggregate calls, exactly as an analyst would. A one-sided
event S, fixed in advance from public facts about the two datasets (a threshold at a true value,
never tuned on the outputs), gives by Clopper–Pearson a lower bound on P[M(A) ∈ S] and an upper
bound on P[M(B) ∈ S], so

    ε_lower = ln((lower - δ) / upper)

is, with high probability, at most the true privacy loss. Every bound in this module is one of
``BOUNDS`` Bonferroni-corrected bounds, each allowed to be wrong with probability
``FAMILY_FALSE_POSITIVE / BOUNDS``: a correct engine fails any test here with probability at most
1e-6 in all. A test fails when ε_lower exceeds the ε charged to the ledger (read back from the
release, not assumed). The same draws feed a chi-square goodness-of-fit test of the noise against
the discrete Laplace / discrete Gaussian pmf at the scale OpenDP was built with, and a
deterministic check that the pre-noise aggregates of D and D' differ by no more than the charged
loss covers (the measurement's own privacy map at the observed distance).

The honest fast path. Every release is a full public-API release: plan, validation, pricing,
replay-cache lookup, OpenDP calibration and map check, a ``BEGIN IMMEDIATE`` charge and a recorded
release, both with ``synchronous=FULL``. Two things keep thousands of them fast:

* the replay cache would return the first release again for an identical query (that is its job),
  so each repetition asks with a different ``alpha``. ``alpha`` only sets the reported interval;
  the noise and the charge do not depend on it, yet it is part of the cache key, so every call is
  a fresh, separately charged draw. A budget of ε = 10⁹ lets them all be charged;
* the ledger folder lives on tmpfs (``/dev/shm``) when the machine has one, where fsync is cheap;
  the ledger's durability settings are unchanged. Elsewhere it falls back to ``tmp_path``.

About 7 ms per release on tmpfs (17 ms for thresholded unknown keys): about 2.5 CPU-minutes for
the module. It replaces the earlier engine-level audit of counts and sums (same tests, now through
the public API, with the same check that a 2x-leaky mechanism is caught).

The bounds certify little for the mean (an extreme row moves it by ~1/31 of the range) and for
the median and thresholded counts (the Gaussian's σ ≈ 4 at ρ for ε = 1): they stay valid upper
checks, but have low power there; counts, sums and declared-key counts come close to the charge.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, chisquare

import jupyter_privacy as jp
from jupyter_privacy.core.engine import mechanisms as mech

EPSILON = 1.0  # charged per release
FAMILY_FALSE_POSITIVE = 1e-6  # for every Clopper–Pearson bound in this module together
BOUNDS = 31  # how many one-sided bounds the tests below compute (checked at the end)
PER_BOUND = FAMILY_FALSE_POSITIVE / BOUNDS
GOF_ALPHA = 1e-6  # goodness-of-fit tests reject at this fixed level, no retries
LO, HI = 0.0, 10.0
ROWS = 200
ZCDP_DELTA = 1e-5  # budget δ of the zCDP source: half converts ρ to ε, half pays thresholds
QUERY_DELTA = 1e-9  # δ each thresholded query spends
M_COUNT = 2000
M_SUM = 1500
M_OTHER = 1000
M_UNKNOWN = 700
M_LEAKY = 1000

Floats = np.ndarray[Any, np.dtype[np.float64]]
_used_bounds: list[float] = []


def clopper_pearson(hits: int, trials: int, miss: float = PER_BOUND) -> tuple[float, float]:
    """One-sided bounds (lower, upper) on a binomial probability, each wrong w.p. ≤ ``miss``."""
    _used_bounds.append(miss)
    lower = float(beta.ppf(miss, hits, trials - hits + 1)) if hits > 0 else 0.0
    upper = float(beta.ppf(1 - miss, hits + 1, trials - hits)) if hits < trials else 1.0
    return lower, upper


def epsilon_lower_bound(in_a: np.ndarray, in_b: np.ndarray, delta: float = 0.0) -> float:
    """ln((lower bound on P[A ∈ S] - δ) / upper bound on P[B ∈ S]) from event indicators."""
    lower, _ = clopper_pearson(int(in_a.sum()), in_a.size)
    _, upper = clopper_pearson(int(in_b.sum()), in_b.size)
    return math.log((lower - delta) / upper) if lower - delta > 0 else -math.inf


@dataclass
class Pair:
    """M releases on D and D', public facts about both, and what the ledger charged."""

    on_d: Floats
    on_d_prime: Floats
    truth_d: float
    truth_d_prime: float
    charged_epsilon: float
    delta: float = 0.0  # δ the per-release guarantee allows (zCDP conversion plus thresholds)


def releases(call: Callable[[float], Any], value: Callable[[Any], float], m: int) -> Floats:
    """``m`` fresh public-API releases: each asks with another ``alpha`` (see the docstring)."""
    out = np.empty(m, dtype=np.float64)
    charged = set()
    for i in range(m):
        r = call(0.05 + i * 1e-9)
        assert not r.replayed
        charged.add(r.epsilon if isinstance(r, jp.Release) else r.meta.epsilon)
        out[i] = value(r)
    assert charged == {EPSILON}, f"charged {charged}"
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="jp-dp-audit-", dir=shm))
    else:
        folder = tmp_path_factory.mktemp("dp-audit")
    jp.use_workspace(folder)
    yield folder
    jp.use_workspace(folder / "closed")
    shutil.rmtree(folder, ignore_errors=True)


def base_frame(seed: int = 11, rows: int = ROWS) -> pd.DataFrame:
    """Integer-valued floats partly outside [LO, HI] (so clipping matters, sums are exact)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.integers(-3, 14, rows).astype(np.float64),
            "g": rng.choice(["a", "b"], rows),
        }
    )


def plus(frame: pd.DataFrame, x: float, g: str = "a") -> pd.DataFrame:
    return pd.concat([frame, pd.DataFrame({"x": [x], "g": [g]})], ignore_index=True)


def pure(frame: pd.DataFrame, name: str) -> jp.SensitiveFrame:
    return jp.register(
        frame,
        name=name,
        budget=jp.Budget(epsilon=1e9),
        bounds={"x": (LO, HI)},
        keys={"g": ["a", "b", "c"]},
    )


def zcdp(frame: pd.DataFrame, name: str) -> jp.SensitiveFrame:
    """Keys of ``g`` undeclared: grouping by it discovers keys with thresholded noisy counts."""
    return jp.register(
        frame, name=name, budget=jp.Budget(epsilon=1000.0, delta=ZCDP_DELTA), bounds={"x": (LO, HI)}
    )


def clipped(frame: pd.DataFrame) -> Floats:
    return np.clip(frame["x"].to_numpy(dtype=np.float64), LO, HI)


def pair(
    d: pd.DataFrame,
    d_prime: pd.DataFrame,
    label: str,
    query: Callable[[jp.SensitiveFrame, float], Any],
    value: Callable[[Any], float],
    truth: Callable[[pd.DataFrame], float],
    m: int,
) -> Pair:
    on = []
    for suffix, frame in (("d", d), ("d_prime", d_prime)):
        p = pure(frame, f"{label}_{suffix}")
        on.append(releases(lambda a, p=p: query(p, a), value, m))
    return Pair(on[0], on[1], truth(d), truth(d_prime), EPSILON)


def check(eps_lower: float, charged: float, what: str) -> None:
    print(f"\n{what}: ε_lower = {eps_lower:.3f} (charged ε = {charged})")
    assert eps_lower <= charged, f"{what}: empirical ε ≥ {eps_lower:.4f} exceeds charged {charged}"


def both_directions(p: Pair, what: str) -> tuple[float, float]:
    """S = {out ≥ truth(D')} is likelier on D'; S = {out ≤ truth(D)} is likelier on D."""
    hi_t, lo_t = max(p.truth_d, p.truth_d_prime), min(p.truth_d, p.truth_d_prime)
    up_a, up_b = (p.on_d_prime, p.on_d) if p.truth_d_prime >= p.truth_d else (p.on_d, p.on_d_prime)
    up = epsilon_lower_bound(up_a >= hi_t, up_b >= hi_t, p.delta)
    down = epsilon_lower_bound(up_b <= lo_t, up_a <= lo_t, p.delta)
    check(up, p.charged_epsilon, f"{what} (upper tail)")
    check(down, p.charged_epsilon, f"{what} (lower tail)")
    return up, down


# --- the neighbouring pairs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def counts(home: Path) -> Pair:
    d = base_frame()
    return pair(
        d, plus(d, 5.0), "count", lambda p, a: p.count(epsilon=EPSILON, alpha=a), float,
        lambda f: float(len(f)), M_COUNT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sums_at_bound(home: Path) -> Pair:
    d = base_frame()
    return pair(
        d, plus(d, HI), "sum_bound", lambda p, a: p.x.sum(epsilon=EPSILON, alpha=a), float,
        lambda f: float(clipped(f).sum()), M_SUM,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sums_extreme(home: Path) -> Pair:
    d = base_frame()
    return pair(
        d, plus(d, 1e308), "sum_extreme", lambda p, a: p.x.sum(epsilon=EPSILON, alpha=a), float,
        lambda f: float(clipped(f).sum()), M_OTHER,
    )  # fmt: skip


@pytest.fixture(scope="module")
def means_extreme(home: Path) -> Pair:
    """A small D (30 rows) so one row moves the mean visibly; the added row is -1e308."""
    d = base_frame(seed=12, rows=30)
    return pair(
        d, plus(d, -1e308), "mean_extreme", lambda p, a: p.x.mean(epsilon=EPSILON, alpha=a),
        float, lambda f: float(clipped(f).mean()), M_OTHER,
    )  # fmt: skip


@pytest.fixture(scope="module")
def medians(home: Path) -> Pair:
    """31 rows spread over the candidates; the added row sits at the upper bound."""
    d = pd.DataFrame({"x": np.repeat(np.arange(0.0, 11.0), 3)[:31], "g": "a"})
    return pair(
        d, plus(d, HI), "median_bound", lambda p, a: p.x.median(epsilon=EPSILON, alpha=a),
        float, lambda f: float(np.median(clipped(f))), M_OTHER,
    )  # fmt: skip


@pytest.fixture(scope="module")
def declared_new_key(home: Path) -> Pair:
    """Key "c" is declared and absent from D; D' has one row in it. The cell of "c" is audited."""
    d = base_frame()
    return pair(
        d, plus(d, 5.0, "c"), "declared",
        lambda p, a: p.groupby("g").size(epsilon=EPSILON, alpha=a),
        lambda t: float(t[("c",)]), lambda f: float((f["g"] == "c").sum()), M_SUM,
    )  # fmt: skip


@dataclass
class Unknown:
    """Thresholded counts over undeclared keys on D, D + a row in "a", D + a row in "new"."""

    a_on_d: Floats
    a_on_d_row: Floats
    new_released_on_d: int
    new_released_on_d_new: int
    truth_a_d: float
    charged_epsilon: float
    delta: float
    noise_scale: float
    m: int


def _cells(table: Any) -> dict[Any, float]:
    return {c.key[0]: c.value for c in table.cells}


@pytest.fixture(scope="module")
def unknown(home: Path) -> Unknown:
    d = base_frame()
    scales: list[float] = []
    original = mech.Threshold.release

    def spy(self: mech.Threshold, counts: dict[str, int]) -> dict[str, int]:
        scales.append(self.noise.scale)
        return original(self, counts)

    results: dict[str, list[dict[Any, float]]] = {}
    charged: set[tuple[float, float]] = set()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mech.Threshold, "release", spy)
        for label, frame in (
            ("d", d),
            ("d_row", plus(d, 5.0, "a")),
            ("d_new", plus(d, 5.0, "new")),
        ):
            p = zcdp(frame, f"unknown_{label}")
            out = []
            for i in range(M_UNKNOWN):
                t = p.groupby("g").size(epsilon=EPSILON, delta=QUERY_DELTA, alpha=0.05 + i * 1e-9)
                charged.add((t.meta.epsilon, t.meta.delta))
                out.append(_cells(t))
            results[label] = out
    assert charged == {(EPSILON, QUERY_DELTA)}, charged
    assert len(set(scales)) == 1
    # (ε, δ) of one release: the zCDP ρ is (ε, δ/2)-DP by the budget's conversion; thresholds δ.
    return Unknown(
        np.array([c["a"] for c in results["d"]]),
        np.array([c["a"] for c in results["d_row"]]),
        sum("new" in c for c in results["d"]),
        sum("new" in c for c in results["d_new"]),
        float((d["g"] == "a").sum()),
        EPSILON,
        ZCDP_DELTA / 2 + QUERY_DELTA,
        scales[0],
        M_UNKNOWN,
    )


# --- ε lower bounds ------------------------------------------------------------------------------


def test_count_neighbours_are_not_told_apart_beyond_the_charged_epsilon(counts: Pair) -> None:
    both_directions(counts, "count, one row added")


def test_sum_with_a_row_at_the_bound_is_within_the_charged_epsilon(sums_at_bound: Pair) -> None:
    assert sums_at_bound.truth_d_prime == sums_at_bound.truth_d + HI
    both_directions(sums_at_bound, "sum, one row at the bound")


def test_sum_with_an_extreme_row_is_within_the_charged_epsilon(sums_extreme: Pair) -> None:
    """1e308 clips to HI: were clipping broken the sum would move by 1e308 and fail loudly."""
    assert sums_extreme.truth_d_prime == sums_extreme.truth_d + HI
    both_directions(sums_extreme, "sum, one extreme row (1e308)")


def test_mean_with_an_extreme_row_is_within_the_charged_epsilon(means_extreme: Pair) -> None:
    """The mean is post-processing of a noisy count and sum; S splits at the midpoint of truths."""
    p = means_extreme
    mid = (p.truth_d + p.truth_d_prime) / 2
    up = epsilon_lower_bound(p.on_d >= mid, p.on_d_prime >= mid)
    down = epsilon_lower_bound(p.on_d_prime < mid, p.on_d < mid)
    check(up, p.charged_epsilon, "mean, one extreme row (-1e308) (upper)")
    check(down, p.charged_epsilon, "mean, one extreme row (-1e308) (lower)")


def test_median_with_a_row_at_the_bound_is_within_the_charged_epsilon(medians: Pair) -> None:
    p = medians
    t = p.truth_d_prime
    up = epsilon_lower_bound(p.on_d_prime >= t, p.on_d >= t)
    down = epsilon_lower_bound(p.on_d < t, p.on_d_prime < t)
    check(up, p.charged_epsilon, "median, one row at the bound (upper)")
    check(down, p.charged_epsilon, "median, one row at the bound (lower)")


def test_grouped_counts_with_declared_keys_hide_a_new_key(declared_new_key: Pair) -> None:
    both_directions(declared_new_key, "grouped count, declared keys, one row in a new key")


def test_grouped_counts_over_unknown_keys_are_within_the_charged_epsilon(unknown: Unknown) -> None:
    p = Pair(
        unknown.a_on_d, unknown.a_on_d_row, unknown.truth_a_d, unknown.truth_a_d + 1,
        unknown.charged_epsilon, unknown.delta,
    )  # fmt: skip
    both_directions(p, "grouped count, unknown keys, one row in an existing key")


def test_a_key_seen_in_one_row_is_released_no_more_often_than_delta_allows(
    unknown: Unknown,
) -> None:
    """P[new key released | D'] ≤ e^ε · P[… | D] + δ, and P[… | D] = 0: so the rate is ≤ δ."""
    assert unknown.new_released_on_d == 0  # a key not in the data can never be released
    lower, _ = clopper_pearson(unknown.new_released_on_d_new, unknown.m)
    print(f"\nunknown keys, new key: released {unknown.new_released_on_d_new}/{unknown.m}")
    assert lower <= unknown.delta, f"a one-row key was released at rate ≥ {lower:.3g}"


# --- goodness of fit of the noise ----------------------------------------------------------------


def chi_square_p(noise: np.ndarray, pmf: Callable[[np.ndarray], np.ndarray]) -> float:
    """Chi-square p-value of integer ``noise`` against ``pmf``; bins with < 5 expected pooled."""
    n = noise.size
    span = int(max(abs(noise).max(), 1)) + 200
    support = np.arange(-span, span + 1)
    probs = pmf(support)
    probs = probs / probs.sum()
    expected = probs * n
    keep = expected >= 5
    lo_k, hi_k = support[keep].min(), support[keep].max()
    edges = list(range(lo_k, hi_k + 1))
    obs = [np.sum(noise < lo_k)] + [np.sum(noise == k) for k in edges] + [np.sum(noise > hi_k)]
    exp = [probs[support < lo_k].sum()] + [probs[support == k].sum() for k in edges]
    exp.append(probs[support > hi_k].sum())
    obs_a, exp_a = np.array(obs, dtype=float), np.array(exp) * n
    merged_obs, merged_exp = [0.0], [0.0]  # fold tail bins smaller than 5 into their neighbour
    for o, e in zip(obs_a, exp_a, strict=True):
        if merged_exp[-1] < 5:
            merged_obs[-1] += o
            merged_exp[-1] += e
        else:
            merged_obs.append(o)
            merged_exp.append(e)
    if merged_exp[-1] < 5 and len(merged_exp) > 1:
        merged_obs[-2] += merged_obs.pop()
        merged_exp[-2] += merged_exp.pop()
    e_arr = np.array(merged_exp)
    return float(chisquare(merged_obs, e_arr * (sum(merged_obs) / e_arr.sum())).pvalue)


def discrete_laplace(scale: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda k: np.exp(-np.abs(k) / scale)


def discrete_gaussian(scale: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda k: np.exp(-(k.astype(float) ** 2) / (2 * scale**2))


def count_noise_scale(home: Path) -> float:
    """The scale OpenDP built the count's discrete Laplace with (read from one more release)."""
    scales: list[float] = []
    original = mech.Noise.release

    def spy(self: mech.Noise, value: Any) -> Any:
        scales.append(self.scale)
        return original(self, value)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mech.Noise, "release", spy)
        jp.source("count_d").count(epsilon=EPSILON, alpha=0.5)
    assert len(scales) == 1
    return scales[0]


def test_count_noise_fits_the_discrete_laplace_pmf(counts: Pair, home: Path) -> None:
    scale = count_noise_scale(home)
    noise = (counts.on_d - counts.truth_d).astype(np.int64)
    assert np.array_equal(noise, counts.on_d - counts.truth_d)  # integer noise
    p = chi_square_p(noise, discrete_laplace(scale))
    print(f"\ncount noise vs discrete Laplace(scale={scale:.4f}): p = {p:.3g}")
    assert p >= GOF_ALPHA
    # the fit has power: the same draws are rejected against a Laplace 1.5x as wide
    assert chi_square_p(noise, discrete_laplace(1.5 * scale)) < GOF_ALPHA


def test_unknown_key_count_noise_fits_the_discrete_gaussian_pmf(unknown: Unknown) -> None:
    noise = (unknown.a_on_d - unknown.truth_a_d).astype(np.int64)
    p = chi_square_p(noise, discrete_gaussian(unknown.noise_scale))
    print(
        f"\nthresholded count noise vs discrete Gaussian(σ={unknown.noise_scale:.4f}): p = {p:.3g}"
    )
    assert p >= GOF_ALPHA
    assert chi_square_p(noise, discrete_gaussian(1.5 * unknown.noise_scale)) < GOF_ALPHA


# --- deterministic sensitivity of the pre-noise values -----------------------------------------------


def _pre_noise(call: Callable[[], Any]) -> tuple[Any, list[tuple[Any, Any]]]:
    """Run ``call`` once and capture what each OpenDP measurement was handed before noise."""
    seen: list[tuple[Any, Any]] = []
    noise_release, quantile_release, real_ranks = (
        mech.Noise.release,
        mech.Quantile.release,
        mech.ranks,
    )
    ranked: dict[int, np.ndarray] = {}  # id of a Ranks -> the sorted values it was made from

    def noise_spy(self: mech.Noise, value: Any, keys: Any = None) -> Any:
        seen.append((self, np.array(value, dtype=np.int64)))
        return noise_release(self, value, keys)

    def ranks_spy(candidates: tuple[float, ...], values: np.ndarray) -> mech.Ranks:
        out = real_ranks(candidates, values)
        ranked[id(out)] = np.array(values, dtype=np.float64)
        return out

    def quantile_spy(self: mech.Quantile, data: Any) -> float:
        values = ranked[id(data)] if isinstance(data, mech.Ranks) else data
        seen.append((self, np.array(values, dtype=np.float64)))
        return quantile_release(self, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mech.Noise, "release", noise_spy)
        mp.setattr(mech.Quantile, "release", quantile_spy)
        mp.setattr(mech, "ranks", ranks_spy)
        result = call()
    return result, seen


def _loss_of_difference(part: Any, a: np.ndarray, b: np.ndarray) -> float:
    """The measurement's own privacy map at the distance between its two inputs."""
    if isinstance(part, mech.Quantile):
        ca, cb = Counter(a.tolist()), Counter(b.tolist())
        distance = sum(((ca - cb) + (cb - ca)).values())  # symmetric distance of the multisets
    elif a.ndim == 0:
        distance = int(abs(int(a) - int(b)))
    else:
        distance = int(np.abs(a - b).sum())  # L1 (pure, vector counts)
    return float(part.measurement.map(distance))


SENSITIVITY_CASES: list[tuple[str, Callable[[jp.SensitiveFrame], Any], float]] = [
    ("count", lambda p: p.count(epsilon=EPSILON), 5.0),
    ("sum at the bound", lambda p: p.x.sum(epsilon=EPSILON), HI),
    ("sum extreme", lambda p: p.x.sum(epsilon=EPSILON), 1e308),
    ("sum +inf", lambda p: p.x.sum(epsilon=EPSILON), math.inf),
    ("mean extreme", lambda p: p.x.mean(epsilon=EPSILON), -1e308),
    ("var extreme", lambda p: p.x.var(epsilon=EPSILON), 1e308),
    ("median at the bound", lambda p: p.x.median(epsilon=EPSILON), HI),
    ("grouped counts", lambda p: p.groupby("g").size(epsilon=EPSILON), 5.0),
    ("grouped mean", lambda p: p.groupby("g").x.mean(epsilon=EPSILON), 1e308),
    ("grouped sum", lambda p: p.groupby("g").x.sum(epsilon=EPSILON), 1e308),
]


@pytest.mark.parametrize(
    "label, query, added", SENSITIVITY_CASES, ids=[c[0] for c in SENSITIVITY_CASES]
)
def test_pre_noise_values_of_neighbours_differ_by_no_more_than_the_charge_covers(
    home: Path, label: str, query: Callable[[jp.SensitiveFrame], Any], added: float
) -> None:
    """Deterministic: what each measurement saw on D and on D' is within its map at the charge."""
    d = base_frame(seed=21, rows=50)
    tag = "".join(ch if ch.isalnum() else "_" for ch in label)
    r_d, seen_d = _pre_noise(lambda: query(pure(d, f"sens_{tag}_d")))
    _, seen_dp = _pre_noise(lambda: query(pure(plus(d, added, "c"), f"sens_{tag}_dp")))
    assert seen_d and len(seen_d) == len(seen_dp)
    charged = r_d.epsilon if isinstance(r_d, jp.Release) else r_d.meta.epsilon
    assert charged == EPSILON
    loss = sum(
        _loss_of_difference(part, a, b) for (part, a), (_, b) in zip(seen_d, seen_dp, strict=True)
    )
    assert 0 < loss <= charged, f"{label}: neighbours' pre-noise values cost {loss} > {charged}"


# --- the audit itself has power ------------------------------------------------------------------


def test_the_audit_catches_a_count_whose_noise_is_half_what_its_charge_pays_for(home: Path) -> None:
    """Noise on 2·v, halved: half the scale, about twice the loss, behind an unchanged charge."""
    original = mech.Noise.release

    def leaky(self: mech.Noise, value: Any) -> Any:
        return original(self, 2 * int(value)) // 2

    d = base_frame(seed=13)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mech.Noise, "release", leaky)
        p = pair(
            d, plus(d, 5.0), "leaky", lambda p, a: p.count(epsilon=EPSILON, alpha=a), float,
            lambda f: float(len(f)), M_LEAKY,
        )  # fmt: skip
    t = p.truth_d_prime
    eps_lower = epsilon_lower_bound(p.on_d_prime >= t, p.on_d >= t)
    assert eps_lower > EPSILON, f"the audit missed a 2x-leaky count (ε_lower = {eps_lower:.4f})"


def test_the_bonferroni_count_matches_the_bounds_computed(home: Path) -> None:
    """Runs last in this module: the family-wise rate holds only if BOUNDS counted them all."""
    assert len(_used_bounds) <= BOUNDS, f"{len(_used_bounds)} bounds but BOUNDS = {BOUNDS}"
