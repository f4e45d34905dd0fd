"""Floors and ceilings on every public number a plan or a registration may carry.

Each limit keeps a search or a computation bounded whatever the client sends: ε and δ bound the
ρ ↔ ε conversion and the threshold search; α bounds interval widths; bounds keep fixed-point
values within 2³⁰ so that no sum over a polars frame (fewer than 2³² rows) can overflow int64;
the cell cap bounds how many keys a release may build before any data is read.
"""

from __future__ import annotations

#: ε of one query (pure ε, or "this query alone is (ε, δ)-DP" under zCDP).
EPSILON_MIN = 1e-6
EPSILON_MAX = 1e4
#: ε of a source's whole budget.
BUDGET_EPSILON_MAX = 1e9
#: δ of a budget, and of a query's thresholds.
DELTA_MIN = 1e-30
DELTA_MAX = 1e-2
#: Intervals are at level 1 − α.
ALPHA_MIN = 1e-12
ALPHA_MAX = 0.5
#: Largest magnitude of a bound, a clip, a cut edge (and of any derived column's bounds).
BOUND_MAX = 1e15
#: Largest integer literal: int64.
INT_MAX = 2**63 - 1
#: Longest string literal or key.
STRING_MAX = 1024
#: Most released cells (keys × statistics) in one release, and most values in ``isin``.
MAX_CELLS = 10_000
#: Most quantile levels in one ``quantile([...])``.
MAX_QUANTILES = 100
#: Most nodes in one expression, and most row-wise steps in one plan.
MAX_EXPR_NODES = 1_000
MAX_STEPS = 100
