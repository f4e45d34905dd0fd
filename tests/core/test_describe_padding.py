"""describe's quantiles are medians of padded values: the padded scores must be exactly OpenDP's
median scores on the data with the public rows appended, and the padding must hit the level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jupyter_privacy.core import usefulness
from jupyter_privacy.core.engine import mechanisms as mech
from jupyter_privacy.core.engine.aggregates import describe
from jupyter_privacy.core.engine.aggregates.describe import (
    DESCRIBE_QUANTILES,
    EXTREMES,
    QUARTILES,
    split_shares,
)
from jupyter_privacy.core.engine.aggregates.fixed_point import (
    candidates_for,
    with_outer_candidates,
)
from jupyter_privacy.core.schema import ColumnInfo

CANDIDATES = tuple(float(v) for v in np.linspace(-5.0, 15.0, 41))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("q", DESCRIBE_QUANTILES)
def test_padded_scores_are_opendps_median_scores_on_the_padded_data(seed: int, q: float) -> None:
    rng = np.random.default_rng(seed)
    values = np.sort(np.round(rng.normal(5, 4, int(rng.integers(0, 60))), 1))
    released_count = len(values) + int(rng.integers(-3, 4))  # a noisy count, as run() has it
    below, above = mech.padding(released_count, q)
    padded_data = np.concatenate([np.full(below, -1e9), values, np.full(above, 1e9)])
    expected = np.asarray(mech.quantile_score(CANDIDATES, 0.5)(padded_data.tolist()))
    median = mech.quantile(CANDIDATES, 0.5, 1, 1.0, "pure")
    ours = median.scores(mech.padded(mech.ranks(CANDIDATES, values), (below, above)))
    assert ours.tolist() == expected.tolist()


@pytest.mark.parametrize("q", DESCRIBE_QUANTILES)
def test_the_padded_median_is_the_q_quantile_when_the_count_is_exact(q: float) -> None:
    values = np.arange(1000, dtype=np.float64)
    grid = tuple(float(v) for v in range(1000))
    median = mech.quantile(grid, 0.5, 1, 200.0, "pure")  # nearly noiseless
    pad = mech.padding(len(values), q)
    released = median.release(mech.padded(mech.ranks(grid, values), pad))
    assert abs(released - np.quantile(values, q)) <= 1


def test_padding_never_reads_a_negative_or_huge_count() -> None:
    assert mech.padding(-40, 0.0) == (0, 0)
    assert mech.padding(10**30, 1.0) == (0, mech.PAD_MAX)


def _per_column(shares: dict[str, float]) -> float:
    levels = len(QUARTILES) * shares["quartile"] + len(EXTREMES) * shares["extreme"]
    return shares["centred sum"] + shares["centred squares"] + levels


def test_the_split_spends_the_whole_loss_and_follows_the_error_weights() -> None:
    for measure in ("pure", "zcdp"):
        shares = split_shares(measure)
        assert shares["rows"] + _per_column(shares) == pytest.approx(1.0)
        assert shares["table rows"] == 0.0
        # against their targets a count's error weighs least, then the std's, the mean's and a
        # quartile's (its rank is held to 5% of the rows, the count to 10%)
        assert shares["rows"] < shares["centred squares"] < shares["centred sum"]
        assert shares["centred sum"] < shares["quartile"]
        # min and max weigh a quarter of a quartile: half its ε (pure)
        assert shares["extreme"] < shares["quartile"]
    pure = split_shares("pure")
    assert pure["extreme"] == pytest.approx(pure["quartile"] / 2)
    # ε ∝ √weight: a count weighs half a quartile, the mean √3/2 of one, the std ¾
    assert pure["rows"] / pure["quartile"] == pytest.approx(0.5**0.5)
    assert pure["centred sum"] / pure["quartile"] == pytest.approx((3**0.5 / 2) ** 0.5)
    assert pure["centred squares"] / pure["quartile"] == pytest.approx(0.75**0.5)


def test_the_weights_follow_the_accuracy_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each weight is an error over the target the accuracy line holds it to: a count held to
    half as much weighs twice as much."""
    monkeypatch.setattr(describe, "COUNT_SHARE", usefulness.COUNT_SHARE / 2)
    assert describe._error_weights()["rows"] == pytest.approx(2 * describe.ERROR_WEIGHTS["rows"])
    monkeypatch.setattr(describe, "SPREAD_SHARE", usefulness.SPREAD_SHARE * 2)
    halved = describe._error_weights()
    for part in ("centred sum", "centred squares"):
        assert halved[part] == pytest.approx(describe.ERROR_WEIGHTS[part] / 2)


@pytest.mark.parametrize("measure", ["pure", "zcdp"])
def test_columns_that_cannot_be_null_share_one_count(measure: str) -> None:
    own = split_shares(measure, [True, True, True])
    shared = split_shares(measure, [False, False, True])
    for shares, counts in ((own, 3), (shared, 1)):
        whole = shares["table rows"] + counts * shares["rows"] + 3 * _per_column(shares)
        assert whole == pytest.approx(1.0)
    # one count shown twice weighs two counts: more than one count's share, less than two
    assert shared["rows"] < shared["table rows"] < 2 * shared["rows"]
    assert shared["quartile"] > own["quartile"] and shared["centred sum"] > own["centred sum"]


@pytest.mark.parametrize(
    "info",
    [
        ColumnInfo("float", (1 - 2**-53, 1 + 2**-51)),  # the top step is half the bottom one
        ColumnInfo("float", (0.0, 0.0)),
        ColumnInfo("float", (0.0, 5e-324)),
        ColumnInfo("float", (-1e15, 1e15)),
        ColumnInfo("int", (0.5, 10.5)),
        ColumnInfo("int", (-3, 3)),
    ],
    ids=str,
)
def test_min_and_max_candidates_reach_beyond_both_bounds(info: ColumnInfo) -> None:
    """One candidate strictly beyond each end of the grid, whatever the float spacing there
    (OpenDP refuses a grid that is not strictly increasing)."""
    grid = candidates_for(info)
    outer = with_outer_candidates(grid)
    assert outer[1:-1] == grid
    assert all(a < b for a, b in itertools.pairwise(outer))
    assert outer[0] < grid[0] and outer[-1] > grid[-1]
    mech.quantile(outer, 0.5, 1, 1.0, "pure")  # OpenDP takes it
