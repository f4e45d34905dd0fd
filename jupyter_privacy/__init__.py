"""jupyter-privacy: differentially private analysis of sensitive tables, with pandas habits.

Guard-rail mode protects an honest analyst from accidental disclosure; it is not a security
boundary against code running in the same process.
"""

from __future__ import annotations

from typing import Any

from jupyter_privacy.api import (
    audit,
    budget,
    connect,
    cut,
    export_releases,
    lineage,
    register,
    replay,
    source,
    use_workspace,
    workspace,
)
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import (
    BudgetExceededError,
    InvalidArgumentError,
    MissingBoundsError,
    PolicyError,
    PrivacyError,
    ReleaseFailedError,
    ReplayMissError,
    RowAccessError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.frame import (
    ReleaseOptions,
    SensitiveFrame,
    SensitiveGroupBy,
    SensitiveSeries,
)

__version__ = "0.1.0"
__all__ = [
    "Budget",
    "BudgetExceededError",
    "Estimate",
    "InvalidArgumentError",
    "MissingBoundsError",
    "PolicyError",
    "PrivacyError",
    "Release",
    "ReleaseFailedError",
    "ReleaseOptions",
    "ReleaseTable",
    "ReplayMissError",
    "RowAccessError",
    "SensitiveFrame",
    "SensitiveGroupBy",
    "SensitiveSeries",
    "UnsupportedOperationError",
    "audit",
    "budget",
    "connect",
    "cut",
    "export_releases",
    "lineage",
    "register",
    "replay",
    "source",
    "use_workspace",
    "workspace",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_privacy`` (the Jupyter layer is imported only here)."""
    from jupyter_privacy.jupyter import extension

    extension.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from jupyter_privacy.jupyter import extension

    extension.unload(ipython)
