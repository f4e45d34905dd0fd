"""A privacy loss names its measure: shares stay in it, and ε never adds to ρ."""

from __future__ import annotations

import math

import pytest

from jupyter_privacy.core.loss import Epsilon, PrivacyLoss, Rho, total


def test_of_picks_the_measure_of_the_budget() -> None:
    assert PrivacyLoss.of("pure", 0.5) == Epsilon(0.5)
    assert PrivacyLoss.of("zcdp", 0.5) == Rho(0.5)
    assert Epsilon(0.5).measure == "pure" and Rho(0.5).measure == "zcdp"


def test_a_share_stays_in_its_measure_and_is_the_same_float() -> None:
    loss = Rho(0.7)
    assert loss.scaled(0.3) == 0.3 * loss == loss * 0.3 == Rho(0.7 * 0.3)
    assert loss.scaled(0.3).scaled(1 - 1e-9).value == 0.7 * 0.3 * (1 - 1e-9)


def test_losses_of_one_measure_add_and_of_two_refuse() -> None:
    assert Epsilon(0.25) + Epsilon(0.5) == Epsilon(0.75)
    assert total([Rho(0.1), Rho(0.2)], "zcdp") == Rho(0.1 + 0.2)
    assert total([], "pure") == Epsilon(0.0)
    with pytest.raises(TypeError, match="cannot add Rho to Epsilon"):
        Epsilon(0.25) + Rho(0.5)


@pytest.mark.parametrize("value", [-1.0, math.nan, -1e-300])
def test_a_loss_is_never_negative_nor_nan(value: float) -> None:
    with pytest.raises(ValueError, match="a privacy loss is a number ≥ 0"):
        Epsilon(value)


def test_the_untyped_base_cannot_be_built_and_display_uses_symbols() -> None:
    with pytest.raises(TypeError, match="Epsilon"):
        PrivacyLoss(1.0)
    assert str(Epsilon(0.5)) == "ε = 0.5" and str(Rho(0.0244)) == "ρ = 0.0244"
