"""``privacy.toml``: sources declared beside a notebook, mirroring ``jp.register``'s arguments."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.registration import SourceDeclaration
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON

SOURCE_KEYS = {
    "path",
    "privacy_unit",
    "max_rows_per_unit",
    "budget",
    "bounds",
    "keys",
    "dtypes",
    "default_epsilon",
    "alpha",
    "bounds_epsilon",
    "not_null",
}


@dataclass(frozen=True)
class SourcePolicy:
    """A ``[sources.NAME]`` table: the file and its declaration."""

    path: Path
    declaration: SourceDeclaration

    @property
    def name(self) -> str:
        return str(self.declaration.name)


@dataclass(frozen=True)
class CuratorPolicy:
    """``[curator]``: where the curator listens (``socket`` path or ``url``) and the token file."""

    target: str
    token_file: Path | None = None


@dataclass(frozen=True)
class Policy:
    path: Path
    epsilon: float = DEFAULT_EPSILON
    alpha: float = DEFAULT_ALPHA
    sources: tuple[SourcePolicy, ...] = ()
    curator: CuratorPolicy | None = None


def _fail(path: Path, reason: str, fix: str = "") -> PolicyError:
    return PolicyError("load the policy", str(path), reason, [], [fix] if fix else [])


def load_policy(path: Path) -> Policy:
    """Parse and check a policy file; paths are relative to the file."""
    try:
        return _load_policy(path)
    except (TypeError, ValueError, AttributeError) as exc:  # a setting of the wrong type
        raise _fail(
            path, f"a setting has the wrong type ({exc})", "budget = { epsilon = 1.0 }"
        ) from None


def _load_policy(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text())
    except OSError:
        raise _fail(path, "the file cannot be read") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"it is not valid TOML ({exc})") from None
    defaults = data.get("defaults", {})
    epsilon = float(defaults.get("epsilon", DEFAULT_EPSILON))
    alpha = float(defaults.get("alpha", DEFAULT_ALPHA))
    if not (epsilon > 0 and math.isfinite(epsilon)) or not 0 < alpha < 1:
        raise _fail(path, "[defaults] needs epsilon > 0 and 0 < alpha < 1", "epsilon = 0.1")
    sources = []
    for name, entry in data.get("sources", {}).items():
        if not isinstance(entry, dict) or "path" not in entry or "budget" not in entry:
            raise _fail(
                path,
                f"[sources.{name}] needs a path and a budget",
                'path = "data/patients.csv"\nbudget = { epsilon = 1.0 }',
            )
        unknown = set(entry) - SOURCE_KEYS
        if unknown:
            raise _fail(
                path,
                f"[sources.{name}] has unknown setting '{sorted(unknown)[0]}'",
                ", ".join(sorted(SOURCE_KEYS)),
            )
        budget = entry["budget"]
        if not isinstance(budget, dict) or "epsilon" not in budget:
            raise _fail(
                path, f"[sources.{name}] budget needs an epsilon", "budget = { epsilon = 1.0 }"
            )
        declaration = SourceDeclaration(
            name=name,
            budget=Budget(epsilon=budget["epsilon"], delta=budget.get("delta", 0.0)),
            privacy_unit=entry.get("privacy_unit"),
            max_rows_per_unit=entry.get("max_rows_per_unit", 1),
            bounds=_bounds(entry.get("bounds", {})),
            keys=entry.get("keys", {}),
            dtypes=entry.get("dtypes", {}),
            default_epsilon=entry.get("default_epsilon", epsilon),
            alpha=entry.get("alpha", alpha),
            bounds_epsilon=entry.get("bounds_epsilon"),
            not_null=entry.get("not_null", ()),
        )
        sources.append(SourcePolicy((path.parent / entry["path"]).resolve(), declaration))
    curator = _curator(path, data["curator"]) if "curator" in data else None
    return Policy(path, epsilon, alpha, tuple(sources), curator)


def _bounds(value: Any) -> Any:
    """``bounds = "auto"`` or ``{ age = [0, 110], income = "auto" }``; registration checks them."""
    if isinstance(value, dict):
        return {k: _auto(v) if isinstance(v, str) else tuple(v) for k, v in value.items()}
    return _auto(value)


def _auto(value: Any) -> Any:
    """The one string bounds may be: ``"auto"``."""
    if isinstance(value, str) and value != "auto":
        raise TypeError(f'bounds may be "auto" or [low, high], not {value!r}')
    return value


def _curator(path: Path, entry: object) -> CuratorPolicy:
    """The ``[curator]`` section; relative paths are relative to the policy file."""
    fix = 'socket = "curator.sock"\ntoken_file = "curator.token"'
    if not isinstance(entry, dict):
        raise _fail(path, "[curator] must be a table", fix)
    unknown = set(entry) - {"socket", "url", "token_file"}
    if unknown:
        raise _fail(path, f"[curator] has unknown setting '{sorted(unknown)[0]}'", fix)
    if ("socket" in entry) == ("url" in entry):
        raise _fail(path, "[curator] needs exactly one of socket or url", fix)
    values = [entry.get(k) for k in ("socket", "url", "token_file") if k in entry]
    if not all(isinstance(v, str) and v for v in values):
        raise _fail(path, "[curator] settings must be non-empty strings", fix)
    here = path.parent
    target = (
        str((here / Path(entry["socket"]).expanduser()).resolve())
        if "socket" in entry
        else entry["url"]
    )
    token = entry.get("token_file")
    return CuratorPolicy(
        target, (here / Path(token).expanduser()).resolve() if token is not None else None
    )
