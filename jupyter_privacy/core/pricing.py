"""Pricing: what a query costs in the budget's own terms, and what remains, in the user's.

A pure budget is charged ε. A zCDP budget is charged ρ (and the δ that thresholds spend),
converted from the ε the analyst asked for through OpenDP's privacy profile; what is spent is
shown as ε again. ``accuracy=`` is priced by searching the calibration, never the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from jupyter_privacy.core import engine
from jupyter_privacy.core.aggregates import WITH_ACCURACY
from jupyter_privacy.core.budget import Budget, Cost, check_parameter, exact, fmt
from jupyter_privacy.core.errors import (
    BudgetExceededError,
    InvalidArgumentError,
    PolicyError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.ledger import Ledger, Refusal
from jupyter_privacy.core.limits import ALPHA_MAX, ALPHA_MIN, DELTA_MIN, EPSILON_MAX, EPSILON_MIN
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.source import SourceSpec


@dataclass(frozen=True)
class BudgetState:
    """A source's budget in the units the user reads: ε and δ (ρ on request)."""

    source: str
    mode: str
    epsilon_total: float
    epsilon_spent: float
    delta_total: float
    delta_spent: float
    rho_total: float
    rho_spent: float
    naive_epsilon: float
    default_epsilon: float

    @property
    def epsilon_remaining(self) -> float:
        return max(self.epsilon_total - self.epsilon_spent, 0.0)

    @property
    def delta_remaining(self) -> float:
        return max(self.delta_total - self.delta_spent, 0.0)

    @property
    def fraction_spent(self) -> float:
        return min(self.epsilon_spent / self.epsilon_total, 1.0) if self.epsilon_total else 1.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.update(epsilon_remaining=self.epsilon_remaining, delta_remaining=self.delta_remaining)
        return out

    def __repr__(self) -> str:
        text = (
            f"{self.source}: spent {fmt(self.epsilon_spent)} of {self.epsilon_total:g}, "
            f"remaining {fmt(self.epsilon_remaining, down=True)}"
        )
        if self.mode == "zcdp":
            text += (
                f"; {fmt(self.delta_spent, 'δ')} of {self.delta_total:g}"
                f" (composed in zCDP; the per-query ε add up to {self.naive_epsilon:.3f})"
            )
        return text


STATE_FIELDS = tuple(BudgetState.__dataclass_fields__)


def budget_state(spec: SourceSpec, ledger: Ledger) -> BudgetState:
    """What the ledger says is spent, as ε (and δ) the user can compare with the budget."""
    total, spent = ledger.totals(spec.name)
    b = spec.budget
    if b.mode == "pure":
        eps = float(spent.epsilon)
        return BudgetState(
            spec.name, "pure", b.epsilon, eps, 0.0, 0.0, 0.0, 0.0, eps, spec.default_epsilon
        )
    eps_spent = engine.epsilon_of_rho(float(spent.rho), b.conversion_delta) if spent.rho else 0.0
    delta_spent = float(spent.delta) + (b.conversion_delta if spent.rho else 0.0)
    return BudgetState(
        spec.name,
        "zcdp",
        b.epsilon,
        min(eps_spent, b.epsilon) if spent.rho >= total.rho else eps_spent,
        b.delta,
        delta_spent,
        float(total.rho),
        float(spent.rho),
        float(ledger.naive_epsilon(spec.name)),
        spec.default_epsilon,
    )


def total_cost(budget: Budget, source: str = "-") -> Cost:
    """The whole budget as the ledger holds it (ρ and δ under zCDP)."""
    if budget.mode == "pure":
        return Cost(epsilon=exact(budget.epsilon))
    try:
        rho = engine.rho_of_epsilon(budget.epsilon, budget.conversion_delta)
    except Exception as exc:  # OpenDP overflows converting a huge ε; parameters are public
        raise PolicyError(
            "register",
            source,
            "this budget's ε is too large to account in zCDP",
            [
                ("given", f"ε = {budget.epsilon!r}, δ = {budget.delta!r}"),
                ("error", type(exc).__name__),
            ],
            ["jp.Budget(epsilon=10.0, delta=1e-6)"],
        ) from None
    return Cost(epsilon=exact(budget.epsilon), rho=exact(rho), delta=budget.threshold_delta)


def check_alpha(alpha: object, source: str, op: str) -> float:
    ok = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    value = float(alpha) if ok else math.nan  # type: ignore[arg-type]
    if not (ALPHA_MIN <= value <= ALPHA_MAX):
        raise InvalidArgumentError(
            op,
            source,
            f"alpha must be a number between {ALPHA_MIN:g} and {ALPHA_MAX:g}",
            [("given", repr(alpha))],
            ["alpha=0.05"],
        )
    return value


@dataclass(frozen=True)
class Price:
    """A query's price: the cost to charge, the target its mechanisms are calibrated to (ε, or ρ
    under zCDP) and the δ offered to thresholds."""

    cost: Cost
    target: float
    delta: float


def price(spec: SourceSpec, eps: float, delta: float | None, op: str) -> Price:
    b = spec.budget
    if b.mode == "pure":
        if delta:
            raise InvalidArgumentError(
                op,
                spec.name,
                "a pure ε-DP budget cannot spend δ",
                [("given", f"δ = {delta!r}")],
                ["jp.Budget(epsilon=1.0, delta=1e-6)"],
            )
        return Price(Cost(epsilon=exact(eps)), eps, 0.0)
    delta_q = (
        float(b.threshold_delta) / 10
        if delta is None
        else check_parameter("delta", delta, source=spec.name, operation=op, low=DELTA_MIN)
    )
    try:
        rho = engine.rho_of_epsilon(eps, b.conversion_delta)
    except Exception as exc:  # OpenDP overflows converting a huge ε; parameters are public
        raise InvalidArgumentError(
            op,
            spec.name,
            "epsilon is too large to account in zCDP",
            [("given", f"ε = {eps!r}"), ("error", type(exc).__name__)],
            ["epsilon=1.0"],
        ) from None
    return Price(Cost(epsilon=exact(eps), rho=exact(rho), delta=exact(delta_q)), rho, delta_q)


def requested_epsilon(
    spec: SourceSpec,
    query: Query,
    op: str,
    epsilon: float | None,
    accuracy: float | None,
    alpha: float,
    delta: float | None,
) -> float:
    """The ε asked for: given, the source's default, or the least that meets ``accuracy``."""
    acc = checked_accuracy(spec, query, op, epsilon, accuracy, alpha, delta)
    if acc is None:
        return check_parameter(
            "epsilon",
            spec.default_epsilon if epsilon is None else epsilon,
            source=spec.name,
            operation=op,
            low=EPSILON_MIN,
            high=EPSILON_MAX,
        )
    return epsilon_for_accuracy(spec, query, op, acc, alpha, delta)


def checked_accuracy(
    spec: SourceSpec,
    query: Query,
    op: str,
    epsilon: float | None,
    accuracy: float | None,
    alpha: float,
    delta: float | None,
) -> float | None:
    """``accuracy``, refused with ε, when not a positive number, or where the statistic's
    interval depends on the data; None when not asked. Prices nothing: bounds that are not
    released yet can be checked this far."""
    if epsilon is not None and accuracy is not None:
        raise InvalidArgumentError(
            op,
            spec.name,
            "give either epsilon= or accuracy=, not both",
            fixes=[query.call(epsilon=0.1)],
        )
    if accuracy is None:
        return None
    acc = check_parameter("accuracy", accuracy, source=spec.name, operation=op)
    if _halfwidth(spec, query, op, alpha, delta, 1.0) is None:
        raise UnsupportedOperationError(
            op,
            spec.name,
            "accuracy= needs an interval known in advance, and this statistic's "
            "interval depends on the data",
            [("supported", "accuracy= on " + ", ".join(WITH_ACCURACY))],
            [query.call(epsilon=0.1), query.call(dry_run=True)],
        )
    return acc


def _halfwidth(
    spec: SourceSpec, query: Query, op: str, alpha: float, delta: float | None, target: float
) -> float | None:
    """The interval half-width known before any data is read, at loss ``target``."""
    delta_q = price(spec, 1.0, delta, op).delta  # validates δ; δ does not depend on ε
    loss = PrivacyLoss.of(spec.budget.mode, target)
    return engine.prepare(spec, query, loss, alpha, delta_q).expected_halfwidth


def epsilon_for_accuracy(
    spec: SourceSpec, query: Query, op: str, accuracy: float, alpha: float, delta: float | None
) -> float:
    """Smallest ε (4 significant digits, rounded up) whose interval half-width ≤ accuracy
    (``checked_accuracy`` has checked it).

    The search runs over the calibration target (ε, or ρ under zCDP) and converts to ε once
    at the end: each ε→ρ conversion is itself a search through OpenDP's privacy profile.
    """
    mode = spec.budget.mode

    def halfwidth(target: float) -> float | None:
        return _halfwidth(spec, query, op, alpha, delta, target)

    lo, hi = 1e-9, 1.0
    while (halfwidth(hi) or math.inf) > accuracy:
        lo, hi = hi, hi * 4
        if hi > EPSILON_MAX:
            raise InvalidArgumentError(
                op,
                spec.name,
                "that accuracy needs an unbounded ε",
                [("accuracy", repr(accuracy))],
            )
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if (halfwidth(mid) or math.inf) <= accuracy:
            hi = mid
        else:
            lo = mid
        if hi / lo < 1.0001:
            break
    eps = hi if mode == "pure" else engine.epsilon_of_rho(hi, spec.budget.conversion_delta)
    digits = 3 - math.floor(math.log10(eps))
    return float(math.ceil(eps * 10**digits) / 10**digits)


def budget_refusal(
    spec: SourceSpec, state: BudgetState, query: Query, op: str, cost: Cost, refusal: Refusal
) -> BudgetExceededError:
    """The refusal of a query that does not fit: exact amounts, and a smaller query that does."""
    if spec.budget.mode == "pure":
        remaining = refusal.total.epsilon - refusal.spent.epsilon
        details = [("requested", fmt(cost.epsilon)), ("remaining", fmt(remaining, down=True))]
    else:
        details = [
            (
                "requested",
                f"{fmt(cost.epsilon)} (ρ = {float(cost.rho):.3g}, δ = {float(cost.delta):.3g})",
            ),
            (
                "remaining",
                f"{fmt(state.epsilon_remaining, down=True)} (ρ = "
                f"{float(refusal.total.rho - refusal.spent.rho):.3g}, δ = "
                f"{float(refusal.total.delta - refusal.spent.delta):.3g})",
            ),
        ]
    smaller = max(state.epsilon_remaining / 2, 0.0)
    fixes = [query.call(dry_run=True)]
    if smaller >= EPSILON_MIN:
        offer = float(f"{smaller:.2g}")
        fixes.insert(0, query.call(epsilon=int(offer) if offer.is_integer() else offer))
    reason = (
        "the budget is spent"
        if state.epsilon_remaining <= 0
        else "the query costs more than remains"
    )
    return BudgetExceededError(op, spec.name, reason, details, fixes)


__all__ = [
    "BudgetState",
    "Price",
    "budget_refusal",
    "budget_state",
    "check_alpha",
    "checked_accuracy",
    "epsilon_for_accuracy",
    "price",
    "requested_epsilon",
    "total_cost",
]
