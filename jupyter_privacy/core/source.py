"""A registered source: public metadata plus an opaque handle that only the engine reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.schema import ColumnInfo

DEFAULT_EPSILON = 0.1
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class SourceSpec:
    """Everything public about a source; ``data`` is a path or a frame, opened by the engine."""

    name: str
    data: Any = field(repr=False, compare=False)
    schema: Mapping[str, ColumnInfo]
    budget: Budget
    privacy_unit: str | None = None
    max_rows_per_unit: int = 1
    default_epsilon: float = DEFAULT_EPSILON
    alpha: float = DEFAULT_ALPHA
    origin: str = "frame"
    #: Numeric columns declared ``bounds="auto"``: bounds come from a charged release on first use.
    auto_bounds: tuple[str, ...] = ()
    #: The ε of each automatic bounds release.
    bounds_epsilon: float = DEFAULT_EPSILON

    @property
    def d_in(self) -> int:
        """Rows one person can change after contribution bounding (symmetric distance)."""
        return self.max_rows_per_unit if self.privacy_unit else 1

    def describe(self) -> dict[str, object]:
        """Public metadata for reprs, lineage and the comm."""
        return {
            "name": self.name,
            "origin": self.origin,
            "path": str(self.data) if isinstance(self.data, Path) else None,
            "privacy_unit": self.privacy_unit,
            "max_rows_per_unit": self.max_rows_per_unit,
            "budget": self.budget.to_dict(),
            "default_epsilon": self.default_epsilon,
            "alpha": self.alpha,
            "auto_bounds": list(self.auto_bounds),
            "bounds_epsilon": self.bounds_epsilon,
            "columns": {k: v.to_json() for k, v in self.schema.items()},
        }
