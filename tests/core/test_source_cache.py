"""In-memory sources: snapshotted at registration, bounded once per data version, kept like files.

A registered frame is a snapshot, so an edit to the original reaches neither the releases nor the
release cache; registering again makes a new version, read afresh. Releases from a frame equal
releases from the same rows as a file (same pre-noise values, same keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.engine import data as engine_data
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.data import CACHE


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def people(n: int = 300, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "pid": rng.permutation(n) % (n // 2),  # two rows for most persons
            "age": rng.integers(18, 91, n),
            "state": rng.choice(["CA", "NY", "TX"], n),
        }
    )


KWARGS: dict[str, Any] = dict(
    privacy_unit="pid",
    max_rows_per_unit=1,
    budget=jp.Budget(epsilon=1e6),
    bounds={"age": (0, 100)},
    keys={"state": ["CA", "NY", "TX"]},
    dtypes={"pid": "int", "age": "int"},
)


def pre_noise(call: Callable[[], Any]) -> list[Any]:
    seen: list[mech.Observation] = []
    with mech.observe_pre_noise(seen.append):
        call()
    return [(o.mechanism, o.value, o.keys) for o in seen]


def queries(frame: jp.SensitiveFrame, eps: float) -> list[Callable[[], Any]]:
    return [
        lambda: frame.count(epsilon=eps),
        lambda: frame.age.mean(epsilon=eps),
        lambda: frame.age.median(epsilon=eps),
        lambda: frame.groupby("state").age.sum(epsilon=eps),
        lambda: frame.state.value_counts(epsilon=eps),
    ]


def count_bounding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = engine_data.bounded_frame

    def counting(spec: Any) -> pl.DataFrame:
        calls.append(spec.name)
        return real(spec)

    monkeypatch.setattr(engine_data, "bounded_frame", counting)
    return calls


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_a_frame_gives_the_same_pre_noise_values_and_keys_as_the_same_rows_from_a_file(
    home: Path, kind: str
) -> None:
    df = people()
    csv = home / "people.csv"
    df.to_csv(csv, index=False)
    from_file = jp.register(csv, name="from_file", **KWARGS)
    frame_data = df if kind == "pandas" else pl.from_pandas(df)
    from_frame = jp.register(frame_data, name="from_frame", **KWARGS)
    for i, (a, b) in enumerate(zip(queries(from_file, 1.0), queries(from_frame, 1.0), strict=True)):
        assert pre_noise(a) == pre_noise(b), f"query {i}"


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_bounding_runs_once_per_version_and_a_later_release_reuses_it(
    home: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_bounding(monkeypatch)
    df = people() if kind == "pandas" else pl.from_pandas(people())
    frame = jp.register(df, name="p", **KWARGS)
    for eps in (1.0, 2.0):
        for q in queries(frame, eps):
            q()
    assert calls == ["p"]  # in the background after registration, or at the first release


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_an_edit_to_the_original_frame_reaches_nothing_until_it_is_registered_again(
    home: Path, kind: str
) -> None:
    df = people()
    original: Any = df if kind == "pandas" else pl.from_pandas(df)
    frame = jp.register(original, name="p", **KWARGS)
    first = pre_noise(lambda: frame.age.sum(epsilon=1.0))
    release = frame.age.sum(epsilon=3.0)
    if kind == "pandas":
        original.loc[:, "age"] = 0  # in place
    else:
        original.replace_column(1, pl.Series("age", [0] * original.height))  # in place
    assert pre_noise(lambda: frame.age.sum(epsilon=1.5)) == first
    assert frame.age.sum(epsilon=3.0).replayed  # the same data version: replayed, correctly
    assert float(frame.age.sum(epsilon=3.0)) == float(release)

    again = jp.register(original, name="p", **KWARGS)  # a new version of the data
    changed = pre_noise(lambda: again.age.sum(epsilon=1.7))
    assert changed != first and changed[0][1] == 0
    assert not again.age.sum(epsilon=3.0).replayed
    assert len([k for k in CACHE._rows if k[1] == "p"]) == 1  # the older snapshot left


def test_a_lazy_frame_is_read_once_so_a_rewritten_file_reaches_nothing(home: Path) -> None:
    """A LazyFrame re-reads what it scans whenever it is collected: kept lazy, a rewritten file
    would be answered from new rows under the old data version, and a replay would return the
    old rows' release for them."""
    csv = home / "people.csv"
    people().to_csv(csv, index=False)
    frame = jp.register(pl.scan_csv(csv), name="p", **KWARGS)
    first = pre_noise(lambda: frame.count(epsilon=1.0))
    release = frame.count(epsilon=3.0)
    people(n=900, seed=5).to_csv(csv, index=False)  # the file changes under the lazy frame
    assert pre_noise(lambda: frame.count(epsilon=1.5)) == first
    assert frame.count(epsilon=3.0).replayed and float(frame.count(epsilon=3.0)) == float(release)
    again = jp.register(pl.scan_csv(csv), name="p", **KWARGS)
    assert pre_noise(lambda: again.count(epsilon=1.7)) != first
    assert not again.count(epsilon=3.0).replayed


def test_a_lazy_frame_that_cannot_be_read_is_refused_without_its_message(home: Path) -> None:
    bad = pl.LazyFrame({"ssn": ["123-45-6789"]}).select(pl.col("ssn").str.to_integer())
    with pytest.raises(jp.PolicyError, match="could not be collected") as info:
        jp.register(bad, name="p", budget=jp.Budget(epsilon=1.0))
    assert "123-45-6789" not in str(info.value)


def test_reassigning_a_variable_and_registering_it_reads_the_new_frame(home: Path) -> None:
    df = people()
    first = jp.register(df, name="p", **KWARGS)
    before = pre_noise(lambda: first.count(epsilon=1.0))
    df = people(seed=5).head(100)
    second = jp.register(df, name="p", **KWARGS)
    after = pre_noise(lambda: second.count(epsilon=1.0))
    assert before != after


def test_the_memory_cap_holds_for_frames(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PRIVACY_CACHE_MB", "0.01")  # 10 kB: nothing fits
    calls = count_bounding(monkeypatch)
    frame = jp.register(people(2_000), name="big", **KWARGS)
    frame.count(epsilon=1.0)
    frame.count(epsilon=2.0)
    assert not CACHE._rows and calls == []  # streamed each time, never kept
    monkeypatch.setenv("JUPYTER_PRIVACY_CACHE_MB", "0.02")  # 20 kB: a few of the small ones
    small = [jp.register(people(300, seed=s), name=f"s{s}", **KWARGS) for s in range(40)]
    for f in small:
        f.count(epsilon=1.0)
    total = sum(f.estimated_size() for f in CACHE._rows.values())
    assert 0 < total <= 0.02 * 2**20 and 0 < len(CACHE._rows) < 40


def test_registration_returns_before_the_background_work(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounded rows are computed after registration returns; a release waits for them."""
    import threading

    gate = threading.Event()
    real = engine_data.bounded_frame

    def slow(spec: Any) -> pl.DataFrame:
        gate.wait(10)
        return real(spec)

    monkeypatch.setattr(engine_data, "bounded_frame", slow)
    frame = jp.register(people(), name="p", **KWARGS)  # returns although bounding is blocked
    gate.set()
    assert frame.count(epsilon=1.0).value > 0


def test_first_rows_per_person_are_kept_by_hashing_not_by_a_window(home: Path) -> None:
    """Three rows for each person, keep two: the same rows as the definition (first in order)."""
    df = pd.DataFrame({"pid": [1, 2, 1, 3, 1, 2, 2, 3, 3], "x": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
    frame = jp.register(
        df, name="k", privacy_unit="pid", max_rows_per_unit=2, budget=jp.Budget(epsilon=1e6),
        bounds={"x": (0, 10)},
    )  # fmt: skip
    seen = pre_noise(lambda: frame.x.sum(epsilon=1.0))
    scale = 2**26  # the fixed-point scale of bounds (0, 10)
    kept = [1, 2, 3, 4, 6, 8]  # first two of person 1 (1, 3), of 2 (2, 6), of 3 (4, 8)
    assert seen[0][1] == sum(kept) * scale


def test_a_reused_object_id_never_returns_another_frames_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame's version is its id(), which CPython reuses once the frame is freed: the cached
    fingerprint must count only for the very object it was computed for."""
    first = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    second = pl.DataFrame({"x": [1.0, 2.0, 4.0]})
    monkeypatch.setattr(engine_data, "version_key", lambda data: ("object", "same id"))
    old = CACHE.fingerprint(first)
    assert CACHE.fingerprint(first) == old  # cached for the object it belongs to
    assert CACHE.fingerprint(second) != old  # same "id", other object: computed afresh
