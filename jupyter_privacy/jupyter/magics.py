"""``%privacy``: status, budget, lineage, audit, register, export and replay."""

from __future__ import annotations

import argparse
import shlex
import warnings
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

import jupyter_privacy.api as api
from jupyter_privacy.core.budget import Budget
from jupyter_privacy.core.errors import InvalidArgumentError
from jupyter_privacy.core.workspace import Workspace

USAGE = """Usage:
  %privacy                       status: sources, budgets, mode
  %privacy budget                live budget meter
  %privacy lineage               live lineage panel
  %privacy audit                 the audit log, and whether its hash chain verifies
  %privacy register PATH_OR_VAR --name N --epsilon E [--delta D] [--unit COL]
                    [--max-rows K] [--bounds age=0:110,income=auto | --bounds auto] [--keys state=CA|NY] [--dtypes visits=int]
                    [--not-null age,income]
                                 register a file, or a DataFrame variable (which is then replaced
                                 in the namespace by its guarded frame)
  %privacy export FILE           write a release manifest (public values only)
  %privacy replay FILE           replay mode: queries return recorded releases, no data needed
  %privacy replay off            leave replay mode
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%privacy register", add_help=False, exit_on_error=False)
    p.add_argument("target")
    p.add_argument("--name")
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, default=0.0)
    p.add_argument("--unit")
    p.add_argument("--max-rows", type=int, default=1)
    p.add_argument("--bounds", default="")
    p.add_argument("--keys", default="")
    p.add_argument("--dtypes", default="")
    p.add_argument("--not-null", default="")
    return p


def _pairs(text: str, what: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        if "=" not in part:
            raise InvalidArgumentError(
                "register",
                "-",
                f"--{what} takes col=value pairs",
                [("given", part)],
                [f"--{what} age=0:110"],
            )
        col, value = part.split("=", 1)
        out[col.strip()] = value.strip()
    return out


@magics_class
class PrivacyMagics(Magics):
    @line_magic
    def privacy(self, line: str) -> Any:
        """Differential privacy workbench commands.

        %privacy                 status of every registered source
        %privacy budget          live budget meter
        %privacy lineage         live lineage panel
        %privacy audit           audit log table; checks its hash chain
        %privacy register PATH_OR_VAR --name N --epsilon E [--delta D] [--unit COL]
                 [--max-rows K] [--bounds col=lo:hi|auto,... | auto] [--keys col=a|b,...] [--dtypes col=int,...]
                 [--not-null col,...]
        %privacy export FILE     release manifest for reviewers (public values only)
        %privacy replay FILE     replay a manifest without the data (``off`` to leave)
        """
        words = shlex.split(line)
        command = words[0] if words else "status"
        if command == "status":
            return self._status()
        if command == "budget":
            return api.budget_meter()
        if command == "lineage":
            return api.lineage()
        if command == "audit":
            result = api.workspace().verify()
            print(("✓ " if result.ok else "✗ ") + result.message)
            return api.audit()
        if command == "register":
            return self._register(words[1:])
        if command == "export" and len(words) == 2:
            path = api.export_releases(words[1])
            print(f"wrote {path}")
            return None
        if command == "replay" and len(words) == 2:
            api.replay(None if words[1] == "off" else words[1])
            print("replay mode off" if words[1] == "off" else f"replaying {words[1]}")
            return None
        print(USAGE)
        return None

    def _status(self) -> None:
        ws = api.workspace()
        mode = "guard-rail" if ws.mode == "local" else ws.mode
        if isinstance(ws, Workspace):
            where = f"ledger {ws.home / 'ledger.sqlite'}"
        else:
            where = f"curator {getattr(ws, 'address', '?')}"
        print(f"jupyter-privacy · {mode} mode · {where}")
        if not ws.sources:
            print("no sources registered: jp.register(...) or %privacy register ...")
        for name in sorted(ws.sources):
            print(f"  {ws.budget_state(name)!r}")

    def _register(self, args: list[str]) -> Any:
        try:
            opts = _parser().parse_args(args)
        except (argparse.ArgumentError, SystemExit):
            print(USAGE)
            return None
        whole_auto = opts.bounds == "auto"  # --bounds auto: every numeric column
        bounds: dict[str, Any] = {}
        for col, rng in ({} if whole_auto else _pairs(opts.bounds, "bounds")).items():
            if rng == "auto":
                bounds[col] = "auto"
                continue
            lo, _, hi = rng.partition(":")
            try:
                bounds[col] = (float(lo), float(hi))
            except ValueError:
                raise InvalidArgumentError(
                    "register",
                    opts.name or opts.target,
                    "--bounds takes col=low:high with two numbers",
                    [("given", f"{col}={rng}")],
                    ["--bounds age=0:110"],
                ) from None
        keys = {col: v.split("|") for col, v in _pairs(opts.keys, "keys").items()}
        dtypes = _pairs(opts.dtypes, "dtypes")
        ns = self.shell.user_ns if self.shell is not None else {}
        target = opts.target
        is_variable = target.isidentifier() and target in ns
        data = ns[target] if is_variable else target
        name = opts.name or (target if is_variable else None)
        frame = api.register(
            data,
            name=name,
            privacy_unit=opts.unit,
            max_rows_per_unit=opts.max_rows,
            budget=Budget(opts.epsilon, opts.delta),
            bounds="auto" if whole_auto else bounds,
            keys=keys,
            dtypes=dtypes,
            not_null=[c.strip() for c in opts.not_null.split(",") if c.strip()],
        )
        if is_variable:
            others = [
                k for k, v in ns.items() if v is data and k != target and not k.startswith("_")
            ]
            ns[target] = frame
            if others:
                warnings.warn(
                    f"the raw frame registered as '{frame.name}' is still reachable as "
                    + ", ".join(f"`{o}`" for o in others)
                    + "; `del` it to avoid displaying rows",
                    stacklevel=2,
                )
            print(f"`{target}` is now the guarded frame of '{frame.name}'")
            return None
        display(frame)
        return None
