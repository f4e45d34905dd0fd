"""``groupby(...).agg({column: statistic(s)})``: several grouped statistics, one budget split
evenly over them; each part is its own statistic's engine, its cells labelled ``column stat``."""

from __future__ import annotations

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.engine.aggregates.base import (
    Context,
    Key,
    Prepared,
    Statistic,
    unsupported,
)
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.loss import PrivacyLoss, total
from jupyter_privacy.core.release import Cell


class Agg(Statistic):
    name = "agg"

    def grouped(self, ctx: Context, keys: list[Key], loss: PrivacyLoss) -> Prepared:
        from jupyter_privacy.core.engine.aggregates import engine_for

        spec_items = ctx.query.param("spec", ())
        pairs = [
            (col, stat)
            for col, stats in spec_items
            for stat in (stats if isinstance(stats, tuple) else (stats,))
        ]
        if not pairs:
            raise InvalidArgumentError(
                "aggregate",
                ctx.spec.name,
                "agg needs at least one statistic",
                fixes=[f"{ctx.spec.name}.groupby('KEY').agg({{'COLUMN': 'mean'}})"],
            )
        share = loss.split(len(pairs))
        jobs = []
        for col, stat in pairs:
            part = ctx.sub(stat, col, ctx.query.by)
            if stat not in AGGREGATES or not AGGREGATES[stat].in_agg:
                raise unsupported(part)
            jobs.append((f"{col} {stat}", engine_for(stat).grouped(part, keys, share)))

        def run() -> list[Cell]:
            cells = []
            for label, job in jobs:
                for c in job.run():
                    cells.append(
                        Cell(c.key, label, c.value, c.ci_low, c.ci_high, c.rank_error, c.mechanism)
                    )
            return cells

        spent = total([job.loss for _, job in jobs], loss.measure)
        return Prepared(spent, 0.0, "composition", None, run)


__all__ = ["Agg"]
