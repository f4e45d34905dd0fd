"""The in-memory cache of a file source's bounded rows: fast repeats, never stale, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.engine.data import ROW_CACHE


def _write(path: Path, n: int) -> None:
    pd.DataFrame({"pid": range(n), "age": [40] * n}).to_csv(path, index=False)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    ROW_CACHE.clear()


def test_a_rewritten_file_is_read_afresh(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    _write(path, 100)
    df = jp.register(path, name="people", budget=jp.Budget(epsilon=1e6))
    first = df.count(epsilon=1e4)
    assert abs(first.value - 100) < 5
    assert len(ROW_CACHE._rows) == 1
    _write(path, 1000)
    os.utime(path, ns=(1, 1))  # a new stamp even on a coarse-grained file system
    second = df.count(epsilon=1e4)
    assert abs(second.value - 1000) < 5
    assert len(ROW_CACHE._rows) == 1  # the old version was dropped


def test_the_cache_keeps_rows_after_contribution_bounding(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    pd.DataFrame({"pid": [1] * 50 + [2] * 50, "age": [30] * 100}).to_csv(path, index=False)
    df = jp.register(
        path, name="visits", privacy_unit="pid", max_rows_per_unit=3, budget=jp.Budget(epsilon=1e6)
    )
    for eps in (1e4, 5e3):  # the second run reads the cached rows
        assert abs(df.count(epsilon=eps).value - 6) < 2


def test_a_zero_limit_turns_the_cache_off(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PRIVACY_CACHE_MB", "0")
    path = tmp_path / "people.csv"
    _write(path, 200)
    df = jp.register(path, name="people", budget=jp.Budget(epsilon=1e6))
    assert abs(df.count(epsilon=1e4).value - 200) < 5
    assert not ROW_CACHE._rows


def test_least_recently_used_files_leave_when_the_limit_is_passed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PRIVACY_CACHE_MB", "0.06")  # about 63 kB: room for one file
    frames = []
    for i in range(2):
        path = tmp_path / f"t{i}.csv"
        _write(path, 2000)  # 32 kB in memory, 15 kB on disk
        frames.append(
            jp.register(
                path,
                name=f"t{i}",
                budget=jp.Budget(epsilon=1e6),
                dtypes={"pid": "int", "age": "int"},
            )
        )
    frames[0].count(epsilon=1.0)
    frames[1].count(epsilon=1.0)
    assert [key[1].name for key in ROW_CACHE._rows] == ["t1.csv"]
