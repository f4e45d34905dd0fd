"""The registry of aggregates is the one place that names statistics; everything else derives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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

PACKAGE = Path(__file__).resolve().parents[2] / "jupyter_privacy"
REGISTRY = PACKAGE / "core" / "aggregates.py"


def _literal_lists(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Tuples, lists, sets and dict keys or values written out in the code that hold two or more
    registered statistic names. ``Literal[...]`` types are left out: a checker needs them spelt
    out (they narrow the frame methods' return types), and they drive nothing at run time."""
    typed = {
        id(node.slice)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and (getattr(node.value, "id", None) or getattr(node.value, "attr", None)) == "Literal"
    }
    found = []
    for node in ast.walk(tree):
        groups: list[list[ast.expr | None]] = []
        if id(node) in typed:
            continue
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            groups.append(list(node.elts))
        elif isinstance(node, ast.Dict):
            groups += [list(node.keys), list(node.values)]
        for elts in groups:
            names = [
                e.value
                for e in elts
                if isinstance(e, ast.Constant)
                and isinstance(e.value, str)
                and e.value in AGGREGATES
            ]
            if len(set(names)) >= 2:
                found.append((node.lineno, names))
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p != REGISTRY],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_module_but_the_registry_spells_out_a_list_of_statistics(path: Path) -> None:
    found = _literal_lists(ast.parse(path.read_text()))
    assert not found, f"{path.relative_to(PACKAGE)} lists statistics itself: {found}"


def test_the_grep_sees_a_list_of_statistics() -> None:
    """The check itself can fail."""
    tree = ast.parse(
        'STATS = ("count", "sum")\nok = ("count", "bar")\nd = {"mean": 1, "std": 2}\n'
        'T = Literal["count", "sum"]'
    )
    assert [line for line, _ in _literal_lists(tree)] == [1, 3]


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


def test_every_registered_aggregate_has_an_engine_class_and_a_frame_method() -> None:
    """Adding a statistic is one registry entry and one engine class; its frame methods exist."""
    from jupyter_privacy.core.engine.aggregates import CLASSES, ENGINES
    from jupyter_privacy.frame import (
        GroupedSeries,
        SensitiveFrame,
        SensitiveGroupBy,
        SensitiveSeries,
    )

    owners = {
        "DataFrame": SensitiveFrame,
        "Series": SensitiveSeries,
        "GroupBy": SensitiveGroupBy,
        "GroupedSeries": GroupedSeries,
    }
    assert set(ENGINES) == set(AGGREGATES)
    assert len({cls.name for cls in CLASSES}) == len(CLASSES)  # one class per statistic
    for name, aggregate in AGGREGATES.items():
        assert ENGINES[name].aggregate is aggregate
        for method in aggregate.methods:
            owner, attr = method.split(".")
            assert callable(owners[owner].__dict__.get(attr)), f"{name}: no {method}"
