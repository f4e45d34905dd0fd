"""The registry of aggregates is the one place that names statistics; everything else derives."""

from __future__ import annotations

from jupyter_privacy.core import plan, validate
from jupyter_privacy.core.aggregates import (
    AGG_STATISTICS,
    AGGREGATES,
    STATISTICS,
    fallbacks,
    methods_of,
)
from jupyter_privacy.curator import protocol
from jupyter_privacy.frame import refusals


def test_the_grammar_rules_agg_list_and_protocol_enum_come_from_the_registry() -> None:
    assert plan.STATISTICS == STATISTICS == tuple(n for n in AGGREGATES if n != "agg")
    assert validate.RULES is AGGREGATES
    assert set(AGG_STATISTICS) < set(STATISTICS)
    enum = protocol.request_schema()["$defs"]["plan"]["properties"]["statistic"]["enum"]
    assert enum == list(AGGREGATES)


def test_refusals_list_the_registered_methods() -> None:
    assert refusals.SERIES_SUPPORTED.startswith("count, sum, mean, median, quantile")
    assert "proportion" not in refusals.SERIES_SUPPORTED  # a method name, not a statistic name
    assert refusals.GROUPBY_SUPPORTED.startswith("size, count")
    assert fallbacks("Series") == ("describe", "value_counts", "count")
    assert set(methods_of("DataFrame")) == {"count", "sum", "mean", "value_counts", "describe"}


def test_every_entry_is_consistent() -> None:
    for name, a in AGGREGATES.items():
        assert a.name == name and a.summary and a.methods
        assert a.grouped or a.ungrouped
        assert not (a.numeric and a.condition)
        assert a.column != "none" or not (a.numeric or a.condition)
        assert not a.in_agg or (a.grouped and not a.params)
        if a.feasible is not None:
            assert a.feasible[0] <= a.feasible[1]
