"""The engine's fast paths are the same functions as OpenDP's, and every scale is verified."""

from __future__ import annotations

import numpy as np
import opendp.prelude as dp
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.accounting import epsilon_of_rho, rho_of_epsilon
from jupyter_privacy.core.engine.aggregates.fixed_point import Numeric as _Numeric
from jupyter_privacy.core.engine.aggregates.fixed_point import fixed_point_bits

dp.enable_features("contrib")


@given(
    arrays(np.float64, st.integers(0, 300), elements=st.floats(-1e6, 1e6)),
    st.floats(-1000, 0),
    st.floats(0, 1000),
)
def test_the_polars_fixed_point_sum_equals_opendps_integer_sum(
    values: np.ndarray, lo: float, hi: float
) -> None:
    p = fixed_point_bits(lo, hi)
    lo_i, hi_i = round(lo * 2.0**p), round(hi * 2.0**p)
    num = _Numeric(None, "x", (lo, hi))  # type: ignore[arg-type]  # no noise needed here
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    ints = frame.select(num.fixed()).to_series()
    ours = int(frame.select(num.int_sum()).item() or 0)
    domain = dp.vector_domain(dp.atom_domain(bounds=(lo_i, hi_i), T=dp.i64))
    theirs = dp.t.make_sum(domain, dp.symmetric_distance())(
        ints.to_numpy().astype(np.int64).tolist()
    )
    assert ours == theirs
    assert max(abs(lo_i), abs(hi_i)) <= 2**30


@given(arrays(np.int64, st.integers(0, 500), elements=st.integers(-5, 5)))
def test_the_row_count_equals_opendps_count(values: np.ndarray) -> None:
    count = dp.t.make_count(
        dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.symmetric_distance(), TO=dp.i64
    )
    assert pl.DataFrame({"x": values}).select(pl.len()).item() == count(values.tolist())


@pytest.mark.parametrize("measure", ["pure", "zcdp"])
@pytest.mark.parametrize("sensitivity, target", [(1, 0.1), (3, 1.0), (90, 0.5), (2**30, 1e-3)])
def test_calibrated_noise_fits_its_target_and_is_nearly_minimal(
    measure: mech.Measure, sensitivity: int, target: float
) -> None:
    noise = mech.integer_noise(sensitivity, target, measure, vector=False)
    loss = float(noise.measurement.map(sensitivity))
    assert loss <= target
    assert loss >= target * (1 - 1e-6)
    assert noise.loss_at(sensitivity) == loss  # the loss calibration kept is the map's own
    assert noise.loss_at(sensitivity + 1) == float(noise.measurement.map(sensitivity + 1))


def test_quantile_calibration_fits_at_the_extremes() -> None:
    cands = tuple(float(v) for v in range(100))
    for q in (0.0, 0.3, 1.0):
        m = mech.quantile(cands, q, 2, 0.25, "pure")
        assert 0.25 * (1 - 1e-6) <= float(m.measurement.map(2)) <= 0.25


def test_thresholds_fit_their_delta() -> None:
    for measure in ("pure", "zcdp"):
        th = mech.threshold_counts(1, 0.5 if measure == "pure" else 0.02, 1e-7, measure)  # type: ignore[arg-type]
        _eps, delta = (float(v) for v in th.measurement.map(mech.count_by_sensitivity(1, measure)))  # type: ignore[arg-type]
        assert delta <= 1e-7 and th.threshold > 1


def test_rho_and_epsilon_convert_through_opendps_profile() -> None:
    rho = rho_of_epsilon(1.0, 1e-6)
    assert rho == pytest.approx(0.02436, rel=1e-3)
    assert epsilon_of_rho(rho, 1e-6) <= 1.0
    assert epsilon_of_rho(rho * 1.001, 1e-6) > 1.0
    assert epsilon_of_rho(0.5, 1e-6) == pytest.approx(5.2215, rel=1e-3)


@pytest.mark.parametrize("epsilon", [1e-3, 0.1, 1.0, 3.0, 50.0])
@pytest.mark.parametrize("delta", [1e-10, 5e-7, 0.01])
def test_rho_of_epsilon_is_the_largest_rho_within_epsilon(epsilon: float, delta: float) -> None:
    rho = rho_of_epsilon(epsilon, delta)
    assert epsilon_of_rho(rho, delta) <= epsilon
    assert epsilon_of_rho(rho * (1 + 1e-9), delta) > epsilon


def test_large_gaussian_intervals_are_conservative_and_fast() -> None:
    small = mech.noise_for_scale(5000.0, "zcdp", vector=False)
    exact = float(dp.discrete_gaussian_scale_to_accuracy(5000.0, 0.05))
    assert small.accuracy(0.05) == exact
    big = mech.noise_for_scale(2e4, "zcdp", vector=False)
    assert big.accuracy(0.05) >= float(dp.gaussian_scale_to_accuracy(2e4, 0.05))


@given(
    arrays(
        np.float64,
        st.integers(0, 400),
        elements=st.sampled_from([-3.0, 0.0, 0.5, 1.0, 2.0, 7.0, 9.5, 10.0, 12.0])
        | st.floats(-5, 15),
    ),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.123456, 0.9, 1.0]),
)
def test_quantile_scores_from_sorted_values_equal_opendps_score_transformation(
    values: np.ndarray, q: float
) -> None:
    cands = tuple(float(v) for v in np.linspace(0, 10, 21))
    m = mech.quantile(cands, q, 1, 1.0, "pure")
    theirs = mech.quantile_score(cands, q)(values.tolist())
    assert m.scores(np.sort(values)).tolist() == list(theirs)
    assert m.scores(mech.ranks(cands, np.sort(values))).tolist() == list(theirs)


@pytest.mark.parametrize("measure", ["pure", "zcdp"])
@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.77, 1.0])
def test_quantile_selection_composes_to_opendps_private_quantile(
    measure: mech.Measure, q: float
) -> None:
    cands = tuple(float(v) for v in range(0, 91))
    m = mech.quantile(cands, q, 2, 0.4, measure)
    opendps = dp.m.make_private_quantile(
        dp.vector_domain(dp.atom_domain(T=dp.f64, nan=False)),
        dp.symmetric_distance(),
        dp.max_divergence() if measure == "pure" else dp.zero_concentrated_divergence(),
        candidates=list(cands),
        alpha=q,
        scale=m.scale,
    )
    chain = mech.quantile_score(cands, q) >> m.select
    for d_in in (1, 2, 3, 10):
        assert chain.map(d_in) == opendps.map(d_in) == m.measurement.map(d_in)
    assert opendps.map(2) <= 0.4
    assert m.loss == m.measurement.map(2) == opendps.map(2)  # the charged loss
    # With a large budget the selection lands on the true quantile's candidate.
    sure = mech.quantile(cands, q, 1, 1e4, measure)
    data = np.sort(np.arange(0.0, 91.0))
    assert abs(sure.release(data) - np.quantile(data, q)) <= 1.0


def test_quantile_scores_take_the_exact_path_for_huge_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cands = tuple(float(v) for v in np.linspace(0, 10, 21))
    values = np.sort(np.random.default_rng(3).uniform(-1, 11, 500).round(1))
    m = mech.quantile(cands, 0.123456, 1, 1.0, "pure")
    fast = m.scores(values).tolist()
    monkeypatch.setattr(mech, "FAST_SCORES_BELOW", 0)
    assert m.scores(values).tolist() == fast == list(mech.quantile_score(cands, 0.123456)(values))


@pytest.mark.parametrize("measure", ["pure", "zcdp"])
def test_selections_run_together_come_back_in_the_order_given(measure: mech.Measure) -> None:
    """Independent selections share a thread pool; each result must belong to its own job."""
    cands = tuple(float(v) for v in range(0, 101))
    data = np.arange(0.0, 101.0)
    levels = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0] * 3
    jobs = [(mech.quantile(cands, q, 1, 1e4, measure), mech.ranks(cands, data)) for q in levels]
    got = mech.release_quantiles(jobs)
    assert [abs(v - np.quantile(data, q)) <= 1.0 for v, q in zip(got, levels, strict=True)] == [
        True
    ] * len(levels)


@given(
    st.integers(-50, 500),
    st.integers(-50, 500),
    st.floats(0, 60),
    st.integers(0, 400),
    st.integers(0, 400),
)
def test_a_shares_interval_holds_every_share_its_counts_intervals_allow(
    t: int, f: int, a: float, true_t: int, true_f: int
) -> None:
    """The share grows with True and shrinks with False, so the interval's ends are the shares
    at the ends of the counts' intervals: whenever both true counts lie within ``a`` of the
    noisy ones, the true share lies in the interval, and all of it lies in [0, 1]."""
    from jupyter_privacy.core.engine.aggregates.proportion import share_from

    est, (low, high) = share_from(t, f, a)
    assert 0 <= low <= est <= high <= 1
    if abs(true_t - t) <= a and abs(true_f - f) <= a and true_t + true_f > 0:
        assert low <= true_t / (true_t + true_f) <= high
