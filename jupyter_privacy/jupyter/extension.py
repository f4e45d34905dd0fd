"""``%load_ext jupyter_privacy``: policy, read interception, display guard, renderers, comm.

Everything patched here is recorded and restored by ``unload``. The hooks that run on every cell
do nothing unless a raw frame was registered, so cells that touch no sensitive data pay ~nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

import jupyter_privacy.api as api
from jupyter_privacy.core.policy import load_policy
from jupyter_privacy.core.pricing import BudgetState
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.frame import SensitiveFrame, SensitiveGroupBy, SensitiveSeries
from jupyter_privacy.jupyter import charts, display_guard, refusal, render
from jupyter_privacy.jupyter.comm import TARGET, CommChannel, KernelContext
from jupyter_privacy.jupyter.magics import PrivacyMagics

READERS = ("read_csv", "read_parquet")


@dataclass
class _Loaded:
    shell: Any
    readers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    formatters: list[tuple[Any, type | str, Any]] = field(default_factory=list)
    channel: CommChannel | None = None
    warned: set[tuple[str, str]] = field(default_factory=set)
    policy: Path | None = None
    context: KernelContext | None = None
    #: Stops the kernel context hearing the current workspace's events.
    unsubscribe: Callable[[], None] = lambda: None


_loaded: _Loaded | None = None


def _policy_path(shell: Any) -> Path | None:
    named = os.environ.get("JUPYTER_PRIVACY_POLICY")
    if named:
        return Path(named)
    candidate = Path.cwd() / "privacy.toml"
    return candidate if candidate.is_file() else None


def _registered_path(path: Any) -> str | None:
    """The source registered for this file, whatever its spelling (relative, symlink, ~)."""
    if not isinstance(path, str | os.PathLike):
        return None
    ws = api.workspace()
    manifest = getattr(ws, "manifest", None)
    if manifest is not None:  # a reviewer without the data: match by file name
        for name, described in manifest.sources.items():
            recorded = described.get("path")
            if recorded and Path(recorded).name == Path(path).name:
                if name not in ws.sources:
                    api.register(path, name=name)
                return name
        return None
    try:
        wanted = Path(path).expanduser()
        if not wanted.is_file():
            return None
        for name, spec in api.workspace().sources.items():
            if isinstance(spec.data, Path) and spec.data.is_file() and wanted.samefile(spec.data):
                return name
    except OSError:
        return None
    return None


def _intercept(original: Callable[..., Any]) -> Callable[..., Any]:
    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        name = _registered_path(path)
        if name is not None:
            return SensitiveFrame(api.workspace(), name)
        return original(path, *args, **kwargs)

    reader.__wrapped__ = original  # type: ignore[attr-defined]
    reader.__doc__ = original.__doc__
    return reader


def _show_table(table: ReleaseTable) -> bool:
    """A release table shows as two outputs: the table (HTML and text), then its chart (Vega-Lite
    for the live notebook, SVG for exports). Both are plain displays: nothing needs a widget."""
    from IPython.display import display

    display(
        {"text/html": render.table_html(table), "text/plain": render.table_text(table)}, raw=True
    )
    if table.cells:
        display(charts.table_chart_bundle(table, render.call_text(table.meta)), raw=True)
    return True


def _repr_html(obj: Any) -> str:
    """Frames, columns and groupings show their schema text as HTML too (exports, VS Code)."""
    return render.text_html(repr(obj))


def _budget_state_html(state: BudgetState) -> str:
    """``patients.budget``: the meter of that one source."""
    return render.budget_html([state])


def _guard_html(obj: Any) -> str | None:
    name = api.is_registered_raw(obj)
    if name is None:
        return obj._repr_html_() if hasattr(obj, "_repr_html_") else None
    return display_guard.guard_html(name)


def _guard_text(obj: Any, printer: Any, cycle: bool) -> None:
    name = api.is_registered_raw(obj)
    printer.text(repr(obj) if name is None else display_guard.guard_text(name))


def _warn_reachable_raw(shell: Any, state: _Loaded) -> None:
    frames = api.registered_raw_frames()
    if not frames:
        return
    ns = shell.user_ns
    for obj, source in frames:
        for key, value in list(ns.items()):
            if value is obj and not key.startswith("_") and (key, source) not in state.warned:
                state.warned.add((key, source))
                warnings.warn(
                    f"the raw frame registered as '{source}' is still reachable as `{key}`; "
                    f"use `{key} = jp.source('{source}')` or `del {key}`",
                    UserWarning,
                    stacklevel=1,
                )


def load(shell: Any) -> None:
    """Install everything; idempotent."""
    global _loaded
    if _loaded is not None:
        return
    state = _Loaded(shell)
    refusal.install()  # first: a policy that cannot load is refused in a few lines, too
    ws = api.workspace()
    policy_path = _policy_path(shell)
    if policy_path is not None:
        policy = load_policy(policy_path)
        if policy.curator is not None:  # curator mode: the curator owns the sources
            ws = api.connect(policy.curator.target, token_file=policy.curator.token_file)
        else:
            for source in policy.sources:
                manifest = getattr(ws, "manifest", None)
                if manifest is not None and source.name not in manifest.sources:
                    # A reviewer's manifest covers what was published; the rest is not needed.
                    warnings.warn(
                        f"jupyter-privacy: {source.name!r} is declared in {policy_path.name} "
                        "but not in the release manifest; it is not registered in replay mode",
                        stacklevel=2,
                    )
                    continue
                ws.add_source(source.path, source.declaration)
        state.policy = policy_path
    for name in READERS:
        state.readers[name] = getattr(pd, name)
        setattr(pd, name, _intercept(state.readers[name]))
    formatters = shell.display_formatter.formatters
    html, plain = formatters["text/html"], formatters["text/plain"]
    bundles = shell.display_formatter.mimebundle_formatter
    itself = shell.display_formatter.ipython_display_formatter
    altair_chart = ".".join(charts.ALTAIR_CHART)  # by name: Altair is imported when first used
    for fmt, typ, func in (
        (html, Release, render.release_html),
        (html, ReleaseTable, render.table_html),
        (itself, ReleaseTable, _show_table),
        (bundles, altair_chart, charts.altair_bundle),
        (html, Estimate, display_guard.estimate_html),
        (html, BudgetState, _budget_state_html),
        (html, SensitiveFrame, _repr_html),
        (html, SensitiveSeries, _repr_html),
        (html, SensitiveGroupBy, _repr_html),
        (html, pd.DataFrame, _guard_html),
        (html, pl.DataFrame, _guard_html),
        (plain, pd.DataFrame, _guard_text),
        (plain, pl.DataFrame, _guard_text),
    ):
        state.formatters.append((fmt, typ, fmt.for_type(typ, func)))
    shell.register_magics(PrivacyMagics)
    state.context = KernelContext(shell)
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        state.channel = CommChannel(ws, state.context, state.context)
        from comm import get_comm_manager

        get_comm_manager().register_target(TARGET, state.channel.open)
        state.channel.announce()  # the JupyterLab sidebar goes live without polling
    ws.context = state.context  # each release records its cell and notebook
    state.unsubscribe = ws.subscribe(state.context.on_event)  # ... and what it returned
    api.workspace_changed.append(_switched)
    shell.events.register("post_run_cell", _post_run_cell)
    _loaded = state


def _switched(ws: Any) -> None:
    """``jp.use_workspace`` or ``jp.connect`` replaced the workspace: the sidebar, the cell
    context and the live displays follow it."""
    state = _loaded
    if state is None:
        return
    if state.context is not None:
        ws.context = state.context
        state.unsubscribe()
        state.unsubscribe = ws.subscribe(state.context.on_event)
    if state.channel is not None:
        state.channel.switch(ws)


def _post_run_cell(result: Any) -> None:
    if _loaded is not None:
        _warn_reachable_raw(_loaded.shell, _loaded)


def unload(shell: Any) -> None:
    """Restore everything ``load`` changed."""
    global _loaded
    state = _loaded
    if state is None:
        return
    for name, original in state.readers.items():
        setattr(pd, name, original)
    for fmt, typ, previous in state.formatters:
        fmt.pop(typ, None)
        if previous is not None:
            fmt.for_type(typ, previous)
    refusal.uninstall()
    magics = shell.magics_manager.magics["line"]
    magics.pop("privacy", None)
    if state.channel is not None:
        state.channel.close()
        from comm import get_comm_manager

        get_comm_manager().unregister_target(TARGET, state.channel.open)
    ws = api.workspace()
    ws.context = dict
    state.unsubscribe()
    if _switched in api.workspace_changed:
        api.workspace_changed.remove(_switched)
    shell.events.unregister("post_run_cell", _post_run_cell)
    _loaded = None


def is_loaded() -> bool:
    return _loaded is not None
