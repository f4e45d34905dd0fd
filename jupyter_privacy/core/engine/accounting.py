"""ρ ↔ ε conversions, always through OpenDP's own zCDP → (ε, δ) privacy profile."""

from __future__ import annotations

import math
from functools import lru_cache

from jupyter_privacy.core.engine import opendp_api as dp


@lru_cache(maxsize=4096)
def epsilon_of_rho(rho: float, delta: float) -> float:
    """The ε at which ρ-zCDP is (ε, δ)-DP, by OpenDP's privacy profile."""
    if rho <= 0:
        return 0.0
    # A Gaussian with scale 1 at sensitivity √(2ρ) has loss ρ; its profile gives ε(δ).
    gauss = dp.m.make_gaussian(
        dp.atom_domain(T=dp.f64, nan=False), dp.absolute_distance(T=dp.f64), 1.0
    )
    d_in = math.sqrt(2 * rho)
    while gauss.map(d_in) < rho:  # never report less than ρ because of rounding
        d_in = math.nextafter(d_in, math.inf)
    profile = dp.c.make_zCDP_to_approxDP(gauss).map(d_in)
    return float(profile.epsilon(delta))


@lru_cache(maxsize=4096)
def rho_of_epsilon(epsilon: float, delta: float) -> float:
    """The largest ρ whose OpenDP profile is still (ε, δ)-DP: the ρ of "this query alone is ε".

    Each evaluation of the profile is a numerical search inside OpenDP (milliseconds), so the
    root is bracketed by the classic bound ε = ρ + 2√(ρ ln(1/δ)) (which OpenDP's tighter
    conversion never exceeds, so it is feasible) and refined by the Illinois variant of regula
    falsi, keeping ε(lo) ≤ ε < ε(hi) throughout: about ten evaluations instead of fifty.
    """

    def excess(rho: float) -> float:
        return epsilon_of_rho(rho, delta) - epsilon

    log_term = math.log(1 / delta)
    lo = (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2
    f_lo = excess(lo)
    while f_lo > 0:  # float rounding at the classic bound
        lo /= 2
        f_lo = excess(lo)
    hi = lo * 2
    f_hi = excess(hi)
    while f_hi <= 0:
        lo, f_lo, hi = hi, f_hi, hi * 2
        f_hi = excess(hi)
    side = 0
    for _ in range(100):
        if hi - lo <= lo * 1e-12:
            break
        mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < mid < hi:
            mid = (lo + hi) / 2
        f_mid = excess(mid)
        if f_mid <= 0:
            lo, f_lo = mid, f_mid
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo /= 2
            side = 1
    return lo
