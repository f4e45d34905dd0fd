"""The accuracy line on a release table: judged from released numbers, and its advice works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.release import Cell, ReleaseTable
from jupyter_privacy.core.usefulness import accuracy_note, shortfalls, with_option
from jupyter_privacy.jupyter.render import accuracy_text


def c(stat: str, value: float, half: float | None = None, rank: float | None = None) -> Cell:
    low, high = (value - half, value + half) if half is not None else (None, None)
    return Cell(("x",), stat, value, low, high, rank, "test")


def describe_cells(rank: float, mean_half: float) -> list[Cell]:
    cells = [c("count", 1000, 10), c("mean", 50, mean_half), c("std", 10, 1)]
    return cells + [
        c(q, v, rank=rank)
        for q, v in zip(("min", "25%", "50%", "75%", "max"), (0, 40, 50, 60, 99), strict=True)
    ]


def test_describe_meets_the_target_when_ranks_and_intervals_are_tight() -> None:
    assert shortfalls(describe_cells(rank=49, mean_half=0.9), "describe") == []
    assert accuracy_note(describe_cells(49, 0.9), 1.0, "d.describe()").startswith("meets")


def test_describe_names_what_misses_and_asks_for_the_accuracy_that_meets_it() -> None:
    note = accuracy_note(describe_cells(rank=120, mean_half=0.5), 0.1, "d.x.describe()")
    assert "quartiles of x ± 120 rows, 12.0% of 1,000" in note
    # 5% of the count's lower end, 990 rows
    assert note.endswith("To meet it: d.x.describe(accuracy=49)")
    # quartiles 40..60 over 500 rows: 0.04 per row, so 120 rows ≈ ± 4.8
    assert "≈ ± 4.8 in value" in note


def test_a_miss_without_accuracy_option_suggests_about_how_much_epsilon() -> None:
    note = accuracy_note(describe_cells(rank=10, mean_half=3.0), 0.1, "d.x.describe(epsilon=0.1)")
    assert "mean of x ± 3, 30% of its std" in note
    assert note.endswith("about d.x.describe(epsilon=0.3)")


def test_counts_are_judged_against_the_typical_count() -> None:
    cells = [
        Cell((k,), "count", v, v - 30, v + 30, None, "t")
        for k, v in (("a", 200), ("b", 300), ("c", 400))
    ]
    note = accuracy_note(cells, 0.1, "d.s.value_counts()")
    assert "counts ± 30 rows, 10% of 300" not in note  # exactly 10%: meets
    assert note.startswith("meets")
    cells = [Cell((k,), "count", v, v - 45, v + 45, None, "t") for k, v in (("a", 200), ("b", 300))]
    assert accuracy_note(cells, 0.1, "d.s.value_counts()").endswith("d.s.value_counts(accuracy=25)")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("d.x.describe()", "d.x.describe(accuracy=5)"),
        ("d.x.describe(epsilon=0.1)", "d.x.describe(accuracy=5)"),
        (
            "d.groupby('s').x.mean(epsilon=0.1, alpha=0.1)",
            "d.groupby('s').x.mean(alpha=0.1, accuracy=5)",
        ),
    ],
)
def test_the_suggested_call_replaces_epsilon_and_keeps_the_rest(call: str, expected: str) -> None:
    assert with_option(call, "accuracy=5") == expected


def test_following_the_cards_advice_meets_the_target(home: Path) -> None:
    """End to end: a describe below the target, then the call its card suggests, meets it."""
    rng = np.random.default_rng(3)
    d = jp.register(
        pd.DataFrame({"x": rng.uniform(0, 100, 3000)}),
        name="d",
        bounds={"x": (0, 100)},
        budget=jp.Budget(epsilon=50),
    )
    first = d.x.describe(epsilon=0.1)
    assert isinstance(first, ReleaseTable)
    note = accuracy_text(first)
    assert note.startswith("below the accuracy target"), note
    accuracy = int(note.split("accuracy=", 1)[1].split(")")[0])
    second = d.x.describe(accuracy=accuracy)
    assert isinstance(second, ReleaseTable)
    assert not [s for s in shortfalls(second.cells, "describe") if s.what.startswith("quartiles")]


def test_nothing_to_judge_is_said_not_passed_off_as_meeting_the_target() -> None:
    empty = describe_cells(rank=9000, mean_half=1.0)
    empty[0] = c("count", 0, 10)  # an empty column: 9,000 rows of rank error judge nothing
    quantiles_only = [c("25%", 1.0, rank=3000), c("75%", 2.0, rank=3000)]
    zero_counts = [Cell((k,), "count", 0, -3000, 3000, None, "t") for k in "ab"]
    for cells in (empty, quantiles_only, zero_counts):
        assert shortfalls(cells) is None
        assert accuracy_note(cells, 0.001, "d.x.f()").startswith("accuracy not judged")


def test_no_accuracy_below_what_any_epsilon_can_buy_is_suggested() -> None:
    small = [c("count", 20, 2), c("mean", 5, 0.1), c("std", 3, 0.1), c("50%", 5.0, rank=4)]
    note = accuracy_note(small, 1.0, "d.x.describe()")
    assert "accuracy=" not in note and "about d.x.describe(epsilon=" in note
