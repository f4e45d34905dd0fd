"""The user-facing functions: one default workspace per process, reached through ``jp.*``."""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.service import ReleaseService
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.frame import SensitiveFrame, SensitiveSeries

_lock = threading.Lock()
_workspace: ReleaseService | None = None
#: Raw frames handed to ``register``: id -> (weak reference, source name), for the display guard.
_raw_frames: dict[int, tuple[weakref.ref[Any], str]] = {}
#: Called with the new workspace after ``use_workspace`` or ``connect`` replaced it: the Jupyter
#: layer moves the sidebar's comm, the cell context and the live displays over to it.
workspace_changed: list[Callable[[ReleaseService], None]] = []


def _announce(ws: ReleaseService) -> None:
    for hook in list(workspace_changed):
        with contextlib.suppress(Exception):  # a display must never break the switch
            hook(ws)


def registered_raw_frames() -> list[tuple[Any, str]]:
    """Raw frames that were registered and are still alive, with their source names."""
    alive = []
    for key, (ref, name) in list(_raw_frames.items()):
        obj = ref()
        if obj is None:
            _raw_frames.pop(key, None)
        else:
            alive.append((obj, name))
    return alive


def is_registered_raw(obj: Any) -> str | None:
    entry = _raw_frames.get(id(obj))
    return entry[1] if entry is not None and entry[0]() is obj else None


def workspace() -> ReleaseService:
    """The process's workspace (``JUPYTER_PRIVACY_HOME`` or ``./.jupyter_privacy``)."""
    global _workspace
    with _lock:
        if _workspace is None:
            _workspace = Workspace()
        return _workspace


def use_workspace(home: str | Path | None) -> ReleaseService:
    """Switch to another ledger folder (tests, several projects in one kernel)."""
    global _workspace
    with _lock:
        if _workspace is not None:
            _workspace.close()
        _workspace = Workspace(home)
        ws = _workspace
    _announce(ws)
    return ws


def connect(
    target: str | Path,
    *,
    token: str | None = None,
    token_file: str | Path | None = None,
    retry_seconds: float = 10.0,
) -> Any:
    """Curator mode: use the curator at ``target`` (a Unix socket path, ``tcp://HOST:PORT`` or
    ``http://HOST:PORT``).

    From then on ``jp.source(name)`` returns frames whose data, ledger and audit log stay in the
    curator process; the kernel holds plans and releases only. Returns the remote workspace
    (``cur['patients']`` is a frame too).
    """
    global _workspace
    from jupyter_privacy.curator.client import CuratorService

    remote = CuratorService.connect(
        target, token=token, token_file=token_file, retry_seconds=retry_seconds
    )
    with _lock:
        if _workspace is not None:
            _workspace.close()
        _workspace = remote
    _announce(remote)
    return remote


def register(
    data: Any,
    *,
    name: str | None = None,
    privacy_unit: str | None = None,
    max_rows_per_unit: int = 1,
    budget: Budget | None = None,
    bounds: Mapping[str, Sequence[float]] | None = None,
    keys: Mapping[str, Sequence[Scalar]] | None = None,
    dtypes: Mapping[str, Any] | None = None,
    default_epsilon: float = DEFAULT_EPSILON,
    alpha: float = DEFAULT_ALPHA,
) -> SensitiveFrame:
    """Register a CSV or Parquet path, or a pandas or polars frame, as a sensitive source.

    ``dtypes={'visits': 'int'}`` declares public column kinds. A CSV has none of its own: a
    column without a declared kind is a float if it has bounds, of its keys' kind if it has
    keys, and text otherwise, so no person's value can change the published schema.
    """
    ws = workspace()
    declared = SourceDeclaration(
        name=name,
        budget=budget,
        privacy_unit=privacy_unit,
        max_rows_per_unit=max_rows_per_unit,
        bounds=bounds or {},
        keys=keys or {},
        dtypes=dtypes or {},
        default_epsilon=default_epsilon,
        alpha=alpha,
    )
    spec = ws.add_source(data, declared)
    with contextlib.suppress(TypeError):  # paths cannot be weakly referenced, nor displayed
        _raw_frames[id(data)] = (weakref.ref(data), spec.name)
    return SensitiveFrame(ws, spec.name)


def source(name: str) -> SensitiveFrame:
    """The guarded frame of a registered source."""
    ws = workspace()
    ws.source(name)
    return SensitiveFrame(ws, name)


def budget(name: str | None = None) -> Any:
    """A live budget meter for every source, or one source's ``BudgetState`` by name."""
    ws = workspace()
    if name is not None:
        return ws.budget_state(name)
    return budget_meter()


def budget_meter() -> Any:
    """The live meter: an HTML display redrawn in place on every charge, from any cell."""
    from jupyter_privacy.jupyter.live import BudgetDisplay

    return BudgetDisplay(workspace())


def lineage() -> Any:
    """The live lineage panel: sources → transforms → releases; ``.to_dict()``, ``.to_json()``."""
    from jupyter_privacy.jupyter.live import LineageDisplay

    return LineageDisplay(workspace())


def audit() -> pd.DataFrame:
    """The audit log as a table: every attempt, released, replayed, refused or failed."""
    rows = workspace().audit_rows()
    cols = ["seq", "time", "user", "source", "outcome", "plan", "cost", "detail", "hash"]
    return pd.DataFrame(rows, columns=[*cols, "prev_hash"])[cols]


def cut(
    series: SensitiveSeries, bins: Sequence[float], labels: Sequence[str] | None = None
) -> SensitiveSeries:
    """``pd.cut`` with public edges: the bin labels become public keys."""
    return series.cut(bins, labels)


def export_releases(path: str | Path, *, every_notebook: bool = False) -> Path:
    """Write the releases of this notebook (public values only) as a manifest for reviewers.

    When the kernel knows its notebook (JupyterLab, Notebook 7, VS Code, a server's session),
    only that notebook's releases are written (made in it, also under an earlier name, or
    replayed in it), whatever else the ledger holds;
    ``every_notebook=True`` writes every release of the registered sources, as does a run
    whose notebook is unknown (plain Python, a headless run).
    """
    ws = workspace()
    manifest = ws.export_manifest()
    # In a notebook the Jupyter layer knows which releases are this notebook's.
    select = getattr(ws.context, "select_releases", None)
    if select is not None and not every_notebook:
        manifest = select(manifest)
    target = Path(path)
    target.write_text(json.dumps(manifest, indent=1, allow_nan=True))
    return target


def replay(path: str | Path | None) -> None:
    """Re-run a notebook without the data: each query returns its recorded release.

    ``jp.register`` then needs no data (the manifest holds each source's public schema); a query
    that the manifest does not hold raises ``ReplayMissError``. ``jp.replay(None)`` leaves replay
    mode.
    """
    ws = workspace()
    if path is None:
        ws.load_manifest(None)
        return
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyError(
            "load a release manifest",
            str(path),
            "the manifest cannot be read",
            [("error", type(exc).__name__)],
            ["jp.export_releases('releases.json')  # on the machine with the data"],
        ) from None
    if not isinstance(manifest, dict):
        raise PolicyError("load a release manifest", str(path), "the manifest is not a JSON object")
    ws.load_manifest(manifest)
