"""The user-facing functions: one default workspace per process, reached through ``jp.*``."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON
from jupyter_privacy.core.workspace import BudgetState, Workspace
from jupyter_privacy.frame import SensitiveFrame, SensitiveSeries

_lock = threading.Lock()
_workspace: Workspace | None = None


def workspace() -> Workspace:
    """The process's workspace (``JUPYTER_PRIVACY_HOME`` or ``./.jupyter_privacy``)."""
    global _workspace
    with _lock:
        if _workspace is None:
            _workspace = Workspace()
        return _workspace


def use_workspace(home: str | Path | None) -> Workspace:
    """Switch to another ledger folder (tests, several projects in one kernel)."""
    global _workspace
    with _lock:
        if _workspace is not None:
            _workspace.close()
        _workspace = Workspace(home)
        return _workspace


def register(
    data: Any,
    *,
    name: str | None = None,
    privacy_unit: str | None = None,
    max_rows_per_unit: int = 1,
    budget: Budget | None = None,
    bounds: Mapping[str, Sequence[float]] | None = None,
    keys: Mapping[str, Sequence[Scalar]] | None = None,
    default_epsilon: float = DEFAULT_EPSILON,
    alpha: float = DEFAULT_ALPHA,
) -> SensitiveFrame:
    """Register a CSV or Parquet path, or a pandas or polars frame, as a sensitive source."""
    ws = workspace()
    spec = ws.register(
        data,
        name=name,
        privacy_unit=privacy_unit,
        max_rows_per_unit=max_rows_per_unit,
        budget=budget,
        bounds=bounds,
        keys=keys,
        default_epsilon=default_epsilon,
        alpha=alpha,
    )
    return SensitiveFrame(ws, spec.name)


def source(name: str) -> SensitiveFrame:
    """The guarded frame of a registered source."""
    ws = workspace()
    ws.source(name)
    return SensitiveFrame(ws, name)


def budget(name: str | None = None) -> BudgetState | list[BudgetState]:
    """Budget state of one source, or of all (the kernel extension shows it as a live meter)."""
    ws = workspace()
    if name is not None:
        return ws.budget_state(name)
    return [ws.budget_state(n) for n in sorted(ws.sources)]


def audit() -> pd.DataFrame:
    """The audit log as a table: every attempt, released, replayed, refused or failed."""
    rows = workspace().ledger.audit_rows()
    cols = ["seq", "time", "user", "source", "outcome", "plan", "cost", "detail", "hash"]
    return pd.DataFrame(rows, columns=[*cols, "prev_hash"])[cols]


def cut(
    series: SensitiveSeries, bins: Sequence[float], labels: Sequence[str] | None = None
) -> SensitiveSeries:
    """``pd.cut`` with public edges: the bin labels become public keys."""
    return series.cut(bins, labels)
