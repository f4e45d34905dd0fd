"""Lineage: where every released number came from, as a graph of public facts only.

The graph runs from each registered source, through one node per distinct prefix of row-wise steps
(filters, derived columns, selections) and grouping, to each release. It is built from the ledger's
release records — plans, released values and metadata — so it can never hold a row. Schema
(``version`` 1), all ids stable across rebuilds::

    {"version": 1,
     "nodes": [{"id": "source:<name>", "kind": "source", ...},
               {"id": "transform:<hash>", "kind": "transform", "op": "filter", ...},
               {"id": "release:<release id>", "kind": "release", ...}],
     "edges": [{"from": "<node id>", "to": "<node id>"}, ...]}

Data versions are named ``v1``, ``v2``… in order of first release. The ledger's content
fingerprint is deliberately left out, here and in exported manifests: it is keyed with the
workspace's secret, but whoever holds that key and knows all rows but one could test guesses
about the last.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.budget import fmt
from jupyter_privacy.core.ledger import replayed_ids
from jupyter_privacy.core.plan import Query, Step
from jupyter_privacy.core.record import ReleaseRecord, finite
from jupyter_privacy.core.release import Release
from jupyter_privacy.core.service import ReleaseService

VERSION = 1
#: Cells of a grouped release kept in its node; the full table stays in the ledger.
MAX_CELLS = 20


def _digest(*parts: Any) -> str:
    body = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def _replay_counts(ws: ReleaseService) -> Counter[str]:
    """How many times each release was returned again from the cache, from the audit log."""
    return Counter(replayed_ids(ws.audit_rows()))


def _step_node(source: str, step: Step, text: str) -> tuple[str, str, str]:
    """(op, label, text after the step) for one row-wise step."""
    if step.kind == "filter" and step.expr is not None:
        return "filter", step.describe(), f"{text}[{step.expr.describe(source)}]"
    if step.kind == "assign" and step.expr is not None and step.name is not None:
        if step.name == step.expr.describe():  # an unnamed derived series, e.g. p.age.clip(...)
            return "derive", f"derive {step.name}", step.expr.describe(source)
        return "assign", step.describe(), f"{text}.assign({step.name}={step.expr.describe(source)})"
    return "select", step.describe(), f"{text}[{list(step.columns)!r}]"


def _query_of(record: ReleaseRecord) -> Query:
    """The release's plan; a plan this version cannot read hangs the release from its source."""
    try:
        return Query.from_json(dict(record.plan or {}))
    except (KeyError, TypeError, ValueError):
        statistic = record.cells[0].statistic if record.cells else "?"
        return Query(record.source, (), statistic, None, record.by)


def _cells(record: ReleaseRecord) -> list[dict[str, Any]]:
    return [
        {
            "key": list(c.key),
            "statistic": c.statistic,
            "value": finite(c.value),
            "ci": [finite(c.ci_low), finite(c.ci_high)] if c.ci_low is not None else None,
            "rank_error": finite(c.rank_error),
        }
        for c in record.cells[:MAX_CELLS]
    ]


def answer_options(epsilon: float, delta: float, alpha: float) -> dict[str, float]:
    """The options that change a release's answer: ``epsilon=`` always, ``delta=`` when it
    spent δ, ``alpha=`` when its intervals are not at 95 %."""
    options: dict[str, float] = {}
    if math.isfinite(epsilon):
        options["epsilon"] = float(epsilon)
    if delta > 0:
        options["delta"] = float(delta)
    if alpha != 0.05:
        options["alpha"] = float(alpha)
    return options


def call_text(query: str, options: dict[str, float]) -> str:
    """``query`` (a call as text, which no longer has its plan) with ``options`` added."""
    if not options or not query.endswith(")"):
        return query
    extra = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return query[:-1] + (", " if not query.endswith("()") else "") + extra + ")"


def release_call(record: ReleaseRecord) -> str:
    """The release's query as code, with the options that change its answer.

    Two releases of one query at two costs are two questions with two answers; their labels
    say so. Re-running the label asks the same question again (and replays the release).
    """
    options = answer_options(record.epsilon, record.delta, record.alpha)
    try:
        return Query.from_json(dict(record.plan or {})).call(**options)
    except (KeyError, TypeError, ValueError):  # a published release keeps no plan: its text
        return call_text(record.query, options)


def _keyed_by_column(query: Query) -> bool:
    """Whether the cells are keyed by the column's values or bins (``value_counts``, ``hist``)."""
    aggregate = AGGREGATES.get(query.statistic)
    return aggregate is not None and aggregate.keyed_by_column


def _grouping(query: Query, record: ReleaseRecord) -> list[str]:
    """What the cells of a table are keyed by: the groupby keys, the counted column of
    ``value_counts`` and ``hist``, or the columns of a frame's ``describe``."""
    if query.by:
        return list(query.by)
    if not any(c.key for c in record.cells):
        return []
    if _keyed_by_column(query) and query.column is not None:
        return [query.column + (" bin" if query.statistic == "hist" else "")]
    return ["column"]


def _release_label(record: ReleaseRecord, query: Query) -> tuple[str, list[str]]:
    """A one-line summary of what was released (naming its column), and the statistics in it."""
    statistics = list(dict.fromkeys(c.statistic for c in record.cells))
    result = record.to_release(replayed=False)
    column = None if _keyed_by_column(query) else query.column
    of = f" of {column}" if column is not None else ""
    if isinstance(result, Release):
        head = repr(result).splitlines()[0].strip()
        return head.replace(f"{result.statistic} = ", f"{result.statistic}{of} = ", 1), statistics
    n = len(record.cells)
    what = ", ".join(statistics[:6]) + (", …" if len(statistics) > 6 else "")
    by = _grouping(query, record)
    where = f" by {', '.join(by)}" if by else ""
    return f"{n} cell{'s' if n != 1 else ''}: {what}{of}{where}", statistics


def _release_node(
    record: ReleaseRecord, query: Query, version: str, replays: int
) -> dict[str, Any]:
    label, statistics = _release_label(record, query)
    cells = _cells(record)
    scalar = record.scalar and len(record.cells) == 1
    node: dict[str, Any] = {
        "id": f"release:{record.id}",
        "kind": "release",
        "release_id": record.id,
        "source": record.source,
        "label": label,
        "query": record.query,
        "call": release_call(record),
        "statistics": statistics,
        "column": query.column,
        "by": list(query.by),
        "scalar": scalar,
        "cells": cells,
        "cell_count": len(record.cells),
        "epsilon": finite(record.epsilon),
        "delta": finite(record.delta),
        "rho": finite(record.rho),
        "alpha": record.alpha,
        "mechanism": record.mechanism,
        "execution_count": record.context.get("execution_count"),
        "created": record.created,
        "replayed": replays,
        "version": version,
        "plan": dict(record.plan) if record.plan is not None else None,
    }
    if scalar:
        node.update(value=cells[0]["value"], ci=cells[0]["ci"], rank_error=cells[0]["rank_error"])
    return node


def _source_node(
    ws: ReleaseService, name: str, versions: list[str], releases: int
) -> dict[str, Any]:
    spec = ws.sources[name]
    state = ws.budget_state(name)
    budget = spec.budget.to_dict()
    text = f"budget {fmt(budget['epsilon'])}" + (
        f", {fmt(budget['delta'], 'δ')}" if budget["delta"] else ""
    )
    return {
        "id": f"source:{name}",
        "kind": "source",
        "source": name,
        "label": name,
        "origin": spec.origin,
        "privacy_unit": spec.privacy_unit,
        "mode": spec.budget.mode,
        "budget": budget,
        "budget_text": text,
        "spent": {"epsilon": state.epsilon_spent, "delta": state.delta_spent},
        "versions": versions,
        "releases": releases,
    }


def build_lineage(ws: ReleaseService) -> dict[str, Any]:
    """The lineage graph of every registered source's releases (public values only); in a
    reviewer's session, of the published releases it replayed."""
    records = ws.releases()
    replays = _replay_counts(ws)
    versions: dict[str, dict[str, str]] = {name: {} for name in ws.sources}
    for r in records:
        seen = versions[r.source]
        seen.setdefault(str(r.fingerprint), f"v{len(seen) + 1}")
    counts = Counter(r.source for r in records)
    nodes: list[dict[str, Any]] = [
        _source_node(ws, name, list(versions[name].values()), counts[name])
        for name in sorted(ws.sources)
    ]
    edges: list[dict[str, str]] = []
    known: set[str] = {n["id"] for n in nodes}

    def link(parent: str, node: dict[str, Any]) -> str:
        if node["id"] not in known:
            known.add(node["id"])
            nodes.append(node)
            edges.append({"from": parent, "to": node["id"]})
        return str(node["id"])

    for r in records:
        query = _query_of(r)
        src = r.source
        parent, text = f"source:{src}", src
        prefix: list[dict[str, Any]] = []
        for depth, step in enumerate(query.steps, start=1):
            prefix.append(step.to_json())
            op, label, text = _step_node(src, step, text)
            parent = link(
                parent,
                {
                    "id": f"transform:{_digest(src, prefix)}",
                    "kind": "transform",
                    "source": src,
                    "op": op,
                    "label": label,
                    "text": text,
                    "step": step.to_json(),
                    "depth": depth,
                },
            )
        if query.by:
            keys = query.by[0] if len(query.by) == 1 else list(query.by)
            text = f"{text}.groupby({keys!r})"
            parent = link(
                parent,
                {
                    "id": f"transform:{_digest(src, prefix, list(query.by))}",
                    "kind": "transform",
                    "source": src,
                    "op": "groupby",
                    "label": f"group by {keys!r}",
                    "text": text,
                    "step": {"kind": "groupby", "by": list(query.by)},
                    "depth": len(query.steps) + 1,
                },
            )
        version = versions[src][str(r.fingerprint)]
        link(parent, _release_node(r, query, version, replays[r.id]))
    return {"version": VERSION, "nodes": nodes, "edges": edges}


class Lineage:
    """A built lineage graph: a dict for tools, JSON for reviewers, a tree for people."""

    def __init__(self, graph: dict[str, Any]) -> None:
        self._graph = graph

    @classmethod
    def from_workspace(cls, ws: ReleaseService) -> Lineage:
        return cls(build_lineage(ws))

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return list(self._graph.get("nodes", []))

    @property
    def edges(self) -> list[dict[str, str]]:
        return list(self._graph.get("edges", []))

    def to_dict(self) -> dict[str, Any]:
        """A deep copy, so callers cannot edit the graph a widget is showing."""
        copy: dict[str, Any] = json.loads(json.dumps(self._graph))
        return copy

    def to_json(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self._graph, indent=1, ensure_ascii=False, allow_nan=False))
        return target

    def _children(self) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], list[str]]:
        by_id = {n["id"]: n for n in self.nodes}
        children: dict[str, list[str]] = {}
        for e in self.edges:
            children.setdefault(e["from"], []).append(e["to"])
        targets = {e["to"] for e in self.edges}
        roots = [n["id"] for n in self.nodes if n["id"] not in targets]
        return by_id, children, roots

    def walk(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(depth, node), depth first from each source, children in order of first release."""
        by_id, children, roots = self._children()
        stack = [(0, r) for r in reversed(roots)]
        while stack:
            depth, node_id = stack.pop()
            yield depth, by_id[node_id]
            stack.extend((depth + 1, c) for c in reversed(children.get(node_id, [])))

    def __repr__(self) -> str:
        counts = Counter(n["kind"] for n in self.nodes)
        lines = [
            f"Lineage: {counts['source']} source(s), {counts['transform']} transform(s), "
            f"{counts['release']} release(s)"
        ]
        by_id, children, roots = self._children()

        def draw(node_id: str, lead: str, branch: str) -> None:
            lines.append(lead + branch + _node_text(by_id[node_id]))
            kids = children.get(node_id, [])
            inner = lead + ("" if not branch else "   " if branch == "└─ " else "│  ")
            for i, kid in enumerate(kids):
                draw(kid, inner, "└─ " if i == len(kids) - 1 else "├─ ")

        for root in roots:
            draw(root, "", "")
        return "\n".join(lines)


def _node_text(node: dict[str, Any]) -> str:
    """One line of plain text for a node, shared by the tree repr and the HTML panel."""
    if node["kind"] == "source":
        versions = ", ".join(node["versions"]) or "no releases yet"
        return (
            f"{node['label']}  ({node['origin']}, {node['budget_text']}, "
            f"spent {fmt(node['spent']['epsilon'])}; data {versions})"
        )
    if node["kind"] == "transform":
        return f"{node['label']}    {node['text']}"
    extras = release_facts(node)
    if node["replayed"]:
        extras.append(f"replayed {node['replayed']}×")
    return f"{node.get('call') or node['query']}  →  {node['label']}   " + " · ".join(extras)


def release_facts(node: dict[str, Any]) -> list[str]:
    """Cost, mechanism and cell of a release node, for the text tree and the HTML panel."""
    cost = fmt(node["epsilon"] or 0.0) + (f", {fmt(node['delta'], 'δ')}" if node["delta"] else "")
    facts = [cost, node["mechanism"]]
    if node["execution_count"] is not None:
        facts.append(f"cell [{node['execution_count']}]")
    return facts


__all__ = ["Lineage", "build_lineage", "release_call"]
