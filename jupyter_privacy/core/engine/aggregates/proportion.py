"""``proportion``: the share of rows where a condition holds, among rows where it is not null
(``(df.age > 65).mean()``), in [0, 1].

Released from one vector of two noisy counts per key: rows where the condition is True and rows
where it is False. A row is in exactly one of them, so the vector costs what one count costs
(parallel composition) and each count gets the whole loss; the share is True / (True + False).
``benchmarks/bench_proportion.py`` compares it at equal ε with the bounded mean of the condition
as 0/1 (a count and a centred sum at 0.3 / 0.7 of the loss, what a condition's mean was before)
and with a count of True over a count of rows (ε / 2 each):

- under pure ε one row moves the vector by 1 in L1, where it moves the mean's two parts by 1.5
  in all: the vector is as accurate at a share of ½ and more accurate elsewhere (about 2 × lower
  error at shares of 0.02, 0.1 and 0.9);
- under zCDP the vector is, up to a rotation, the centred mean with the loss split evenly: the
  smallest worst case over shares. The 0.3 / 0.7 mean is up to 1.1–1.2 × more accurate near ½
  and as accurate or less near 0 and 1.

The interval follows from the counts' intervals at level 1 − α/2 each (a union bound): the share
grows with the True count and shrinks with the False one, so its ends are the shares at the ends
of the counts' intervals, and its width does not depend on the share. It does depend on the
number of rows, which is private, so ``accuracy=`` cannot choose a loss for a share.
"""

from __future__ import annotations

import polars as pl

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
)
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.release import Cell


def share_from(t: int, f: int, a: float) -> tuple[float, tuple[float, float]]:
    """The share of True among the noisy counts ``t`` (True) and ``f`` (False), and its interval
    when each true count lies within ``a`` of its noisy one (true counts are never negative)."""
    t_hat, f_hat = max(t, 0), max(f, 0)
    est = t_hat / (t_hat + f_hat) if t_hat + f_hat > 0 else 0.5
    t_lo, t_hi = max(t - a, 0.0), max(t + a, 0.0)
    f_lo, f_hi = max(f - a, 0.0), max(f + a, 0.0)
    low = t_lo / (t_lo + f_hi) if t_lo > 0 else 0.0
    high = t_hi / (t_hi + f_lo) if f_lo > 0 else 1.0
    return est, (low, high)


class Proportion(Statistic):
    name = "proportion"

    def ungrouped(self, ctx: Context, loss: PrivacyLoss) -> Prepared:
        return self._shares(ctx, [()], loss)

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        return self._shares(ctx, keys, loss)

    def _shares(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        name, _ = column(ctx)
        noise = count_noise(ctx, loss.scaled(SAFETY), vector=True)
        spent = loss.like(noise.loss_at(count_sensitivity(ctx, loss, vector=True)))
        label, feasible = ctx.query.statistic, self.aggregate.feasible
        true = pl.col(name).cast(pl.Int64).sum().alias("__t__")  # validated: a bool column
        rows = pl.len().alias("__n__")

        def counts() -> list[int]:
            """True and False per key, interleaved: (t₁, f₁, t₂, f₂, …)."""
            if not ctx.query.by:
                row = collect_row(ctx, [true, rows], name)
                ts, ns = [int(row["__t__"] or 0)], [int(row["__n__"])]
            else:
                frame = grouped_frame(ctx, [true, rows], value_column=name)
                ts = aligned(frame, ctx.query.by, keys, "__t__")
                ns = aligned(frame, ctx.query.by, keys, "__n__")
            return [v for t, n in zip(ts, ns, strict=True) for v in (t, n - t)]

        def run() -> list[Cell]:
            exact = counts()
            if not keys:  # unknown keys, none released: nothing to add noise to
                return []
            coordinates = [(*k, flag) for k in keys for flag in (True, False)]
            noisy = noise.release(exact, coordinates)
            a = noise.accuracy(ctx.alpha / 2)
            cells = []
            for i, k in enumerate(keys):
                est, ci = share_from(noisy[2 * i], noisy[2 * i + 1], a)
                cells.append(cell(k, label, est, ci, None, noise.name, feasible))
            return cells

        return Prepared(spent, 0.0, noise.name, None, run)


__all__ = ["Proportion", "share_from"]
