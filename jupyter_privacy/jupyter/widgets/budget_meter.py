"""BudgetMeter: every displayed meter follows every charge, from any cell, with no re-run.

Plain ``ipywidgets.HTML`` underneath, so it renders in JupyterLab, Notebook 7 and VS Code with no
extension of ours; its mimebundle also carries text/html and text/plain, so static exports show it.
Only budget states (public metadata) are synced.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets
import traitlets

from jupyter_privacy.core.pricing import BudgetState
from jupyter_privacy.core.service import Event, ReleaseService
from jupyter_privacy.jupyter.render import budget_html


class Live(Protocol):
    """What a workspace subscription needs from a widget."""

    @property
    def closed(self) -> bool: ...

    def refresh(self) -> None: ...


def subscribe(ws: ReleaseService, widget: Live) -> Callable[[], None]:
    """Refresh ``widget`` on every workspace event; return the function that unsubscribes.

    The listener holds the widget only weakly: the workspace lives for the whole kernel and must
    not keep every meter ever shown alive. A collected or closed widget drops its listener.
    """
    ref = weakref.ref(widget)

    def listener(event: Event) -> None:
        target = ref()
        if target is None or target.closed:
            unsubscribe()
            return
        target.refresh()

    unsubscribe = ws.subscribe(listener)
    weakref.finalize(widget, unsubscribe)
    return unsubscribe


class LiveHTML(ipywidgets.HTML):  # type: ignore[misc]  # ipywidgets ships no type hints
    """An HTML widget redrawn from the workspace on every charge, release and registration."""

    def __init__(self, ws: ReleaseService, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ws = ws
        try:
            self.refresh()
        except BaseException:
            super().close()  # do not leave a half-made widget registered with its comm open
            raise
        self._unsubscribe = subscribe(ws, self)

    @property
    def closed(self) -> bool:
        return self.comm is None

    def refresh(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop following the workspace and close the comm."""
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        super().close()

    def _repr_html_(self) -> str:
        """What a closed widget (no comm) still shows."""
        return str(self.value)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view, plus text/html and text/plain fallbacks for static exports."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = str(self.value)
        return bundle


class BudgetMeter(LiveHTML):
    """A live meter of every registered source's budget (ε, and δ under zCDP)."""

    states = traitlets.List(
        traitlets.Dict(), help="BudgetState.to_dict() of each source, by name"
    ).tag(sync=True)

    def __init__(self, ws: ReleaseService, **kwargs: Any) -> None:
        self._last: list[BudgetState] = []
        super().__init__(ws, **kwargs)

    def refresh(self) -> None:
        states = [self._ws.budget_state(name) for name in sorted(self._ws.sources)]
        self._last = states
        with self.hold_sync():
            self.value = budget_html(states)
            self.states = [s.to_dict() for s in states]

    def __repr__(self) -> str:
        lines = [f"  {s!r}" for s in self._last] or ["  no sources registered"]
        return "BudgetMeter\n" + "\n".join(lines)
