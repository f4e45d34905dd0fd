"""The typed public API: every release method takes ``ReleaseOptions``, documents them and shows
an example that runs; the options are exactly what the workspace accepts; unknown ones are
still refused at run time, before anything is charged."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any, Unpack

import pytest

import jupyter_privacy as jp
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.workspace import Workspace
from jupyter_privacy.curator.client import CuratorService
from jupyter_privacy.frame import GroupedSeries, SensitiveGroupBy
from jupyter_privacy.frame.options import OPTIONS_SECTION, ReleaseOptions, release_method
from jupyter_privacy.frame.runner import OPTIONS

CLASSES: tuple[type, ...] = (jp.SensitiveFrame, jp.SensitiveSeries, SensitiveGroupBy, GroupedSeries)
#: Public methods that take ``**kwargs`` without being releases.
NOT_RELEASES = {"SensitiveFrame.assign", "SensitiveFrame.groupby", "SensitiveFrame.clip"}
RELEASES = {
    "SensitiveFrame": {"count", "describe", "mean", "sum", "value_counts"},
    "SensitiveSeries": {
        "count", "sum", "mean", "median", "quantile", "var", "std", "min", "max",
        "value_counts", "hist", "describe", "plot", "bounds",
    },
    "SensitiveGroupBy": {"size", "count", "agg", "aggregate"},
    "GroupedSeries": {
        "count", "size", "sum", "mean", "median", "quantile", "var", "std", "min", "max",
    },
}  # fmt: skip
ENTRY_POINTS: tuple[Callable[..., Any], ...] = (
    jp.register, jp.source, jp.budget, jp.lineage, jp.audit, jp.cut, jp.export_releases,
    jp.replay, jp.connect, jp.use_workspace, jp.workspace, jp.Budget,
)  # fmt: skip
#: How to reach each release method from the test's ``patients`` frame (for the refusal test).
OWNERS: dict[type, Callable[[jp.SensitiveFrame], Any]] = {
    jp.SensitiveFrame: lambda p: p,
    jp.SensitiveSeries: lambda p: p.age,
    SensitiveGroupBy: lambda p: p.groupby("state"),
    GroupedSeries: lambda p: p.groupby("state").income,
}
ARGS: dict[str, tuple[Any, ...]] = {
    "SensitiveFrame.value_counts": ("state",),
    "SensitiveGroupBy.agg": ({"income": "mean"},),
    "SensitiveGroupBy.aggregate": ({"income": "mean"},),
}


def _options_annotation(method: Callable[..., Any]) -> object | None:
    """The evaluated annotation of ``method``'s ``**kwargs``, or None without one."""
    for param in inspect.signature(method).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            module = vars(sys.modules[method.__module__])
            return eval(param.annotation, module) if isinstance(param.annotation, str) else Any
    return None


def _public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def _release_methods() -> list[tuple[type, str, Callable[..., Any]]]:
    found = []
    for cls in CLASSES:
        for name, method in _public_methods(cls).items():
            if _options_annotation(method) == Unpack[ReleaseOptions]:
                found.append((cls, name, method))
    return found


RELEASE_METHODS = _release_methods()
IDS = [f"{cls.__name__}.{name}" for cls, name, _ in RELEASE_METHODS]


def _example(doc: str) -> list[str]:
    """The statements of a docstring's Example section (``>>>`` lines and their ``...``)."""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line in ("Example:", "Examples:")), None)
    if start is None:
        return []
    statements: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section
        text = line.strip()
        if text.startswith(">>> "):
            statements.append(text[4:])
        elif text.startswith("... ") and statements:
            statements[-1] += "\n" + text[4:]
    return statements


def test_every_public_method_with_keyword_arguments_is_a_typed_release_or_known_not_to_be() -> None:
    for cls in CLASSES:
        for name, method in _public_methods(cls).items():
            annotation = _options_annotation(method)
            if annotation is None or f"{cls.__name__}.{name}" in NOT_RELEASES:
                continue
            assert annotation == Unpack[ReleaseOptions], f"{cls.__name__}.{name}: **{annotation}"
    found = {(cls.__name__, name) for cls, name, _ in RELEASE_METHODS}
    assert found == {(cls, name) for cls, names in RELEASES.items() for name in names}


@pytest.mark.parametrize(("cls", "name", "method"), RELEASE_METHODS, ids=IDS)
def test_release_method_docstring_explains_the_options_and_shows_an_example(
    cls: type, name: str, method: Callable[..., Any]
) -> None:
    doc = inspect.getdoc(method) or ""
    assert OPTIONS_SECTION in doc + "\n"
    for option in ("epsilon", "accuracy", "alpha", "delta", "dry_run"):
        assert f"    {option} (" in doc
    example = _example(doc)
    assert example, f"{cls.__name__}.{name} has no Example section with >>> lines"
    assert any(f".{method.__name__}(" in s for s in example), example


@pytest.mark.parametrize(("cls", "name", "method"), RELEASE_METHODS, ids=IDS)
def test_release_method_example_runs_and_returns_its_annotated_type(
    patients: jp.SensitiveFrame, cls: type, name: str, method: Callable[..., Any]
) -> None:
    *setup, last = _example(inspect.getdoc(method) or "")
    namespace: dict[str, Any] = {"jp": jp, "patients": patients}
    for statement in setup:
        exec(statement, namespace)
    result = eval(last, namespace)
    returns = typing.get_type_hints(method)["return"]
    if returns is not Any:  # plot: a chart
        assert isinstance(result, returns)
        assert jp.Estimate in typing.get_args(returns)  # what dry_run=True gives


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_entry_point_docstring_has_an_example_that_parses(entry: Callable[..., Any]) -> None:
    example = _example(inspect.getdoc(entry) or "")
    assert example, f"jp.{entry.__name__} has no Example section with >>> lines"
    for statement in example:
        compile(statement, f"<example of jp.{entry.__name__}>", "exec")


@pytest.mark.parametrize("run", [Workspace.run, CuratorService.run], ids=["local", "curator"])
def test_release_options_are_exactly_what_the_workspace_runs_with(
    run: Callable[..., Any],
) -> None:
    params = inspect.signature(run, eval_str=True).parameters.values()
    accepted = {p.name: p.annotation for p in params if p.kind is p.KEYWORD_ONLY}
    hints = typing.get_type_hints(ReleaseOptions)
    assert set(hints) == set(accepted) == set(OPTIONS)
    assert ReleaseOptions.__required_keys__ == frozenset()  # every option may be left out
    for key, annotation in accepted.items():  # the workspace's ``None`` means "not given"
        assert annotation in (hints[key], hints[key] | None), key


def test_release_options_are_public() -> None:
    assert jp.ReleaseOptions is ReleaseOptions and "ReleaseOptions" in jp.__all__
    assert OPTIONS_SECTION in (ReleaseOptions.__doc__ or "")


@pytest.mark.parametrize(("cls", "name", "method"), RELEASE_METHODS, ids=IDS)
def test_unknown_option_is_refused_by_name_and_charges_nothing(
    patients: jp.SensitiveFrame, cls: type, name: str, method: Callable[..., Any]
) -> None:
    owner = OWNERS[cls](patients)
    args = ARGS.get(f"{cls.__name__}.{name}", ())
    with pytest.raises(InvalidArgumentError, match="unknown option 'foo'"):
        getattr(owner, name)(*args, epsilon=0.1, foo=1)
    assert patients.budget.epsilon_spent == 0


def test_release_method_inserts_the_options_before_the_example_and_after_the_text() -> None:
    def f() -> None:
        """Say what.

        Args:
            x: A thing.

        Example:
            >>> f()
        """

    doc = release_method(f).__doc__ or ""
    assert doc.index("Args:") < doc.index("Keyword Args:") < doc.index("Example:")
    assert OPTIONS_SECTION in (release_method(lambda: None).__doc__ or "")
