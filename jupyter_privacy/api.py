"""The user-facing functions: one default workspace per process, reached through ``jp.*``.

Docstrings here are what ``jp.register?`` shows in a notebook: Google style, each with an example
that runs against the ``patients`` source of the README's first session.
"""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import pandas as pd

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.pricing import BudgetState
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.service import ReleaseService
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.frame import SensitiveFrame, SensitiveSeries

if TYPE_CHECKING:  # the Jupyter and curator layers are imported only when called
    from jupyter_privacy.curator.client import CuratorService
    from jupyter_privacy.jupyter.live import BudgetDisplay, LineageDisplay

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
    """The process's workspace (``JUPYTER_PRIVACY_HOME`` or ``./.jupyter_privacy``).

    Every ``jp.*`` function works on it; you need it only to reach the ledger or the sources
    directly.

    Example:
        >>> jp.workspace().home
    """
    global _workspace
    with _lock:
        if _workspace is None:
            _workspace = Workspace()
        return _workspace


def use_workspace(home: str | Path | None) -> ReleaseService:
    """Switch to another ledger folder (tests, several projects in one kernel).

    Budgets, releases and the audit log live in the folder, so each folder is its own world:
    sources registered in another folder are not visible here, and their budgets are separate.

    Args:
        home: The folder (created if missing); ``None`` means ``JUPYTER_PRIVACY_HOME`` or
            ``./.jupyter_privacy``.

    Example:
        >>> jp.use_workspace("/tmp/course-ledger")
    """
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
) -> CuratorService:
    """Curator mode: use the curator at ``target`` for every source from now on.

    The data, the ledger and the audit log stay in the curator process, so no code in the
    kernel can read a row, whatever it does; the kernel holds plans and releases only.

    Args:
        target: A Unix socket path, ``tcp://HOST:PORT`` or ``http://HOST:PORT``.
        token: The client token; or ``token_file``, a file only you can read.
        token_file: Where the token is (as written by ``jupyter-privacy token add``).
        retry_seconds: How long to wait for a curator that is still starting.

    Returns:
        The remote workspace; ``jp.source(name)`` (or ``cur['patients']``) gives its frames.

    Example:
        >>> cur = jp.connect("curator.sock", token_file="curator.token")
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
    bounds: Mapping[str, Sequence[float] | str] | str | None = None,
    keys: Mapping[str, Sequence[Scalar]] | None = None,
    dtypes: Mapping[str, Any] | None = None,
    default_epsilon: float = DEFAULT_EPSILON,
    alpha: float = DEFAULT_ALPHA,
    bounds_epsilon: float | None = None,
    not_null: Sequence[str] = (),
) -> SensitiveFrame:
    """Register a CSV or Parquet path, or a pandas or polars frame, as a sensitive source.

    Everything given here is public and fixes every later release: the bounds clip values and
    the keys fix which groups exist, so the noise never depends on a person's data. The budget
    is kept in the ledger: registering the same name after a restart goes on where it was left,
    and a different budget for that name is refused.

    Args:
        data: A CSV or Parquet path, or a pandas or polars DataFrame (snapshotted: later edits
            to it do not reach releases).
        name: The source's name in lineage, the ledger and messages; a Python identifier
            (default: the file's stem; a frame needs one).
        privacy_unit: The column naming a person; omitted, every row is a person.
        max_rows_per_unit: Rows one person may contribute; extra rows are dropped before any
            release, and the noise is scaled to this many.
        budget: The total privacy budget (required), e.g. ``jp.Budget(epsilon=3.0)``.
        bounds: Public ``(low, high)`` per numeric column; values are clipped to them. Sums,
            means and quantiles need them. ``"auto"`` for a column (or ``bounds="auto"`` for
            every int and float column without declared bounds, the privacy unit excepted)
            estimates them from the data on first use: a DP release charged to the budget,
            recorded, and replayed free afterwards (``docs/bounds.md``).
        keys: Public categories per column; grouping by declared keys releases every key and
            needs no δ.
        dtypes: Public column kinds (``'int'``, ``'float'``, ``'str'``, ``'bool'``). A CSV has
            none of its own: an undeclared column is a float if it has bounds, of its keys'
            kind if it has keys, and text otherwise, so no person's value can change the schema.
        default_epsilon: The ε of a release that names none.
        alpha: The default interval level is ``1 - alpha``.
        bounds_epsilon: The ε of each automatic bounds release (default: ``default_epsilon``).
        not_null: Columns that never hold a null, e.g. ``["age", "income"]``. A null found
            there anyway is read as 0 (or the bound nearest to 0), ``""`` or ``False``, never
            refused. A whole-table ``describe`` then releases one row count for all of them
            instead of one non-null count per column.

    Returns:
        A guarded frame, pandas-shaped, whose rows are never shown.

    Example:
        >>> patients = jp.register("data/patients.csv", name="patients",
        ...     privacy_unit="patient_id", budget=jp.Budget(epsilon=3.0),
        ...     bounds={"age": (0, 110)}, keys={"state": ["CA", "NY"]})
    """
    ws = workspace()
    declared = SourceDeclaration(
        name=name,
        budget=budget,
        privacy_unit=privacy_unit,
        max_rows_per_unit=max_rows_per_unit,
        bounds=bounds if isinstance(bounds, str) else (bounds or {}),
        keys=keys or {},
        dtypes=dtypes or {},
        default_epsilon=default_epsilon,
        alpha=alpha,
        bounds_epsilon=bounds_epsilon,
        not_null=not_null,
    )
    spec = ws.add_source(data, declared)
    with contextlib.suppress(TypeError):  # paths cannot be weakly referenced, nor displayed
        _raw_frames[id(data)] = (weakref.ref(data), spec.name)
    return SensitiveFrame(ws, spec.name)


def source(name: str) -> SensitiveFrame:
    """The guarded frame of a source registered earlier (here, in privacy.toml or a curator).

    Example:
        >>> patients = jp.source("patients")
    """
    ws = workspace()
    ws.source(name)
    return SensitiveFrame(ws, name)


@overload
def budget(name: None = None) -> BudgetDisplay: ...


@overload
def budget(name: str) -> BudgetState: ...


def budget(name: str | None = None) -> BudgetDisplay | BudgetState:
    """A live budget meter for every source, or one source's ``BudgetState`` by name.

    The meter redraws in place on every charge, from any cell, so one display near the top of
    a notebook stays current.

    Args:
        name: A source's name, for its numbers (total, spent, remaining ε and δ) instead of the
            meter.

    Example:
        >>> jp.budget()                              # the meter
        >>> jp.budget("patients").epsilon_remaining  # a number
    """
    ws = workspace()
    if name is not None:
        return ws.budget_state(name)
    return budget_meter()


def budget_meter() -> BudgetDisplay:
    """The live meter: an HTML display redrawn in place on every charge, from any cell."""
    from jupyter_privacy.jupyter.live import BudgetDisplay

    return BudgetDisplay(workspace())


def lineage() -> LineageDisplay:
    """The live lineage panel: sources → transforms → releases.

    It shows which release came from which plan and data version, so a reader can tell what
    every number in the notebook is; ``.to_dict()`` and ``.to_json(path)`` export it.

    Example:
        >>> jp.lineage().to_json("lineage.json")
    """
    from jupyter_privacy.jupyter.live import LineageDisplay

    return LineageDisplay(workspace())


def audit() -> pd.DataFrame:
    """The audit log as a table: every attempt, released, replayed, refused or failed.

    Refusals are logged too, so the log shows what was asked, not only what was answered;
    ``jupyter-privacy audit verify`` checks its hash chain from a shell.

    Example:
        >>> jp.audit().query("outcome == 'refused'")
    """
    rows = workspace().audit_rows()
    cols = ["seq", "time", "user", "source", "outcome", "plan", "cost", "detail", "hash"]
    return pd.DataFrame(rows, columns=[*cols, "prev_hash"])[cols]


def cut(
    series: SensitiveSeries, bins: Sequence[float], labels: Sequence[str] | None = None
) -> SensitiveSeries:
    """``pd.cut`` with public edges: the bin labels become public keys.

    Edges chosen from the data would leak it; public edges make every bin a declared key, so a
    grouped count releases all of them and needs no δ.

    Args:
        series: A column of a sensitive frame.
        bins: At least two increasing edges.
        labels: One name per bin (default ``"(lo, hi]"``).

    Example:
        >>> patients["band"] = jp.cut(patients.age, [0, 18, 65, 120])
        >>> patients.groupby("band").size(epsilon=0.5)
    """
    return series.cut(bins, labels)


def export_releases(path: str | Path, *, every_notebook: bool = False) -> Path:
    """Write the releases of this notebook (public values only) as a manifest for reviewers.

    A reviewer without the data re-runs the notebook against it with ``jp.replay`` and gets
    the same numbers, at no cost to the budget. When the kernel knows its notebook (JupyterLab, Notebook 7, VS Code, a server's session),
    only that notebook's releases are written (made in it, also under an earlier name, or
    replayed in it), whatever else the ledger holds;
    ``every_notebook=True`` writes every release of the registered sources, as does a run
    whose notebook is unknown (plain Python, a headless run).

    Example:
        >>> jp.export_releases("releases.json")
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

    Replaying returns the recorded numbers rather than drawing new noise, so a rerun neither
    spends budget nor averages noise away.

    Example:
        >>> jp.replay("releases.json")   # before the notebook's jp.register calls
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
