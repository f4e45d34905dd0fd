"""OpenDP measurements with analytically calibrated scales, verified by their own privacy maps.

OpenDP's generic scale search costs ~1,000 constructions per query. The loss of every mechanism we
use is linear (pure DP) or quadratic (zCDP) in 1/scale, so one construction at scale 1 tells us the
scale; we then construct at that scale and nudge it up until the measurement's own map fits.

Every measurement here is non-interactive (no queryable, no compositor: the ledger composes). Its
Rust function is ``Send + Sync`` and each call gets its own argument, so invocations need no lock,
and ctypes releases the GIL during them: independent selections may run on several cores.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from jupyter_privacy.core.engine import opendp_api as dp

Measure = Literal["pure", "zcdp"]

DISCRETE_GAUSSIAN_EXACT_UP_TO = 1e4

#: Starting a search just above the analytic scale makes the first candidate pass the map almost
#: always (the map rounds up by a few ulps); the extra noise is one part in 10¹⁰.
FIRST_GUESS_MARGIN = 1 + 1e-10


class CalibrationError(RuntimeError):
    """No scale satisfied the privacy map (should not happen for finite targets)."""


@lru_cache(maxsize=2)
def output_measure(measure: Measure) -> Any:
    return dp.max_divergence() if measure == "pure" else dp.zero_concentrated_divergence()


def calibrate(
    build: Callable[[float], Any],
    d_mid: Any,
    target: float,
    measure: Measure,
    unit: float,
) -> tuple[Any, float, float]:
    """The measurement whose OpenDP map at ``d_mid`` is at most ``target`` (scale near minimal),
    with its scale and that map's value (the loss to charge).

    ``unit`` is the map at scale 1 (see ``_unit_loss``); it only seeds the search: the returned
    measurement's own map is always checked."""
    if not (target > 0 and math.isfinite(target)):
        raise CalibrationError("target loss must be finite and positive")
    scale = unit / target if measure == "pure" else math.sqrt(unit / target)
    scale = max(scale * FIRST_GUESS_MARGIN, 1e-300)
    for _ in range(200):
        meas = build(scale)
        loss = float(meas.map(d_mid))
        if loss <= target:
            return meas, scale, loss
        scale *= max(1 + 1e-12, (loss / target) if measure == "pure" else math.sqrt(loss / target))
    raise CalibrationError("could not calibrate a scale")


# --- a test-only view of what each mechanism is given ---------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One mechanism's exact (pre-noise) input and the sensitivity its noise was calibrated for.

    Only an observer installed with ``observe_pre_noise`` ever sees these: the neighbour fuzzer,
    which checks that the input moves by at most ``sensitivity`` (in ``metric``) between data
    sets that differ in one person. ``keys`` label the coordinates of a vector."""

    mechanism: str  # "noise", "quantile" or "threshold"
    metric: str  # "absolute", "l1", "l2", "linf" or "l0-l1-linf" / "l0-l2-linf"
    sensitivity: int | tuple[int, ...]
    value: Any
    keys: tuple[Any, ...] | None = None
    row_range: tuple[int, int] | None = None  # what one row adds to a sum or count
    empty: Any = None  # the input on the empty data set, where it is not 0 (padded scores)


_OBSERVER: list[Callable[[Observation], None]] = []


@contextmanager
def observe_pre_noise(callback: Callable[[Observation], None]) -> Iterator[None]:
    """Test-only: call ``callback`` with each mechanism's input while the block runs. It lives in
    the process that holds the data (the kernel in guard-rail mode, the curator otherwise)."""
    _OBSERVER.append(callback)
    try:
        yield
    finally:
        _OBSERVER.remove(callback)


def _observe(observation: Observation) -> None:
    for callback in _OBSERVER:
        callback(observation)


# --- stability maps (sensitivities) come from OpenDP transformations ---------------------------


@lru_cache(maxsize=256)
def count_sensitivity(d_in: int) -> int:
    count = dp.t.make_count(
        dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.symmetric_distance(), TO=dp.i64
    )
    return int(count.map(d_in))


@lru_cache(maxsize=1024)
def sum_sensitivity(d_in: int, lower: int, upper: int) -> int:
    """Stability of OpenDP's integer sum over values in [lower, upper] (also per key: partitions)."""
    domain = dp.vector_domain(dp.atom_domain(bounds=(lower, upper), T=dp.i64))
    return int(dp.t.make_sum(domain, dp.symmetric_distance()).map(d_in))


@lru_cache(maxsize=256)
def count_by_categories_sensitivity(d_in: int, measure: Measure) -> int:
    metric = "L1Distance<i64>" if measure == "pure" else "L2Distance<i64>"
    trans = dp.t.make_count_by_categories(
        dp.vector_domain(dp.atom_domain(T=dp.String)),
        dp.symmetric_distance(),
        categories=["a", "b"],
        null_category=False,
        MO=metric,
        TOA=dp.i64,
    )
    return int(trans.map(d_in))


@lru_cache(maxsize=256)
def count_by_sensitivity(d_in: int, measure: Measure) -> tuple[int, ...]:
    """(l0, l1, l∞) stability of counts by unknown key; under zCDP the l1 bound also bounds l2."""
    trans = dp.t.make_count_by(
        dp.vector_domain(dp.atom_domain(T=dp.String)), dp.symmetric_distance(), TV=dp.i64
    )
    return tuple(int(v) for v in trans.map(d_in))


# --- noise ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """A verified integer noise measurement and what it needs to report an interval."""

    measurement: Any
    measure: Measure
    scale: float
    sensitivity: int | None = None  # the one calibration checked the map at
    loss: float | None = None  # ``measurement.map(sensitivity)``, as calibration computed it
    row_range: tuple[int, int] | None = None  # public range of one row's part of the input

    def release(self, value: int | Sequence[int], keys: Sequence[Any] | None = None) -> Any:
        """Noise on one integer, or on a vector (one coordinate per key in ``keys``)."""
        scalar = isinstance(value, int | np.integer)
        if _OBSERVER:
            metric = "absolute" if scalar else ("l1" if self.measure == "pure" else "l2")
            exact = int(value) if scalar else tuple(int(v) for v in value)  # type: ignore[arg-type, union-attr]
            _observe(
                Observation(
                    "noise",
                    metric,
                    self.sensitivity or 0,
                    exact,
                    tuple(keys) if keys else None,
                    self.row_range,
                )
            )
        if scalar:
            return int(self.measurement(int(value)))  # type: ignore[arg-type]
        return [int(v) for v in self.measurement(np.asarray(value, dtype=np.int64))]

    def loss_at(self, sensitivity: int) -> float:
        """The measurement's own map at ``sensitivity`` (reused when calibration already ran it)."""
        if sensitivity == self.sensitivity and self.loss is not None:
            return self.loss
        return float(self.measurement.map(sensitivity))

    def accuracy(self, alpha: float) -> float:
        """Half-width of the (1 - alpha) interval of one coordinate, from OpenDP (never below 0:
        at the vanishing scales of a zero sensitivity, OpenDP's formula goes to -inf)."""
        if self.measure == "pure":
            return max(float(dp.discrete_laplacian_scale_to_accuracy(self.scale, alpha)), 0.0)
        if self.scale <= DISCRETE_GAUSSIAN_EXACT_UP_TO:
            return float(dp.discrete_gaussian_scale_to_accuracy(self.scale, alpha))
        # OpenDP sums the discrete tail term by term (time grows with the scale). A discrete tail
        # beyond t is at most the continuous tail beyond t - 1, so this bound is conservative.
        return float(dp.gaussian_scale_to_accuracy(self.scale, alpha)) * (1 + 1e-9) + 1

    @property
    def name(self) -> str:
        return "discrete Laplace" if self.measure == "pure" else "discrete Gaussian"


@lru_cache(maxsize=4)
def _noise_space(measure: Measure, vector: bool) -> tuple[Any, Any]:
    """Input domain and metric of integer noise (built once: each OpenDP constructor call costs
    a tenth of a millisecond of type parsing)."""
    if vector:
        domain = dp.vector_domain(dp.atom_domain(T=dp.i64))
        metric = dp.l1_distance(T=dp.i64) if measure == "pure" else dp.l2_distance(T=dp.i64)
        return domain, metric
    return dp.atom_domain(T=dp.i64), dp.absolute_distance(T=dp.i64)


def _make_noise(scale: float, measure: Measure, vector: bool) -> Any:
    domain, metric = _noise_space(measure, vector)
    return dp.m.make_noise(domain, metric, output_measure(measure), scale)


def integer_noise(
    sensitivity: int,
    target: float,
    measure: Measure,
    vector: bool,
    row_range: tuple[int, int] | None = None,
) -> Noise:
    """Discrete Laplace (pure) or discrete Gaussian (zCDP) on integers, at a verified scale.
    ``row_range``: what one row can add to the input (a count's 0..1, a sum's bounds)."""

    def build(scale: float) -> Any:
        return _make_noise(scale, measure, vector)

    unit = _unit_loss(("noise", sensitivity, measure, vector), lambda: build(1.0).map(sensitivity))
    meas, scale, loss = calibrate(build, sensitivity, target, measure, unit)
    return Noise(meas, measure, scale, sensitivity, loss, row_range)


def noise_for_scale(scale: float, measure: Measure, vector: bool) -> Noise:
    """Noise at a given scale (for ``accuracy=`` requests, which fix the scale first)."""
    return Noise(_make_noise(scale, measure, vector), measure, scale)


# --- quantiles (exponential mechanism over public candidates) ------------------------------------


U64_MAX = 2**64 - 1
FAST_SCORES_BELOW = 2**62  # den·n below this: int64 scores cannot overflow or reach the clamp


@dataclass(frozen=True)
class Ranks:
    """Per candidate, how many values lie below it and on it: all any quantile's score needs,
    so the quantiles of one column share one pass over its sorted values."""

    below: np.ndarray[Any, Any]  # int64
    equal: np.ndarray[Any, Any]  # int64
    n: int
    pad: tuple[int, int] = (0, 0)  # public rows counted in (below every, above every candidate)

    def trimmed(self) -> Ranks:
        """The ranks of every candidate but the first and the last."""
        return Ranks(self.below[1:-1], self.equal[1:-1], self.n, self.pad)


def ranks(candidates: tuple[float, ...], sorted_values: np.ndarray[Any, Any]) -> Ranks:
    cands = np.asarray(candidates, dtype=np.float64)
    below = np.searchsorted(sorted_values, cands, side="left").astype(np.int64)
    upto = np.searchsorted(sorted_values, cands, side="right").astype(np.int64)
    return Ranks(below, upto - below, len(sorted_values))


PAD_MAX = 2**40  # public padding rows, capped far below where scores could overflow
_PADDING_COUNT: list[int] = []  # test-only: the count padding reads instead of the released one


def padding(released_count: int, q: float) -> tuple[int, int]:
    """Public rows to add (below, above) every candidate so that the q-quantile of n values is
    the median of the padded values: |1 − 2q|·n rows below for q < ½, above for q > ½, with n
    the released count (a public number: the padding reads no data)."""
    n = _PADDING_COUNT[-1] if _PADDING_COUNT else released_count
    rows = min(PAD_MAX, max(0, round(abs(1 - 2 * q) * n)))
    return (rows, 0) if q < 0.5 else (0, rows)


def padded(r: Ranks, pad: tuple[int, int]) -> Ranks:
    """``r`` with ``pad`` = (below, above) public rows added: those below every candidate raise
    each candidate's count below; both raise the total."""
    below, above = pad
    total = (r.pad[0] + below, r.pad[1] + above)
    return Ranks(r.below + below, r.equal, r.n + below + above, total)


@contextmanager
def fixed_padding_count(n: int) -> Iterator[None]:
    """Test-only: padding reads ``n`` instead of the released count, so that the neighbour
    fuzzer compares two data sets' median scores under the same public padding (the padding
    is a function of a released value, so the fair comparison conditions on it)."""
    _PADDING_COUNT.append(n)
    try:
        yield
    finally:
        _PADDING_COUNT.pop()


@dataclass(frozen=True)
class Quantile:
    """OpenDP's private quantile, released from the sorted values in one cheap step.

    ``measurement`` is OpenDP's score transformation chained with ``select``, OpenDP's noisy max
    at ``scale`` times the score denominator: how OpenDP composes ``make_private_quantile``, and
    its map is the loss we charge. Invoking the chain would copy and sort every value inside
    OpenDP for each quantile (half a second per quantile at 10⁷ rows). Instead ``scores``
    computes the transformation's exact integer scores from values sorted once by polars, and
    only ``select`` runs in OpenDP. Tests check the scores against the transformation on random
    data and the chain's map against ``make_private_quantile``'s.
    """

    measurement: Any
    candidates: tuple[float, ...]
    scale: float
    select: Any
    alpha_num: int
    alpha_den: int
    d_in: int
    loss: float  # ``measurement.map(d_in)``, as calibration computed and checked it
    q: float = 0.5

    def scores(self, data: np.ndarray[Any, Any] | Ranks) -> np.ndarray[Any, Any]:
        """|den·#(x < c) − num·(n − #(x = c))| per candidate, as OpenDP computes it (u64), from
        sorted values or their ``ranks``."""
        r = data if isinstance(data, Ranks) else ranks(self.candidates, data)
        n, limit = r.n, U64_MAX // self.alpha_den
        if self.alpha_den * n < FAST_SCORES_BELOW:
            fast: np.ndarray[Any, Any] = np.abs(
                self.alpha_den * r.below - self.alpha_num * (n - r.equal)
            )
            return fast.astype(np.uint64)
        exact = [
            abs(self.alpha_den * min(int(a), limit) - self.alpha_num * min(n - int(e), limit))
            for a, e in zip(r.below, r.equal, strict=True)
        ]
        return np.asarray(exact, dtype=np.uint64)

    def release(self, data: np.ndarray[Any, Any] | Ranks) -> float:
        """The selected candidate, from sorted values or their ``ranks``."""
        return self.candidates[int(self.select(self.scores(data)))]

    def rank_error(self, alpha: float) -> float:
        """Rows by which the released candidate's rank may miss the target, w.p. 1 - alpha.

        ``select`` adds noise of scale ``scale·den`` to the integer scores, so ``scale`` per row
        of score (score/den moves by one when a candidate passes one row). Under either noise
        (Gumbel: the exponential mechanism; exponential: permute-and-flip) a candidate whose
        score exceeds the best by ``t`` rows wins with probability at most exp(-t/scale); a union
        over the candidates gives ``scale·ln(K/alpha)``. (Half that undercovered: a median
        whose nearest wrong candidates sit just past it missed about 10% of the time, not 5%.)
        The bound is on the score's excess over the best candidate's: where the data have no
        candidate near the target rank, or a large tie on one, the best candidate's own miss
        adds to it."""
        return self.scale * math.log(len(self.candidates) / alpha)


Selection = tuple[Quantile, "np.ndarray[Any, Any] | Ranks"]

_POOL: tuple[int, ThreadPoolExecutor] | None = None


def pool() -> ThreadPoolExecutor:
    """A small process-wide pool, rebuilt after a fork (a forked child inherits dead threads)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        workers = max(1, min(4, len(os.sched_getaffinity(0))))
        _POOL = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="jp-select"))
    return _POOL[1]


def _observe_selections(selections: Sequence[Selection]) -> None:
    if _OBSERVER:  # on the calling thread, in order: the pool's threads run in any order
        for m, data in selections:
            sens = int(quantile_score(m.candidates, m.q).map(m.d_in))
            scores = tuple(int(v) for v in m.scores(data))
            empty = None
            if isinstance(data, Ranks) and data.pad != (0, 0):  # the public rows alone
                zeros = np.zeros_like(data.below)
                empty = tuple(int(v) for v in m.scores(padded(Ranks(zeros, zeros, 0), data.pad)))
            _observe(Observation("quantile", "linf", sens, scores, m.candidates, None, empty))


def select_all(selections: Sequence[Selection]) -> list[Future[float]]:
    """Start each quantile's selection; they are independent and spend their time in OpenDP's
    sampler with the GIL released, so they share the cores."""
    _observe_selections(selections)
    return [pool().submit(m.release, data) for m, data in selections]


def release_quantiles(selections: Sequence[Selection]) -> list[float]:
    """Each quantile released from its sorted values or ranks, in the order given."""
    if len(selections) < 2:
        _observe_selections(selections)
        return [m.release(data) for m, data in selections]
    return [f.result() for f in select_all(selections)]


@lru_cache(maxsize=256)
def quantile_score(candidates: tuple[float, ...], q: float) -> Any:
    """OpenDP's quantile score transformation (unknown dataset size)."""
    domain = dp.vector_domain(dp.atom_domain(T=dp.f64, nan=False))
    return dp.t.make_quantile_score_candidates(domain, dp.symmetric_distance(), list(candidates), q)


@lru_cache(maxsize=256)
def _increasing(candidates: tuple[float, ...]) -> bool:
    return all(a < b for a, b in itertools.pairwise(candidates))


@lru_cache(maxsize=256)
def _score_fraction(candidates: tuple[float, ...], q: float) -> tuple[int, int]:
    """(num, den) of the quantile as OpenDP's score integerises it, read off public probes:
    one row below every candidate scores den − num, one row above scores num."""
    score = quantile_score(candidates, q)
    below, above = int(score([-math.inf])[0]), int(score([math.inf])[0])
    return above, below + above


def quantile(
    candidates: tuple[float, ...], q: float, d_in: int, target: float, measure: Measure
) -> Quantile:
    """``make_private_quantile`` as OpenDP composes it: score, then noisy min at scale × den."""
    if not _increasing(candidates):
        raise CalibrationError("quantile candidates must be strictly increasing")
    score, domain, metric = _score_space(candidates, q)
    num, den = _score_fraction(candidates, q)

    def select(scale: float) -> Any:
        return dp.m.make_noisy_max(
            domain, metric, output_measure(measure), scale * den, negate=True
        )

    built: dict[float, Any] = {}

    def build(scale: float) -> Any:
        built[scale] = select(scale)
        return score >> built[scale]

    unit = _unit_loss(("quantile", candidates, q, d_in, measure), lambda: build(1.0).map(d_in))
    meas, scale, loss = calibrate(build, d_in, target, measure, unit)
    return Quantile(meas, candidates, scale, built[scale], num, den, d_in, loss, q)


@lru_cache(maxsize=256)
def _score_space(candidates: tuple[float, ...], q: float) -> tuple[Any, Any, Any]:
    """The score transformation with its output domain and metric (each read is an FFI call)."""
    score = quantile_score(candidates, q)
    return score, score.output_domain, score.output_metric


_UNIT_LOSSES: dict[tuple[Any, ...], float] = {}


def _unit_loss(key: tuple[Any, ...], map_at_scale_1: Callable[[], Any]) -> float:
    """A mechanism's map at scale 1, computed once per mechanism family (it only seeds
    ``calibrate``, which checks the map of the measurement it returns)."""
    if key not in _UNIT_LOSSES:
        if len(_UNIT_LOSSES) > 1024:
            _UNIT_LOSSES.clear()
        _UNIT_LOSSES[key] = float(map_at_scale_1())
    return _UNIT_LOSSES[key]


# --- unknown keys: noisy counts above a threshold -------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    measurement: Any
    noise: Noise
    threshold: int
    delta: float
    sensitivity: tuple[int, ...]  # (l0, l1, l∞) of the counts, the map's input

    def release(self, counts: dict[str, int]) -> dict[str, int]:
        if _OBSERVER:
            metric = "l0-l1-linf" if self.noise.measure == "pure" else "l0-l2-linf"
            _observe(Observation("threshold", metric, self.sensitivity, dict(counts)))
        return {str(k): int(v) for k, v in self.measurement(counts).items()}


def threshold_counts(d_in: int, target: float, delta: float, measure: Measure) -> Threshold:
    """Counts of unknown keys, released only above a threshold chosen so its δ fits ``delta``."""
    d_mid = count_by_sensitivity(d_in, measure)
    domain = dp.map_domain(dp.atom_domain(T=dp.String), dp.atom_domain(T=dp.i64))
    if measure == "pure":
        metric = dp.l01inf_distance(dp.absolute_distance(T=dp.i64))
        make: Callable[..., Any] = dp.m.make_laplace_threshold
    else:
        metric = dp.l02inf_distance(dp.absolute_distance(T=dp.i64))
        make = dp.m.make_gaussian_threshold
    sens = d_mid[1]
    noise = integer_noise(sens, target, measure, vector=False)

    def at(threshold: int) -> Any:
        return make(domain, metric, scale=noise.scale, threshold=threshold)

    lo = hi = max(1, d_mid[-1])  # OpenDP needs a threshold of at least the l∞ sensitivity
    while float(at(hi).map(d_mid)[1]) > delta:
        lo, hi = hi, hi * 2
        if hi > 2**50:
            raise CalibrationError("no threshold satisfies delta")
    while lo < hi:
        mid = (lo + hi) // 2
        if float(at(mid).map(d_mid)[1]) <= delta:
            hi = mid
        else:
            lo = mid + 1
    meas = at(hi)
    eps, dlt = (float(v) for v in meas.map(d_mid))
    if eps > target or dlt > delta:
        raise CalibrationError("threshold measurement exceeds its target")
    return Threshold(meas, noise, hi, dlt, d_mid)
