"""Intervals from noisy moments stay intervals, whatever the noise drew.

Found by the neighbour fuzzer's long run: ``describe`` of an empty table failed after the charge
(``math domain error``) when noise made the variance interval's upper end negative.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from jupyter_privacy.core.engine.aggregates.fixed_point import Numeric as _Numeric
from jupyter_privacy.core.engine.aggregates.moments import mean_from as _mean_from
from jupyter_privacy.core.engine.aggregates.moments import var_from as _var_from

NOISY = st.integers(-(2**40), 2**40)
WIDTH = st.floats(0, 2**40, allow_nan=False)


def numeric(lo: float, hi: float) -> _Numeric:
    ctx = SimpleNamespace(d_in=1, measure="pure")
    return _Numeric(ctx, "x", (lo, hi))  # type: ignore[arg-type]


@given(n=st.integers(-5, 50), s=NOISY, q=NOISY, a_n=WIDTH, a_s=WIDTH, a_q=WIDTH)
def test_the_variance_interval_is_within_its_feasible_range_and_ordered(
    n: int, s: int, q: int, a_n: float, a_s: float, a_q: float
) -> None:
    num = numeric(0.0, 1e14)
    est, (low, high) = _var_from(num, n, s, q, a_n, a_s, a_q)
    r2 = num.sq_hi / num.scale2
    assert 0.0 <= low <= high <= r2
    assert 0.0 <= est <= r2
    math.sqrt(low), math.sqrt(high)  # what std releases: must not raise


@given(n=st.integers(-5, 50), s=NOISY, a_n=WIDTH, a_s=WIDTH)
def test_the_mean_interval_is_within_the_bounds_and_ordered(
    n: int, s: int, a_n: float, a_s: float
) -> None:
    num = numeric(-3.0, 10.0)
    est, (low, high) = _mean_from(num, n, s, a_n, a_s)
    assert -3.0 <= low <= high <= 10.0
    assert -3.0 <= est <= 10.0
