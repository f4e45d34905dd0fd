"""Budgets and costs in exact arithmetic.

Floats are read by their shortest decimal spelling (``0.1`` is exactly 1/10), so ten charges of
ε = 0.1 exhaust ε = 1.0 exactly, and a charge of 1e-320 is a positive amount, never zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Literal

from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.limits import (
    BUDGET_EPSILON_MAX,
    DELTA_MAX,
    DELTA_MIN,
    EPSILON_MAX,
    EPSILON_MIN,
)

Mode = Literal["pure", "zcdp"]
ZERO = Fraction(0)


def exact(value: float | int | str | Fraction) -> Fraction:
    """The exact rational a user meant by ``value`` (its shortest decimal spelling)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError("a privacy parameter must be a number, not a bool")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        return Fraction(value)
    return Fraction(repr(float(value)))


def check_parameter(
    name: str,
    value: object,
    *,
    allow_zero: bool = False,
    source: str = "?",
    operation: str = "run",
    low: float | None = None,
    high: float | None = None,
) -> float:
    """Validate a privacy parameter as a finite positive number within ``[low, high]`` (the
    floors and ceilings of ``core.limits``); refuse with a clear message."""
    symbol = {"epsilon": "ε", "delta": "δ", "rho": "ρ"}.get(name, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not ok or not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        need = "a finite number ≥ 0" if allow_zero else "a finite number > 0"
        raise InvalidArgumentError(
            operation,
            source,
            f"{name} must be {need}",
            [("given", f"{symbol} = {value!r}")],
            [f"{name}=0.1"],
        )
    if number != 0 and ((low is not None and number < low) or (high is not None and number > high)):
        raise InvalidArgumentError(
            operation,
            source,
            f"{name} must be between {low:g} and {high:g}",
            [("given", f"{symbol} = {value!r}")],
            [f"{name}={min(max(number, low or number), high or number):g}"],
        )
    return number


@dataclass(frozen=True)
class Budget:
    """A source's total privacy budget.

    ``Budget(epsilon=E)`` is pure ε-DP (Laplace and exponential mechanisms, additive composition).
    ``Budget(epsilon=E, delta=D)`` accounts in ρ-zCDP (Gaussian noise) and reports in (ε, δ): half of
    δ pays for converting the composed ρ to ε, half for thresholds on unknown group keys.

    Pure ε is the simplest guarantee to explain. A δ buys two things: many releases compose
    more tightly under zCDP than by adding their ε, and groupings over undeclared keys become
    possible; keep δ far below one over the number of people.

    Example:
        >>> jp.Budget(epsilon=3.0)               # pure ε-DP
        >>> jp.Budget(epsilon=1.0, delta=1e-6)   # zCDP, reported as (ε, δ)
    """

    epsilon: float
    delta: float = 0.0

    def __post_init__(self) -> None:
        check_parameter(
            "delta",
            self.delta,
            allow_zero=True,
            operation="create a budget",
            source="-",
            low=DELTA_MIN,
            high=DELTA_MAX,
        )
        # Pure budgets are exact fractions; a zCDP budget's ε is converted to ρ through OpenDP's
        # privacy profile, which overflows beyond about 10⁴.
        check_parameter(
            "epsilon",
            self.epsilon,
            operation="create a budget",
            source="-",
            low=EPSILON_MIN,
            high=BUDGET_EPSILON_MAX if self.delta == 0 else EPSILON_MAX,
        )

    @property
    def mode(self) -> Mode:
        return "zcdp" if self.delta > 0 else "pure"

    @property
    def conversion_delta(self) -> float:
        """The δ at which composed ρ is reported as ε."""
        return self.delta / 2

    @property
    def threshold_delta(self) -> Fraction:
        """The part of δ that unknown-key thresholds may spend."""
        return exact(self.delta) / 2

    def to_dict(self) -> dict[str, float]:
        return {"epsilon": self.epsilon, "delta": self.delta}


@dataclass(frozen=True)
class Cost:
    """What one release charges, exactly.

    Under pure DP only ``epsilon`` is charged. Under zCDP ``rho`` and ``delta`` are charged and
    ``epsilon`` is the nominal per-query ε the user asked for (used for the "naive sum" display).
    """

    epsilon: Fraction = ZERO
    rho: Fraction = ZERO
    delta: Fraction = ZERO

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.epsilon + other.epsilon, self.rho + other.rho, self.delta + other.delta)

    def to_json(self) -> dict[str, str]:
        return {"epsilon": str(self.epsilon), "rho": str(self.rho), "delta": str(self.delta)}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Cost:
        return cls(Fraction(data["epsilon"]), Fraction(data["rho"]), Fraction(data["delta"]))

    def key(self) -> str:
        """A canonical spelling, part of the release-cache key."""
        return f"eps={self.epsilon};rho={self.rho};delta={self.delta}"


def fits(cost: Cost, spent: Cost, total: Cost, mode: Mode) -> bool:
    """Whether ``cost`` can still be charged, by exact comparison."""
    after = spent + cost
    if mode == "pure":
        return after.epsilon <= total.epsilon and cost.rho == 0 and cost.delta == 0
    return after.rho <= total.rho and after.delta <= total.delta


def fmt(value: float | Fraction, symbol: str = "ε", down: bool = False) -> str:
    """Three decimals (or three significant digits) for display; ``down`` rounds toward zero, so
    a remaining budget is never shown larger than it is (0.76197 left reads 0.761, not 0.762)."""
    v = float(value)
    if v == 0:
        return f"{symbol} = 0"
    exact_v = Decimal(repr(v))
    if 1e-3 <= abs(v) < 1e4:
        if down:
            exact_v = exact_v.quantize(Decimal("0.001"), rounding=ROUND_DOWN)
        return f"{symbol} = {exact_v:.3f}" if down else f"{symbol} = {v:.3f}"
    if down:
        step = Decimal(1).scaleb(exact_v.adjusted() - 2)
        return f"{symbol} = {float(exact_v.quantize(step, rounding=ROUND_DOWN)):.3g}"
    return f"{symbol} = {v:.3g}"
