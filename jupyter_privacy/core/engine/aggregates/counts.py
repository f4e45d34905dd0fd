"""Counts: rows or non-null values (``count``, ``size``), per declared key with one vector of
noise, per unknown key above a threshold, and per value of a column (``value_counts``)."""

from __future__ import annotations

import polars as pl

from jupyter_privacy.core.aggregates import NON_NEGATIVE
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates.base import (
    SAFETY,
    Context,
    Key,
    Prepared,
    Statistic,
    aligned,
    cell,
    collect_row,
    column,
    count_noise,
    count_sensitivity,
    grouped_frame,
    interval,
    key_product,
)
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.release import Cell

LABEL = "count"  # every count cell is labelled so, whichever statistic released it


class Count(Statistic):
    """Rows (no column) or a column's non-null values; per group with one vector of noise."""

    name = "count"

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        noise = count_noise(ctx, loss.scaled(SAFETY), vector=False)
        stat, counted = ctx.query.statistic, ctx.query.column

        def run() -> list[Cell]:
            n = collect_row(ctx, [pl.len().alias("n")], counted)["n"]
            v = noise.release(int(n))
            a = noise.accuracy(ctx.alpha)
            return [cell((), stat, v, interval(v, a), None, noise.name, NON_NEGATIVE)]

        total = noise.loss_at(mech.count_sensitivity(ctx.d_in))
        return Prepared(loss.like(total), 0.0, noise.name, noise.accuracy(ctx.alpha), run)

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        return grouped_counts(ctx, keys, loss, ctx.query.column)

    def unknown_keys(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        if ctx.query.column is None:
            return threshold_counts(ctx, loss, delta)
        return super().unknown_keys(ctx, loss, delta)


class Size(Count):
    """Rows of each group (``df.groupby('k').size()``); ungrouped, the number of rows."""

    name = "size"


class ValueCounts(Statistic):
    """Rows per value of a column: declared keys with one vector of noise, or unknown keys
    released above a threshold (which needs δ)."""

    name = "value_counts"

    def calibrate(self, ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
        name, _ = column(ctx)
        by_value = ctx.sub("size", None, (name,))
        keys = key_product(ctx.spec, (name,), ctx.schema)
        if keys is None:
            return threshold_counts(by_value, loss, delta)
        return grouped_counts(by_value, keys, loss)


def grouped_counts(
    ctx: Context, keys: list[Key], loss: PrivacyLoss, counted: str | None = None
) -> Prepared:
    """Rows (or ``counted``'s non-null values) per declared key: one row is in one key, so one
    vector of noise covers every key at the loss of one (parallel composition)."""
    noise = count_noise(ctx, loss.scaled(SAFETY), vector=True)
    total = noise.loss_at(count_sensitivity(ctx, loss, vector=True))

    def run() -> list[Cell]:
        frame = grouped_frame(ctx, [pl.len().alias("__n__")], value_column=counted)
        noisy = noise.release(aligned(frame, ctx.query.by, keys, "__n__"), keys) if keys else []
        a = noise.accuracy(ctx.alpha)
        return [
            cell(k, LABEL, v, interval(v, a), None, noise.name, NON_NEGATIVE)
            for k, v in zip(keys, noisy, strict=True)
        ]

    return Prepared(loss.like(total), 0.0, noise.name, noise.accuracy(ctx.alpha), run)


def _key_code(value: object) -> str:
    return repr(value) if not isinstance(value, tuple) else repr(tuple(value))


def threshold_counts(ctx: Context, loss: PrivacyLoss, delta: float) -> Prepared:
    """Rows per unknown key, released only above a threshold chosen so its δ fits ``delta``."""
    th = mech.threshold_counts(ctx.d_in, loss.value * SAFETY, delta, loss.measure)
    eps, dlt = (
        float(v) for v in th.measurement.map(mech.count_by_sensitivity(ctx.d_in, loss.measure))
    )

    def run() -> list[Cell]:
        frame = grouped_frame(ctx, [pl.len().alias("__n__")])
        encoded: dict[str, Key] = {}
        counts: dict[str, int] = {}
        for row in frame.iter_rows():
            key = tuple(row[:-1])
            code = _key_code(key)
            encoded[code] = key
            counts[code] = int(row[-1])
        released = th.release(counts)
        a = th.noise.accuracy(ctx.alpha)
        cells = [
            cell(
                encoded[c],
                LABEL,
                v,
                interval(v, a),
                None,
                "thresholded " + th.noise.name,
                NON_NEGATIVE,
            )
            for c, v in released.items()
        ]
        return sorted(cells, key=lambda c: -c.value)

    mechanism = "thresholded " + th.noise.name
    return Prepared(loss.like(eps), dlt, mechanism, th.noise.accuracy(ctx.alpha), run)
