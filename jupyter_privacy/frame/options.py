"""Release options: the keyword arguments every aggregate takes, typed and documented once.

Every release method (``patients.age.mean(epsilon=0.1)``, ``df.groupby('state').size()``) takes
the same five options and hands them to ``Workspace.run`` unchanged. They are declared here once:
as a ``TypedDict`` so a type checker flags ``mean(epsilon='0.1')`` or ``mean(epsilon_=0.1)``
(``**opts: Unpack[ReleaseOptions]``), and as one docstring section that ``release_method``
inserts into each method's ``__doc__``, so ``patients.age.mean?`` explains them without 25 copies
drifting apart. At run time an unknown option is still refused by the runner, typed or not.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

__all__ = ["OPTIONS_SECTION", "ReleaseOptions", "release_method"]

#: The Google-style section shared by every release method's docstring.
OPTIONS_SECTION = """\
Keyword Args:
    epsilon (float): The privacy cost ε of this release, charged to the source's budget.
        Larger ε means less noise and less budget left for later questions. Defaults to the
        source's ``default_epsilon`` (0.1 unless registered or set in privacy.toml).
    accuracy (float): Instead of ``epsilon``: the confidence-interval half-width you need, in
        the statistic's own units; the smallest ε that reaches it is charged. Only where the
        interval is known before the data is read (count, size, sum, value_counts, hist).
    alpha (float): Intervals are at level 1 - alpha (default: the source's, 0.05 or 95% unless
        registered otherwise). It sets how wide the reported interval is, not the noise; with
        ``accuracy=`` a smaller alpha costs more ε.
    delta (float): Under an (ε, δ) budget, the δ this release may spend on thresholds that hide
        rare groups whose keys were not declared (default: a twentieth of the budget's δ).
        Refused on a pure ε budget; declared keys need none.
    dry_run (bool): Return an ``Estimate`` (cost and expected half-width) instead of a release:
        reads no data and spends nothing, so you can price a question before asking it.
"""

_NEXT_SECTION = re.compile(r"^(Returns|Raises|Example|Examples|Note|Notes):\s*$")

F = TypeVar("F", bound=Callable[..., Any])


class ReleaseOptions(TypedDict, total=False):
    epsilon: float
    accuracy: float
    alpha: float
    delta: float
    dry_run: bool


ReleaseOptions.__doc__ = (
    "The options every release method accepts, all optional: "
    "``patients.age.mean(**opts)`` with ``opts: ReleaseOptions``.\n\n" + OPTIONS_SECTION
)


def release_method(method: F) -> F:
    """Insert ``OPTIONS_SECTION`` into ``method``'s docstring, before its Returns/Example part.

    The method's own docstring says what it releases and shows an example; the options are the
    same everywhere, so they are written once and shown everywhere (``help()``, ``?``, Sphinx).
    """
    lines = inspect.cleandoc(method.__doc__ or "").splitlines()
    at = next((i for i, line in enumerate(lines) if _NEXT_SECTION.match(line)), len(lines))
    head = "\n".join(lines[:at]).rstrip()
    tail = "\n".join(lines[at:])
    method.__doc__ = f"{head}\n\n{OPTIONS_SECTION}" + (f"\n{tail}\n" if tail else "")
    return method
