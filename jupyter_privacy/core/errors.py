"""Refusals: one hierarchy, one message shape, never a value from the data.

Every message reads::

    Refused to <operation> on '<source>': <reason>.
      requested  ε = 0.500
      remaining  ε = 0.120
    Try: patients.income.mean(epsilon=0.1)

The parts are built only from public information (schema, bounds, keys, budget state, the code),
so the same code gives the same refusal on any two datasets.
"""

from __future__ import annotations

from collections.abc import Sequence


class PrivacyError(Exception):
    """Base of every refusal. ``code`` is stable and machine-readable."""

    code = "privacy_error"

    def __init__(
        self,
        operation: str,
        source: str,
        reason: str,
        details: Sequence[tuple[str, str]] = (),
        fixes: Sequence[str] = (),
    ) -> None:
        self.operation = operation
        self.source = source
        self.reason = reason.rstrip(".")
        self.details = tuple(details)
        self.fixes = tuple(fixes)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"Refused to {self.operation} on '{self.source}': {self.reason}."]
        width = max((len(k) for k, _ in self.details), default=0)
        lines += [f"  {k.ljust(width)}  {v}" for k, v in self.details]
        if self.fixes:
            lines.append("Try: " + "   or   ".join(self.fixes))
        return "\n".join(lines)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (self.operation, self.source, self.reason, self.details, self.fixes),
        )


class RowAccessError(PrivacyError):
    """Raw rows were asked for: head, iloc, to_numpy, iteration and the like."""

    code = "row_access"


class BudgetExceededError(PrivacyError):
    """The query costs more than the source has left."""

    code = "budget_exceeded"


class MissingBoundsError(PrivacyError):
    """A statistic needs public bounds (or keys) that were never declared."""

    code = "missing_bounds"


class UnsupportedOperationError(PrivacyError):
    """The operation is not one the workbench can release privately."""

    code = "unsupported_operation"


class ReplayMissError(PrivacyError):
    """In replay mode, a query that the manifest does not hold."""

    code = "replay_miss"


class PolicyError(PrivacyError):
    """A registration, policy file or ledger is invalid."""

    code = "policy"


class InvalidArgumentError(PrivacyError):
    """An argument (ε, α, accuracy, a column name) is not acceptable."""

    code = "invalid_argument"


class ReleaseFailedError(PrivacyError):
    """The mechanism failed after the budget was charged; no value was released."""

    code = "release_failed"
