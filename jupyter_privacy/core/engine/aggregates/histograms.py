"""Histograms: rows per equal-width bin over the column's public bounds.

The bins, their edges and labels come from the registration, never from the data, so every bin
is released (noise for empty ones). A row is in exactly one bin, so one vector of noise covers all
bins at the loss of one count (parallel composition), as for counts per declared key.
"""

from __future__ import annotations

import polars as pl

from jupyter_privacy.core.aggregates import NON_NEGATIVE
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    aligned,
    cell,
    column,
    count_noise,
    count_sensitivity,
    interval,
)
from jupyter_privacy.core.engine.aggregates.counts import LABEL
from jupyter_privacy.core.engine.data import bin_of, label_of, prepared_frame
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.release import Cell
from jupyter_privacy.core.validate import bin_labels, hist_edges, require_bounds

BIN = "__bin__"  # the bin label's column in the polars frame of counts (not a plan column)


class Histogram(Statistic):
    name = "hist"

    def calibrate(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        name, info = column(ctx)
        bounds = require_bounds(ctx.spec, ctx.query, name, info)
        edges = hist_edges(bounds, ctx.query.param("bins", 10))  # validated: strictly increasing
        labels: tuple[Scalar, ...] = bin_labels(edges)
        keys: list[Key] = [(label,) for label in labels]
        noise = count_noise(ctx, loss.scaled(SAFETY), vector=True)
        spent = loss.like(noise.loss_at(count_sensitivity(ctx, loss, vector=True)))

        def run() -> list[Cell]:
            clipped = pl.col(name).cast(pl.Float64).clip(edges[0], edges[-1])
            bins = label_of(bin_of(clipped, edges, "left"), labels)  # type: ignore[arg-type]
            frame = (
                prepared_frame(ctx.spec, ctx.query.steps)
                .filter(pl.col(name).is_not_null())
                .with_columns(bins.alias(BIN))
                .filter(pl.col(BIN).is_not_null())  # a NaN is in no bin
                .group_by(BIN)
                .agg(pl.len().alias("__n__"))
                .collect()
            )
            noisy = noise.release(aligned(frame, (BIN,), keys, "__n__"), keys)
            a = noise.accuracy(ctx.alpha)
            return [
                cell(k, LABEL, v, interval(v, a), None, noise.name, NON_NEGATIVE)
                for k, v in zip(keys, noisy, strict=True)
            ]

        return Prepared(spent, 0.0, noise.name, noise.accuracy(ctx.alpha), run)


__all__ = ["Histogram"]
