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
    """The largest ρ whose OpenDP profile is still (ε, δ)-DP: the ρ of "this query alone is ε"."""
    lo, hi = 0.0, epsilon
    while epsilon_of_rho(hi, delta) <= epsilon:
        lo, hi = hi, hi * 2
    for _ in range(80):
        mid = (lo + hi) / 2
        if epsilon_of_rho(mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
        if hi - lo <= lo * 1e-12:
            break
    return lo
