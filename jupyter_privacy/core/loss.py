"""A privacy loss that names its measure: ``Epsilon`` under pure DP, ``Rho`` under zCDP.

The engine calibrates mechanisms to a loss and reports the loss it verified. A bare float would
mean ε under one budget and ρ under the other; these classes carry the measure with the value, so
a share of a loss (``loss.scaled(0.3)``, ``0.3 * loss``) stays in its measure and adding an ε
to a ρ raises instead of passing silently. Arithmetic is on floats, in the order the caller
writes it: a share of a share is the same float it was before the type existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Self

from jupyter_privacy.core.budget import Mode


@dataclass(frozen=True)
class PrivacyLoss:
    """A non-negative loss in one measure; use ``Epsilon``, ``Rho`` or ``PrivacyLoss.of``."""

    value: float
    measure: ClassVar[Mode]
    symbol: ClassVar[str]

    def __post_init__(self) -> None:
        if type(self) is PrivacyLoss:
            raise TypeError("use Epsilon(...) or Rho(...)")
        if not self.value >= 0:  # NaN fails too
            raise ValueError(f"a privacy loss is a number ≥ 0, not {self.value!r}")

    @staticmethod
    def of(measure: Mode, value: float) -> PrivacyLoss:
        """``Epsilon(value)`` under a pure budget, ``Rho(value)`` under zCDP."""
        return Epsilon(value) if measure == "pure" else Rho(value)

    def scaled(self, share: float) -> Self:
        """This loss times ``share`` (a budget split), in the same measure."""
        return self.like(self.value * share)

    def split(self, parts: int) -> Self:
        """An equal share of this loss for each of ``parts`` (``value / parts``)."""
        return self.like(self.value / parts)

    def like(self, value: float) -> Self:
        """Another amount in this loss's measure (a verified map's value)."""
        return type(self)(value)

    def __mul__(self, share: float) -> Self:
        return self.scaled(share)

    __rmul__ = __mul__

    def __add__(self, other: PrivacyLoss) -> Self:
        """Basic composition of two losses in the same measure (ε add up, and so do ρ)."""
        if type(other) is not type(self):
            raise TypeError(f"cannot add {type(other).__name__} to {type(self).__name__}")
        return self.like(self.value + other.value)

    def __str__(self) -> str:
        shown = f"{self.value:.3g}" if math.isfinite(self.value) else repr(self.value)
        return f"{self.symbol} = {shown}"


@dataclass(frozen=True)
class Epsilon(PrivacyLoss):
    """Pure ε-DP: Laplace-family noise and the exponential mechanism."""

    measure: ClassVar[Mode] = "pure"
    symbol: ClassVar[str] = "ε"


@dataclass(frozen=True)
class Rho(PrivacyLoss):
    """ρ-zCDP: Gaussian-family noise; the ledger converts the total ρ to (ε, δ)."""

    measure: ClassVar[Mode] = "zcdp"
    symbol: ClassVar[str] = "ρ"


def total(losses: list[PrivacyLoss], measure: Mode) -> PrivacyLoss:
    """The sum of ``losses`` (basic composition), ``0`` in ``measure`` when there are none."""
    out = PrivacyLoss.of(measure, 0.0)
    for loss in losses:
        out = out + loss
    return out


__all__ = ["Epsilon", "PrivacyLoss", "Rho", "total"]
