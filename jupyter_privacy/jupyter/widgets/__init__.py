"""Live widgets on plain ipywidgets: the budget meter and the lineage panel."""

from __future__ import annotations

from jupyter_privacy.jupyter.widgets.budget_meter import BudgetMeter
from jupyter_privacy.jupyter.widgets.lineage_panel import LineagePanel

__all__ = ["BudgetMeter", "LineagePanel"]
