"""The messages of the ``jupyter_privacy`` comm as ``TypedDict``s, both directions.

The normative definition is the JSON Schema shipped beside this module, ``comm_schema.json``
(draft 2020-12, explained in ``docs/comm-schema.md``); the sidebar's TypeScript types are
generated from it (``labextension/src/commSchema.ts``). Each class here mirrors the ``$defs``
entry of the same name, key for key: ``tests/jupyter/test_comm_schema.py`` checks that the two
agree and that real messages validate.

No ``from __future__ import annotations`` here: ``NotRequired`` must stay visible at run time
for ``__required_keys__`` (and so for that test) to be right.
"""

import json
from functools import cache
from importlib.resources import files
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

SCHEMA_FILE = "comm_schema.json"

SchemaVersion: TypeAlias = Literal["jupyter-privacy/1.1"]
KernelMode: TypeAlias = Literal["guard-rail", "curator", "replay"]
BudgetMode: TypeAlias = Literal["pure", "zcdp"]
#: A cell's key: group values, a counted value or a bin, a column name; empty for a scalar.
Key: TypeAlias = list[str | float | bool | None]
#: ``[low, high]``; a non-finite end is ``None``.
Interval: TypeAlias = list[float | None]


@cache
def comm_schema() -> dict[str, Any]:
    """The JSON Schema of every comm message (a fresh copy is not needed: do not modify it)."""
    text = files("jupyter_privacy.jupyter").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# --- kernel → frontend -------------------------------------------------------------------------


class BudgetState(TypedDict):
    """One source's budget, in the units the user reads (ε and δ; ρ on request)."""

    source: str
    mode: BudgetMode
    epsilon_total: float
    epsilon_spent: float
    delta_total: float
    delta_spent: float
    rho_total: float
    rho_spent: float
    naive_epsilon: float
    default_epsilon: float
    epsilon_remaining: float
    delta_remaining: float


class ReleaseCell(TypedDict):
    """One released number; non-finite numbers are ``None``."""

    key: Key
    statistic: str
    value: float | None
    ci: Interval | None
    rank_error: float | None


class ReleaseSummary(TypedDict):
    """One release as the sidebar shows it."""

    id: str
    source: str
    query: str
    label: str
    epsilon: float
    delta: float
    alpha: float
    mechanism: str
    created: str
    execution_count: int | None
    cell_id: str | None
    notebook: str | None
    published: bool
    scalar: bool
    cells: list[ReleaseCell]
    cell_count: int


class EventContext(TypedDict):
    """The cell running when the event happened."""

    execution_count: int | None
    cell_id: str | None
    notebook: str | None


class ReleaseEvent(TypedDict):
    """A release was returned: made now, or replayed (not charged again)."""

    type: Literal["release"]
    source: str
    release_id: str
    replayed: bool
    context: NotRequired[EventContext]


class BudgetEvent(TypedDict):
    """A charge, or a newly registered source: the budget changed."""

    type: Literal["charge", "source_registered"]
    source: str
    context: NotRequired[EventContext]


WorkspaceEvent: TypeAlias = ReleaseEvent | BudgetEvent


class Budget(TypedDict):
    epsilon: float
    delta: float


class SourceNode(TypedDict):
    """A registered source in the lineage graph."""

    id: str
    kind: Literal["source"]
    source: str
    label: str
    origin: str
    privacy_unit: str | None
    mode: BudgetMode
    budget: Budget
    budget_text: str
    spent: Budget
    versions: list[str]
    releases: int


class Step(TypedDict):
    """A row-wise step or a grouping, in the plan's JSON form (more keys by kind)."""

    kind: str


class TransformNode(TypedDict):
    """One distinct prefix of row-wise steps, or a grouping."""

    id: str
    kind: Literal["transform"]
    source: str
    op: Literal["filter", "assign", "derive", "select", "groupby"]
    label: str
    text: str
    step: Step
    depth: int


class ReleaseNode(TypedDict):
    """A release in the lineage graph; ``value``, ``ci`` and ``rank_error`` when scalar."""

    id: str
    kind: Literal["release"]
    release_id: str
    source: str
    label: str
    query: str
    call: str
    statistics: list[str]
    column: str | None
    by: list[str]
    scalar: bool
    cells: list[ReleaseCell]
    cell_count: int
    epsilon: float | None
    delta: float | None
    rho: float | None
    alpha: float
    mechanism: str
    execution_count: int | None
    created: str
    replayed: int
    version: str
    plan: dict[str, Any] | None
    value: NotRequired[float | None]
    ci: NotRequired[Interval | None]
    rank_error: NotRequired[float | None]


LineageNode: TypeAlias = SourceNode | TransformNode | ReleaseNode
LineageEdge = TypedDict("LineageEdge", {"from": str, "to": str})


class LineageGraph(TypedDict):
    version: Literal[1]
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class SnapshotMessage(TypedDict):
    """Everything the sidebar shows: sent when a comm opens and on ``request_snapshot``."""

    schema: SchemaVersion
    type: Literal["snapshot"]
    mode: KernelMode
    notebook: str | None
    budget: list[BudgetState]
    releases: list[ReleaseSummary]
    lineage: LineageGraph
    sent_at: float


class EventMessage(TypedDict):
    """Sent to every open comm after each workspace event."""

    schema: SchemaVersion
    type: Literal["event"]
    mode: KernelMode
    event: WorkspaceEvent
    budget: list[BudgetState]
    release: ReleaseSummary | None
    sent_at: float


class LineageMessage(TypedDict):
    """The answer to ``request_lineage``."""

    schema: SchemaVersion
    type: Literal["lineage"]
    lineage: LineageGraph
    sent_at: float


KernelMessage: TypeAlias = SnapshotMessage | EventMessage | LineageMessage


# --- frontend → kernel -------------------------------------------------------------------------


class RequestSnapshot(TypedDict):
    """Ask for a snapshot (also the data of a comm the frontend opens)."""

    type: Literal["request_snapshot"]
    limit: NotRequired[int]
    notebook: NotRequired[str]


class RequestLineage(TypedDict):
    type: Literal["request_lineage"]


class Hello(TypedDict):
    """The notebook the kernel runs (not answered)."""

    type: Literal["hello"]
    notebook: str


FrontendMessage: TypeAlias = RequestSnapshot | RequestLineage | Hello

#: Every object in the schema's ``$defs`` and its ``TypedDict`` (the test compares their keys).
TYPED_DEFS: dict[str, type] = {
    t.__name__: t
    for t in (
        BudgetState,
        ReleaseCell,
        ReleaseSummary,
        EventContext,
        ReleaseEvent,
        BudgetEvent,
        Budget,
        SourceNode,
        Step,
        TransformNode,
        ReleaseNode,
        LineageEdge,
        LineageGraph,
        SnapshotMessage,
        EventMessage,
        LineageMessage,
        RequestSnapshot,
        RequestLineage,
        Hello,
    )
}
