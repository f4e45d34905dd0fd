"""Refusals in a notebook: real error outputs, short, with a fix written for the cell that failed.

``%load_ext jupyter_privacy`` gives ``PrivacyError`` a ``_render_traceback_``. IPython then shows
a refusal as an ordinary error output (``ename``, ``evalue``, ``traceback``), so a headless run
(nbconvert, papermill, nbclient) fails on it and says why, and JupyterLab, Notebook 7 and VS Code
show the same few lines instead of a 40-line stack::

    RowAccessError: Refused to access rows with head on 'patients': raw rows never leave ...
      instead  aggregates with noise and a confidence interval
    Try: df.describe()
    (Cell In[6], line 1: df.head())

Before it is shown, the refusal's "Try:" line is rewritten for the cell: a frame the user named
``df`` is ``df`` there, not the source name; a suggestion that cannot run on that column
(``value_counts()`` with no public keys and no δ, ``mean()`` of a text column) is replaced by one
that can. Both use public information only: the names in the namespace, the schema, declared
bounds and keys, and the budget's kind, never the data.
"""

from __future__ import annotations

import ast
import linecache
import re
from types import FrameType, TracebackType
from typing import Any

from jupyter_privacy.core.aggregates import Aggregate, fallbacks, releasing
from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.frame import SensitiveFrame, SensitiveGroupBy, SensitiveSeries
from jupyter_privacy.frame.groupby import GroupedSeries

RED, BOLD, DIM, RESET = "\x1b[31;1m", "\x1b[1m", "\x1b[2m", "\x1b[0m"

#: What to suggest instead, in order, when a suggestion cannot run.
SERIES_FALLBACKS = fallbacks("Series")
FRAME_FALLBACKS = fallbacks("DataFrame")
#: ALL-CAPS words in a suggestion are placeholders (``LOW``, ``KEY``, ``COLUMN``): a template.
_PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{2,}\b|\.\.\.")

Subject = SensitiveFrame | SensitiveSeries | SensitiveGroupBy | GroupedSeries


# --- where the refusal happened ------------------------------------------------------------------


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    out = []
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return out


def _subject(frames: list[tuple[FrameType, int]]) -> Subject | None:
    """The guarded object the user's code called (the outermost one on the stack)."""
    for frame, _ in frames:
        candidate = frame.f_locals.get("self")
        if isinstance(
            candidate, SensitiveFrame | SensitiveSeries | SensitiveGroupBy | GroupedSeries
        ):
            return candidate
    return None


def _user_frame(
    frames: list[tuple[FrameType, int]], user_ns: dict[str, Any]
) -> tuple[FrameType, int] | None:
    """The innermost frame of the user's own code (a cell, or a function defined in one)."""
    found = None
    for frame, line in frames:
        if frame.f_globals is user_ns:
            found = (frame, line)
    return found


def _frame_of(subject: Subject) -> SensitiveFrame:
    if isinstance(subject, SensitiveFrame):
        return subject
    if isinstance(subject, SensitiveSeries | SensitiveGroupBy):
        return subject._frame
    return subject._group._frame


def _operation_name(err: PrivacyError) -> str | None:
    """``head`` from "access rows with head", ``describe`` from "compute describe of …"."""
    match = re.match(
        r"(?:access rows with|compute|use (?:DataFrame|Series)\.)\s*(\w+)", err.operation
    )
    return match.group(1) if match else None


def _segment(line: str, attribute: str | None) -> str | None:
    """In ``line``, the code of the object whose ``.attribute`` was asked for."""
    if attribute is None:
        return None
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == attribute:
            return ast.get_source_segment(line.strip(), node.value)
    return None


def _name_for(
    frame: SensitiveFrame, namespaces: list[dict[str, Any]], line: str, segment: str | None
) -> str | None:
    """How the user's code names ``frame``: a variable bound to it (the one in the failing line
    first), the code before the refused attribute, or a variable bound to the same source."""
    bound: list[str] = []
    for ns in namespaces:
        bound += [
            k for k, v in ns.items() if v is frame and k.isidentifier() and not k.startswith("_")
        ]
    if bound:
        in_line = [k for k in bound if re.search(rf"\b{re.escape(k)}\b", line)]
        return (in_line or bound)[0]
    if segment is not None:
        return segment
    if not frame.steps:
        for ns in namespaces:
            for k, v in ns.items():
                if (
                    isinstance(v, SensitiveFrame)
                    and v.name == frame.name
                    and not v.steps
                    and k.isidentifier()
                    and not k.startswith("_")
                ):
                    return k
    return None


# --- rewriting the suggestions -------------------------------------------------------------------


def _rename(fix: str, source: str, name: str) -> str:
    """``patients.describe()`` → ``df.describe()``: the source name where it stands for the frame
    (not inside quotes, not after a dot)."""
    if name == source:
        return fix
    pattern = rf"(?<![\w.'\"]){re.escape(source)}(?=[.\[])"
    return re.sub(pattern, lambda _: name, fix)


def _column_fits(aggregate: Aggregate, info: ColumnInfo) -> bool:
    """Whether a column meets what ``aggregate`` needs of it (public facts only)."""
    if aggregate.numeric:
        return info.numeric and info.bounds is not None
    if aggregate.condition:
        return info.kind == "bool"
    return True


def _feasible(target: Any, method: str) -> bool | None:
    """Whether ``target.method()`` can be released, from public facts; None if unknown."""
    if isinstance(target, SensitiveSeries):
        info = target.info
        spec = target._frame._ws.source(target._frame.name)
        with_delta = spec.budget.mode == "zcdp" and spec.budget.delta > 0
        if method == "value_counts":
            return info.keys is not None or with_delta
        aggregates = releasing(f"Series.{method}")
        if not aggregates:
            return None
        return any(_column_fits(a, info) for a in aggregates)
    if isinstance(target, SensitiveFrame):
        aggregates = releasing(f"DataFrame.{method}")
        if not aggregates or method == "value_counts":
            return None
        if all(a.without_column == "columns" and a.numeric for a in aggregates):
            return any(i.numeric and i.bounds is not None for i in target.schema.values())
        return True
    if isinstance(target, SensitiveGroupBy):
        aggregates = releasing(f"GroupBy.{method}")
        if not aggregates or any(a.composite for a in aggregates):
            return None
        spec = target._frame._ws.source(target._frame.name)
        schema = target._frame.schema
        with_delta = spec.budget.mode == "zcdp" and spec.budget.delta > 0
        return all(b in schema and (schema[b].keys is not None or with_delta) for b in target._by)
    return None


_SAFE = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.Compare,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.List,
    ast.Tuple,
    ast.cmpop,
    ast.boolop,
    ast.operator,
    ast.unaryop,
)


def _receiver(fix: str, namespace: dict[str, Any]) -> tuple[Any, str, str] | None:
    """For ``expr.method()``: (the object ``expr`` builds, ``expr`` as code, ``method``).

    Only plain plan-building code is evaluated (names, attributes, subscripts, comparisons):
    it reads no data and spends nothing. Anything else is left alone (None).
    """
    if _PLACEHOLDER.search(fix):
        return None
    try:
        tree = ast.parse(fix.strip(), mode="eval")
    except SyntaxError:
        return None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    receiver = ast.Expression(call.func.value)
    if not all(isinstance(n, _SAFE) for n in ast.walk(receiver)):
        return None
    try:
        target = eval(compile(receiver, "<suggestion>", "eval"), {"__builtins__": {}}, namespace)
    except PrivacyError:
        return (None, ast.unparse(call.func.value), call.func.attr)  # a suggestion that fails
    except Exception:
        return None
    return target, ast.unparse(call.func.value), call.func.attr


def _workable(
    fixes: list[str], subject_code: str | None, subject: Any, namespace: dict[str, Any]
) -> list[str]:
    """Keep the suggestions that can run; replace those that cannot by one that can."""
    kept: list[str] = []
    dropped = False
    for fix in fixes:
        found = _receiver(fix, namespace)
        if found is None:
            kept.append(fix)
            continue
        target, _, method = found
        if target is None or _feasible(target, method) is False:
            dropped = True
            continue
        kept.append(fix)
    if dropped and subject_code is not None:
        options = SERIES_FALLBACKS if isinstance(subject, SensitiveSeries) else FRAME_FALLBACKS
        for method in options:
            candidate = f"{subject_code}.{method}()"
            if candidate not in kept and _feasible(subject, method):
                kept.append(candidate)
                break
    return kept


def _subject_code(
    subject: Subject, frame_name: str | None, namespaces: list[dict[str, Any]]
) -> str | None:
    """``df.diagnosis`` for a column of ``df`` (or ``ages`` if the column has a name of its own):
    the code that builds the subject."""
    for ns in namespaces:
        for k, v in ns.items():
            if v is subject and k.isidentifier() and not k.startswith("_"):
                return k
    if frame_name is None:
        return None
    if isinstance(subject, SensitiveFrame):
        return frame_name
    if isinstance(subject, SensitiveSeries) and subject.name in subject._frame.schema:
        column = subject.name
        return f"{frame_name}.{column}" if column.isidentifier() else f"{frame_name}[{column!r}]"
    return None


def localize(err: PrivacyError, user_ns: dict[str, Any]) -> None:
    """Rewrite ``err``'s suggestions for the user's code (once; ``str(err)`` follows)."""
    if getattr(err, "_jpp_localized", False):
        return
    err._jpp_localized = True  # type: ignore[attr-defined]
    frames = _frames(err.__traceback__)
    subject = _subject(frames)
    if subject is None or not err.fixes:
        return
    user = _user_frame(frames, user_ns)
    namespaces = [user[0].f_locals, user_ns] if user is not None else [user_ns]
    line = ""
    if user is not None:
        line = linecache.getline(user[0].f_code.co_filename, user[1])
    frame = _frame_of(subject)
    segment = _segment(line, _operation_name(err)) if isinstance(subject, SensitiveFrame) else None
    name = _name_for(frame, namespaces, line, segment)
    if name is None and getattr(user_ns.get("jp"), "__name__", None) == "jupyter_privacy":
        name = f"jp.source({frame.name!r})"  # the frame has no name in this code
    fixes = [_rename(f, frame.name, name) for f in err.fixes] if name else list(err.fixes)
    code = _subject_code(subject, name, namespaces)
    if isinstance(subject, SensitiveSeries) and name is not None and code is not None:
        shown = f"{name}.{subject.name}"  # a column bound to its own name: use it
        fixes = [f.replace(shown, code) if f.startswith(shown + ".") else f for f in fixes]
    namespace = {**user_ns, **(user[0].f_locals if user is not None else {})}
    fixes = _workable(fixes, code, subject, namespace)
    if fixes != list(err.fixes):
        err.fixes = tuple(fixes)
        err.args = (err.render(),)


# --- the error output ------------------------------------------------------------------------------


def _where(err: PrivacyError, user_ns: dict[str, Any], shell: Any) -> str | None:
    user = _user_frame(_frames(err.__traceback__), user_ns)
    if user is None:
        return None
    frame, lineno = user
    filename = frame.f_code.co_filename
    label = None
    compiler = getattr(shell, "compile", None)
    try:
        named = compiler.format_code_name(filename) if compiler is not None else None
    except Exception:
        named = None
    label = f"{named[0]} {named[1]}" if named else filename
    code = linecache.getline(filename, lineno).strip()
    where = f"{label}, line {lineno}"
    if frame.f_code.co_name != "<module>":
        where += f", in {frame.f_code.co_name}"
    return f"{where}: {code}" if code else where


def render_traceback(err: PrivacyError) -> list[str]:
    """The error output's traceback: the class and the message, the fix, where it happened."""
    from IPython import get_ipython

    shell = get_ipython()
    user_ns = getattr(shell, "user_ns", None)
    if isinstance(user_ns, dict):
        localize(err, user_ns)
    lines = err.render().splitlines()
    out = [f"{RED}{type(err).__name__}{RESET}: {lines[0]}"]
    for line in lines[1:]:
        out.append(f"{BOLD}{line}{RESET}" if line.startswith("Try: ") else line)
    where = _where(err, user_ns, shell) if isinstance(user_ns, dict) else None
    if where is not None:
        out.append(f"{DIM}({where}){RESET}")
    return out


def _render_traceback_(self: PrivacyError) -> list[str]:
    return render_traceback(self)


def install() -> None:
    """Refusals become short error outputs (IPython asks an exception for its traceback)."""
    PrivacyError._render_traceback_ = _render_traceback_  # type: ignore[attr-defined]


def uninstall() -> None:
    if "_render_traceback_" in PrivacyError.__dict__:
        del PrivacyError._render_traceback_  # type: ignore[attr-defined]


__all__ = ["install", "localize", "render_traceback", "uninstall"]
