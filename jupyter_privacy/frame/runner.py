"""The one place where frame builders hand a finished plan to the workspace."""

from __future__ import annotations

from typing import Any

from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.plan import Query, Step
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.service import ReleaseService
from jupyter_privacy.frame.options import ReleaseOptions

#: What a release method returns; each method's own annotation narrows it.
Result = Release | ReleaseTable | Estimate
#: The options ``run_query`` accepts; an unknown one is refused (the keys of ``ReleaseOptions``).
OPTIONS = ("epsilon", "accuracy", "alpha", "delta", "dry_run")


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def run_query(
    ws: ReleaseService,
    source: str,
    steps: tuple[Step, ...],
    statistic: str,
    column: str | None,
    by: tuple[str, ...],
    params: dict[str, Any],
    opts: ReleaseOptions,
) -> Result:
    """Build the frozen plan and run it with the aggregate's options.

    ``opts`` is typed for checkers, but a call such as ``mean(epsilon_=0.1)`` still arrives here
    at run time and is refused by name, before anything is validated, priced or read.
    """
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise InvalidArgumentError(
            f"compute {statistic}",
            source,
            f"unknown option {unknown[0]!r}",
            [("options", ", ".join(OPTIONS))],
            [f".{statistic}(epsilon=0.1)"],
        )
    query = Query(
        source,
        steps,
        statistic,
        column,
        by,
        tuple(sorted((k, _freeze(v)) for k, v in params.items())),
    )
    return ws.run(
        query,
        epsilon=opts.get("epsilon"),
        accuracy=opts.get("accuracy"),
        alpha=opts.get("alpha"),
        delta=opts.get("delta"),
        dry_run=bool(opts.get("dry_run", False)),
    )
