"""HTML and plain text for releases, budgets and lineage: pure functions of public values.

Every string that reaches the markup goes through ``html.escape``. Styles are inline and use
JupyterLab's CSS variables, with VS Code's as the next choice and plain fallbacks last, so the same
markup follows the light and dark themes in JupyterLab and Notebook 7, in VS Code, and still reads
in a static export (nbconvert, nbviewer), where no stylesheet of ours is loaded.

Class names start with ``jpp-``: the lab extension's stylesheet (``jp-privacy-*``, the sidebar's)
applies to the whole page, outputs included, so the two never share a class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from jupyter_privacy.core.budget import fmt
from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.lineage import Lineage, answer_options, release_facts
from jupyter_privacy.core.lineage import call_text as lineage_call
from jupyter_privacy.core.release import Meta, Release, ReleaseTable, number_text
from jupyter_privacy.core.usefulness import accuracy_note
from jupyter_privacy.core.workspace import BudgetState

TEXT = "var(--jp-ui-font-color1, var(--vscode-editor-foreground, inherit))"
MUTED = "var(--jp-ui-font-color2, var(--vscode-descriptionForeground, inherit))"
BORDER = "var(--jp-border-color2, var(--vscode-panel-border, rgba(128, 128, 128, 0.45)))"
TRACK = "var(--jp-layout-color3, rgba(128, 128, 128, 0.3))"
OK = "var(--jp-brand-color1, #1976d2)"
WARN = "var(--jp-warn-color1, #f57c00)"
ERROR = "var(--jp-error-color1, #d32f2f)"
INFO = "var(--jp-info-color1, #0097a7)"
FONT = "font-family: var(--jp-ui-font-family, var(--vscode-font-family, system-ui, sans-serif))"
CODE = "font-family: var(--jp-code-font-family, var(--vscode-editor-font-family, monospace))"
#: Past this fraction of ε spent the meter turns amber.
WARN_FRACTION = 0.8


def _badge(text: str, color: str) -> str:
    """A small outlined word; the word is in the text colour, so it reads on any background."""
    return (
        f'<span class="jpp-badge" style="display:inline-block; margin-left:0.4em; '
        f"padding:0 0.45em; border:1px solid {color}; border-radius:0.8em; color:{TEXT}; "
        f'font-size:0.8em; line-height:1.5; vertical-align:middle">{escape(text)}</span>'
    )


def _badges(replayed: bool) -> str:
    out = _badge("noised", OK)
    if replayed:
        out += _badge("replayed", INFO)
    return out


def _card(kind: str, label: str, inner: str) -> str:
    return (
        f'<div class="jpp-{kind}" role="group" aria-label="{escape(label)}" '
        f'style="{FONT}; color:{TEXT}; border:1px solid {BORDER}; border-radius:4px; '
        f'padding:6px 10px; margin:2px 0; display:inline-block; max-width:100%">{inner}</div>'
    )


def call_text(meta: Meta) -> str:
    """The query as code with the options that change its answer (``epsilon=`` …)."""
    return lineage_call(meta.query, answer_options(meta.epsilon, meta.delta, meta.alpha))


def _query_line(query: str) -> str:
    return f'<div><code style="{CODE}; font-size:0.9em">{escape(query)}</code></div>'


def release_html(r: Release) -> str:
    """A release card: value ± half-width, the interval and its level, cost, mechanism, badges."""
    low, high = r.ci
    spread = ""
    if low is not None and high is not None and math.isfinite(high - low):
        spread = f" <span>± {escape(number_text((high - low) / 2))}</span>"
    head = (
        f'<div><span style="color:{MUTED}">{escape(r.statistic)}</span> '
        f'<strong style="font-size:1.3em">{escape(number_text(r.value))}</strong>{spread} '
        f'<span style="color:{MUTED}">({escape(r.interval_text())})</span>'
        f"{_badges(r.replayed)}</div>"
    )
    foot = (
        f'<div style="color:{MUTED}; font-size:0.85em">cost {escape(r.meta.cost_text())} · '
        f"{escape(r.mechanism)} · release {escape(r.id)}</div>"
    )
    return _card(
        "release", "differentially private release", head + _query_line(call_text(r.meta)) + foot
    )


#: ``patients.state.value_counts()`` or ``patients['a b'].hist(bins=5)``: the counted column.
_COUNTED = re.compile(
    r"(?:\.(?P<attr>[A-Za-z_]\w*)|\[(?P<item>'[^']*'|\"[^\"]*\")\])"
    r"\.(?P<stat>value_counts|hist)\([^()]*\)$"
)


def counted_column(query: str) -> str | None:
    """The column a ``value_counts()`` or ``hist()`` release counted, read from its query text."""
    match = _COUNTED.search(query)
    if match is None:
        return None
    return match.group("attr") or match.group("item")[1:-1]


def table_frame(t: ReleaseTable) -> Any:
    """``t.to_pandas()``, its index named after what the cells are keyed by (the counted column
    of ``value_counts`` and ``hist``, not the placeholder "column")."""
    frame = t.to_pandas()
    column = None if t.meta.by else counted_column(t.query)
    if column is not None and "column" in (frame.index.names or []):
        frame = frame.rename_axis(index={"column": column})
    return frame


def _has_rank_bounds(t: ReleaseTable) -> bool:
    return any(c.rank_error is not None for c in t.cells)


def _table_note(t: ReleaseTable) -> str:
    level = f"{(1 - t.alpha) * 100:g}%"
    note = f"{level} intervals"
    if _has_rank_bounds(t):
        note += "; quantiles carry a rank bound (rank_error, in rows)"
    return note


def accuracy_text(t: ReleaseTable) -> str:
    """Whether the table meets the accuracy target, judged from its released numbers."""
    return accuracy_note(t.cells, t.meta.epsilon, call_text(t.meta))


def table_html(t: ReleaseTable) -> str:
    """The released table (value, ci_low, ci_high, rank bounds) under the same header as a card."""
    head = (
        f"<div><strong>{len(t)} released value{'s' if len(t) != 1 else ''}</strong>"
        f"{_badges(t.replayed)}</div>"
        + _query_line(call_text(t.meta))
        + f'<div style="color:{MUTED}; font-size:0.85em">cost {escape(t.meta.cost_text())} · '
        f"{escape(t.meta.mechanism)} · {escape(_table_note(t))} · release {escape(t.id)}</div>"
    )
    if t.cells:
        verdict, at, rest = accuracy_text(t).partition(" at ε")
        head += (
            f'<div class="jpp-accuracy" style="font-size:0.85em"><strong>{escape(verdict)}</strong>'
            f"{escape(at + rest)}</div>"
        )

    if t.cells:
        body = table_frame(t).to_html(
            escape=True, na_rep="—", float_format=number_text, border=0, classes="jpp-table"
        )
    else:
        body = f'<div style="color:{MUTED}">(no rows released)</div>'
    return _card("release-table", "differentially private release table", head + body)


def table_text(t: ReleaseTable) -> str:
    """The plain-text form of a table (terminals, text exports)."""
    tags = "noised" + (", replayed" if t.replayed else "")
    head = f"{call_text(t.meta)}   cost {t.meta.cost_text()}   [{tags}]"
    body = table_frame(t).to_string() if t.cells else "(no rows released)"
    accuracy = f"\n{accuracy_text(t)}" if t.cells else ""
    return f"{head}\n{body}\n({_table_note(t)}){accuracy}"


def text_html(text: str) -> str:
    """Plain text (a schema, a repr) as HTML that keeps its lines and follows the theme."""
    return (
        f'<pre class="jpp-text" style="{CODE}; color:{TEXT}; background:transparent; '
        f'margin:2px 0; white-space:pre-wrap">{escape(text)}</pre>'
    )


def refusal_html(err: PrivacyError) -> str:
    """The three-part refusal (what, the numbers, the fix as code), never a traceback."""
    return (
        f'<pre class="jpp-refusal" role="alert" style="{CODE}; color:{TEXT}; '
        f"border-left:3px solid {ERROR}; padding:4px 10px; margin:2px 0; white-space:pre-wrap; "
        f'background:transparent">{escape(err.render())}</pre>'
    )


def budget_level(state: BudgetState) -> str:
    """``ok``, ``warn`` past 80 % of ε spent, or ``spent``."""
    if state.epsilon_remaining <= 0 or state.fraction_spent >= 1.0:
        return "spent"
    return "warn" if state.fraction_spent > WARN_FRACTION else "ok"


_LEVEL_WORDS = {"ok": "", "warn": "⚠ over 80% spent", "spent": "✕ budget spent"}


def _budget_numbers(state: BudgetState) -> str:
    numbers = (
        f"spent {fmt(state.epsilon_spent)} of {state.epsilon_total:g} · "
        f"remaining {fmt(state.epsilon_remaining)}"
    )
    if state.mode == "zcdp":
        numbers += f" · {fmt(state.delta_spent, 'δ')} of {state.delta_total:g}"
    return numbers


def _budget_notes(state: BudgetState) -> list[str]:
    level = budget_level(state)
    notes = [f"one more default query costs {fmt(state.default_epsilon)}"]
    if (
        state.mode == "pure"
        and level != "spent"
        and state.default_epsilon > state.epsilon_remaining
    ):
        notes[0] += " (more than remains)"
    if state.mode == "zcdp":
        notes.append(
            f"composed ε {state.epsilon_spent:.3f} "
            f"(the per-query ε add up to {state.naive_epsilon:.3f})"
        )
    return notes


def _budget_row(state: BudgetState) -> str:
    level = budget_level(state)
    color = {"ok": OK, "warn": WARN, "spent": ERROR}[level]
    percent = 100 * state.fraction_spent
    numbers = _budget_numbers(state)
    status = _LEVEL_WORDS[level]
    small = f"color:{MUTED}; font-size:0.85em; line-height:1.4"
    return (
        f'<div class="jpp-meter" data-source="{escape(state.source)}" '
        f'data-level="{level}" style="margin:4px 0 10px; line-height:1.4">'
        f'<div style="display:flex; flex-wrap:wrap; justify-content:space-between; gap:0 1em">'
        f'<strong class="jpp-meter-source">{escape(state.source)}</strong>'
        f'<span class="jpp-meter-numbers">{escape(numbers)}</span></div>'
        f'<div role="meter" aria-label="{escape(state.source)} privacy budget spent" '
        f'aria-valuemin="0" aria-valuemax="{state.epsilon_total:g}" '
        f'aria-valuenow="{state.epsilon_spent:.6g}" aria-valuetext="{escape(numbers)}" '
        f'style="height:8px; margin:3px 0; background:{TRACK}; border-radius:4px; '
        f'overflow:hidden">'
        f'<div style="width:{percent:.1f}%; height:100%; background:{color}"></div></div>'
        f'<div class="jpp-meter-notes" style="{small}">'
        + (f'<strong style="color:{TEXT}">{escape(status)}</strong> · ' if status else "")
        + f"{escape(' · '.join(_budget_notes(state)))}</div></div>"
    )


def budget_html(states: Sequence[BudgetState], note: str | None = None) -> str:
    """One bar per source: amber past 80 % of ε, red when spent; ε (and δ) in words too.
    ``note`` says something about all of them (replay mode)."""
    if not states:
        rows = (
            f'<div style="color:{MUTED}">No sources registered yet: '
            f'<code style="{CODE}">jp.register(...)</code></div>'
        )
    else:
        rows = "".join(_budget_row(s) for s in states)
    if note:
        rows += f'<div class="jpp-budget-note" style="font-size:0.85em">{escape(note)}</div>'
    return (
        f'<div class="jpp-budget" role="group" aria-label="privacy budget" '
        f'style="{FONT}; color:{TEXT}; min-width:18em; max-width:48em; '
        f'padding:2px 0">{rows}</div>'
    )


def budget_text(states: Sequence[BudgetState], note: str | None = None) -> str:
    """The meter as plain text: a bar of 20 characters per source, then the numbers in words."""
    if not states:
        return "Privacy budget: no sources registered yet (jp.register(...))" + (
            f"\n  ({note})" if note else ""
        )
    lines = ["Privacy budget"]
    width = max(len(s.source) for s in states)
    for s in states:
        filled = round(20 * s.fraction_spent)
        if s.epsilon_spent > 0 and filled == 0:
            filled = 1  # something spent always shows
        bar = "█" * filled + "░" * (20 - filled)
        status = _LEVEL_WORDS[budget_level(s)]
        lines.append(f"  {s.source.ljust(width)}  {bar}  {_budget_numbers(s)}")
        notes = ([status] if status else []) + _budget_notes(s)
        lines.append(f"  {' ' * width}  {' · '.join(notes)}")
    if note:
        lines.append(f"  ({note})")
    return "\n".join(lines)


def _lineage_item(node: dict[str, Any]) -> str:
    if node["kind"] == "source":
        return (
            f"<strong>{escape(node['label'])}</strong> "
            f'<span style="color:{MUTED}">{escape(node["origin"])} · '
            f"{escape(node['budget_text'])} · spent {escape(fmt(node['spent']['epsilon']))} · "
            f"data {escape(', '.join(node['versions']) or 'no releases yet')}</span>"
        )
    if node["kind"] == "transform":
        return f'<code style="{CODE}" title="{escape(node["text"])}">{escape(node["label"])}</code>'
    extras = release_facts(node)
    badges = _badges(False)
    if node["replayed"]:
        badges += _badge(f"replayed {node['replayed']}×", INFO)
    return (
        f'<code style="{CODE}">{escape(node.get("call") or node["query"])}</code> → '
        f"<strong>{escape(node['label'])}</strong>{badges} "
        f'<span style="color:{MUTED}; font-size:0.85em">{escape(" · ".join(extras))}</span>'
    )


def lineage_html(graph: dict[str, Any]) -> str:
    """Sources → transforms → releases as nested lists (readable without any script)."""
    ul = (
        '<ul style="list-style:none; margin:0; padding-left:1.2em; border-left:1px solid '
        + BORDER
        + '">'
    )
    parts: list[str] = []
    depth = -1
    for d, node in Lineage(graph).walk():
        if d > depth:
            parts.append(ul if d else '<ul style="list-style:none; margin:0; padding:0">')
        else:
            parts.append("</li>")
            while depth > d:
                parts.append("</ul></li>")
                depth -= 1
        depth = d
        parts.append(f'<li style="margin:2px 0">{_lineage_item(node)}')
    if depth >= 0:
        parts.append("</li>")
        while depth > 0:
            parts.append("</ul></li>")
            depth -= 1
        parts.append("</ul>")
    else:
        parts.append(f'<div style="color:{MUTED}">No sources registered yet.</div>')
    return (
        f'<div class="jpp-lineage" role="group" aria-label="release lineage" '
        f'style="{FONT}; color:{TEXT}">{"".join(parts)}</div>'
    )


__all__ = [
    "accuracy_text",
    "budget_html",
    "budget_level",
    "budget_text",
    "call_text",
    "counted_column",
    "lineage_html",
    "refusal_html",
    "release_html",
    "table_frame",
    "table_html",
    "table_text",
    "text_html",
]
