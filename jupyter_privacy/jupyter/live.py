"""Live HTML displays: the budget meter and the lineage panel, redrawn in place by display id.

``jp.budget()`` and ``jp.lineage()`` return these. Each is an ordinary display (``text/html`` and
``text/plain``, no widget, no script) shown with a display id; every charge, release or
registration redraws every output that shows it with ``update_display``, from whichever cell runs.
So it reads the same in JupyterLab, Notebook 7, VS Code, a headless run (nbconvert, papermill)
and the HTML exported from it: the notebook file holds the last state as plain HTML.

Only budget states and the lineage graph (public metadata and released values) are rendered.
"""

from __future__ import annotations

import uuid
import weakref
from pathlib import Path
from typing import Any

import jupyter_privacy.api as api
from jupyter_privacy.core.lineage import Lineage, build_lineage
from jupyter_privacy.core.service import Event, ReleaseService
from jupyter_privacy.jupyter import render

HTML = "text/html"
PLAIN = "text/plain"

#: Displays that follow the current workspace when ``jp.use_workspace`` or ``jp.connect``
#: replaces it.
_following: weakref.WeakSet[LiveDisplay] = weakref.WeakSet()


class LiveDisplay:
    """An HTML display that follows a workspace and redraws every output showing it."""

    kind = "live"
    #: Workspace events that change what this display shows.
    events: tuple[str, ...] = ("charge", "release", "source_registered")

    def __init__(self, ws: ReleaseService, *, follow: bool = True) -> None:
        self.display_id = f"jupyter-privacy-{self.kind}-{uuid.uuid4().hex[:12]}"
        self._ws = ws
        self._shown = False
        self._closed = False
        self._listener: Any = None
        self._bundle = self._render()
        self._subscribe(ws)
        if follow:
            _following.add(self)

    # --- following the workspace -----------------------------------------------------------------
    def _subscribe(self, ws: ReleaseService) -> None:
        ref = weakref.ref(self)

        def listener(event: Event) -> None:
            target = ref()
            if target is None or target._closed:
                unsubscribe()
                return
            if event.type in target.events:
                target.refresh()

        unsubscribe = ws.subscribe(listener)
        self._listener = unsubscribe
        weakref.finalize(self, unsubscribe)

    def _unsubscribe(self) -> None:
        if self._listener is not None:
            self._listener()
            self._listener = None

    def follow(self, ws: ReleaseService) -> None:
        """Show ``ws`` from now on (the kernel switched workspaces)."""
        if self._closed or ws is self._ws:
            return
        self._unsubscribe()
        self._ws = ws
        self._subscribe(ws)
        self.refresh()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop following the workspace; the outputs keep the last state."""
        self._closed = True
        self._unsubscribe()
        _following.discard(self)

    # --- drawing -----------------------------------------------------------------------------------
    def _render(self) -> dict[str, str]:
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw from the workspace; every output showing this display changes in place."""
        bundle = self._render()
        if bundle == self._bundle:
            return
        self._bundle = bundle
        if self._shown:
            from IPython.display import update_display

            update_display(bundle, raw=True, display_id=self.display_id)

    @property
    def value(self) -> str:
        """The HTML shown now."""
        return self._bundle[HTML]

    @property
    def text(self) -> str:
        """The plain text shown now."""
        return self._bundle[PLAIN]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(dict(self._bundle), raw=True, display_id=self.display_id)
        self._shown = True

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return dict(self._bundle)

    def _repr_html_(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return self.text


def _mode_note(ws: ReleaseService) -> str | None:
    if ws.mode == "replay":
        return "replay mode: every value is a published release; nothing is charged"
    return None


class BudgetDisplay(LiveDisplay):
    """The budget of every registered source (ε, and δ under zCDP), live."""

    kind = "budget"

    def states(self) -> list[Any]:
        return [self._ws.budget_state(name) for name in sorted(self._ws.sources)]

    def _render(self) -> dict[str, str]:
        states, note = self.states(), _mode_note(self._ws)
        return {HTML: render.budget_html(states, note), PLAIN: render.budget_text(states, note)}


class LineageDisplay(LiveDisplay):
    """Sources → transforms → releases, live; ``.to_dict()`` and ``.to_json(path)``."""

    kind = "lineage"
    events = ("release", "source_registered")  # a charge alone adds no node

    def _render(self) -> dict[str, str]:
        graph = build_lineage(self._ws)
        return {HTML: render.lineage_html(graph), PLAIN: repr(Lineage(graph))}

    def lineage(self) -> Lineage:
        """The graph as it is now (rebuilt, so a closed panel still answers truly)."""
        return Lineage.from_workspace(self._ws)

    def to_dict(self) -> dict[str, Any]:
        return self.lineage().to_dict()

    def to_json(self, path: str | Path) -> Path:
        return self.lineage().to_json(path)


def _switched(ws: ReleaseService) -> None:
    for display in list(_following):
        display.follow(ws)


if _switched not in api.workspace_changed:
    api.workspace_changed.append(_switched)


__all__ = ["BudgetDisplay", "LineageDisplay", "LiveDisplay"]
