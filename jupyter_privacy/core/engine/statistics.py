"""Statistics as compositions of verified OpenDP measurements.

``prepare`` turns a plan and a target loss into a ``Prepared`` job without reading data: every
refusal and every calibration happens there. ``Prepared.run`` reads the data once with polars,
hands exact pre-noise aggregates to OpenDP measurements and returns released cells.

Each statistic is one class in ``core/engine/aggregates`` (registered by the name the registry
``core/aggregates.py`` gives it). Pre-noise aggregates are computed by polars on integers
(fixed-point, clamped to public bounds, no overflow below 2^32 rows: ``fixed_point.py``), the same
function as OpenDP's integer sum; tests compare the two on random data. Sensitivities come from
OpenDP stability maps, noise from OpenDP measurements whose maps were checked. Grouped statistics
use one measurement per key at the same scale: one person's rows touch at most ``d_in`` keys in
total, so by parallel composition the loss is the map of one key's measurement at ``d_in`` (linear
in ε, and Σdᵢ² ≤ (Σdᵢ)² for ρ).
"""

from __future__ import annotations

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.engine.aggregates import Context, Prepared, engine_for
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.source import SourceSpec
from jupyter_privacy.core.validate import validate


def prepare(
    spec: SourceSpec,
    query: Query,
    loss: PrivacyLoss,
    alpha: float,
    delta: float = 0.0,
    prefetch: bool = False,
) -> Prepared:
    """Validate ``query`` on public information and calibrate its measurements to ``loss``.

    ``prefetch``: the caller will release if the loss fits, so a long data pass may start now in
    the background (its pre-noise result is only ever read by ``Prepared.run``)."""
    schema = validate(spec, query).schema
    ctx = Context(spec, query, schema, alpha, spec.d_in, prefetch)
    return engine_for(query.statistic).calibrate(ctx, loss, delta)


def is_scalar(query: Query) -> bool:
    """Whether ``query`` releases one value (a ``Release``) rather than a table."""
    return AGGREGATES[query.statistic].is_scalar(query.column, query.by, dict(query.params))


__all__ = ["Prepared", "is_scalar", "prepare"]
