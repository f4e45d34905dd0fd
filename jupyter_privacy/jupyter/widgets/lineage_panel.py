"""LineagePanel: sources → transforms → releases, redrawn on every workspace event.

Plain ``ipywidgets.HTML`` (nested lists, no script), so it renders without an extension of ours and
in static exports. The synced ``graph`` is ``core.lineage``'s public graph: plans, released values
and metadata, never a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import traitlets

from jupyter_privacy.core.lineage import Lineage, build_lineage
from jupyter_privacy.jupyter.render import lineage_html
from jupyter_privacy.jupyter.widgets.budget_meter import LiveHTML


class LineagePanel(LiveHTML):
    """The live lineage graph; ``.to_dict()`` and ``.to_json(path)`` for reviewers and tools."""

    graph = traitlets.Dict(help="the lineage graph (version 1), see core.lineage").tag(sync=True)

    def refresh(self) -> None:
        graph = build_lineage(self._ws)
        with self.hold_sync():
            self.value = lineage_html(graph)
            self.graph = graph

    def lineage(self) -> Lineage:
        """The graph as it is now (rebuilt, so a closed panel still answers truly)."""
        return Lineage.from_workspace(self._ws)

    def to_dict(self) -> dict[str, Any]:
        return self.lineage().to_dict()

    def to_json(self, path: str | Path) -> Path:
        return self.lineage().to_json(path)

    def __repr__(self) -> str:
        return repr(Lineage(self.graph))
