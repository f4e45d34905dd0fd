"""The workspace: registered sources, the ledger, and the release protocol.

One release, in order: validate and price the plan on public information; replay it from the
cache if the same plan at the same cost already ran on the same data version; calibrate OpenDP
measurements and check their maps against the price; check-and-charge the ledger durably; only
then read the data, release, and record. A crash after the charge loses budget, never privacy.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_privacy.core import engine
from jupyter_privacy.core.aggregates import AGGREGATES, WITH_ACCURACY
from jupyter_privacy.core.budget import Budget, Cost, check_parameter, exact, fits, fmt
from jupyter_privacy.core.errors import (
    BudgetExceededError,
    InvalidArgumentError,
    PolicyError,
    PrivacyError,
    ReleaseFailedError,
    ReplayMissError,
    UnsupportedOperationError,
)
from jupyter_privacy.core.expr import Scalar
from jupyter_privacy.core.ledger import Ledger, Refusal, now
from jupyter_privacy.core.limits import ALPHA_MAX, ALPHA_MIN, DELTA_MIN, EPSILON_MAX, EPSILON_MIN
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.registration import (
    build_schema,
    check_columns,
    check_dtypes,
    check_keys,
    implied_kinds,
)
from jupyter_privacy.core.release import Cell, Estimate, Meta, Release, ReleaseTable
from jupyter_privacy.core.schema import ColumnInfo
from jupyter_privacy.core.source import DEFAULT_ALPHA, DEFAULT_EPSILON, SourceSpec
from jupyter_privacy.core.validate import validate

Listener = Callable[[dict[str, Any]], None]
_log = logging.getLogger(__name__)


def default_home() -> Path:
    return Path(os.environ.get("JUPYTER_PRIVACY_HOME") or Path.cwd() / ".jupyter_privacy")


@dataclass(frozen=True)
class BudgetState:
    """A source's budget in the units the user reads: ε and δ (ρ on request)."""

    source: str
    mode: str
    epsilon_total: float
    epsilon_spent: float
    delta_total: float
    delta_spent: float
    rho_total: float
    rho_spent: float
    naive_epsilon: float
    default_epsilon: float

    @property
    def epsilon_remaining(self) -> float:
        return max(self.epsilon_total - self.epsilon_spent, 0.0)

    @property
    def delta_remaining(self) -> float:
        return max(self.delta_total - self.delta_spent, 0.0)

    @property
    def fraction_spent(self) -> float:
        return min(self.epsilon_spent / self.epsilon_total, 1.0) if self.epsilon_total else 1.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.update(epsilon_remaining=self.epsilon_remaining, delta_remaining=self.delta_remaining)
        return out

    def __repr__(self) -> str:
        text = (
            f"{self.source}: spent {fmt(self.epsilon_spent)} of {self.epsilon_total:g}, "
            f"remaining {fmt(self.epsilon_remaining, down=True)}"
        )
        if self.mode == "zcdp":
            text += (
                f"; {fmt(self.delta_spent, 'δ')} of {self.delta_total:g}"
                f" (composed in zCDP; the per-query ε add up to {self.naive_epsilon:.3f})"
            )
        return text


class Workspace:
    """Sources, ledger and release protocol for one home folder."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        self._ledger: Ledger | None = None
        self.sources: dict[str, SourceSpec] = {}
        self._fingerprints: dict[str, tuple[Any, str]] = {}
        self._lock = threading.RLock()
        self.listeners: list[Listener] = []
        #: Public facts about where a release was asked for (the kernel sets the cell number).
        self.context: Callable[[], dict[str, Any]] = dict
        self.replay_manifest: dict[tuple[str, str, str], dict[str, Any]] | None = None
        self.manifest_sources: dict[str, dict[str, Any]] = {}

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.home / "ledger.sqlite")
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # --- registration ------------------------------------------------------------------------------
    def register(
        self,
        data: Any,
        *,
        name: str | None = None,
        privacy_unit: str | None = None,
        max_rows_per_unit: int = 1,
        budget: Budget | None = None,
        bounds: Mapping[str, Sequence[float]] | None = None,
        keys: Mapping[str, Sequence[Scalar]] | None = None,
        dtypes: Mapping[str, Any] | None = None,
        default_epsilon: float = DEFAULT_EPSILON,
        alpha: float = DEFAULT_ALPHA,
    ) -> SourceSpec:
        """Register a sensitive source; validates everything on public metadata only."""
        if self.replay_manifest is not None:
            return self._register_from_manifest(data, name)
        handle, origin, label = engine.normalise_source(data)
        name = name if name is not None else label
        if not isinstance(name, str) or not name.isidentifier():
            raise PolicyError(
                "register",
                str(name),
                "a source name must be a Python identifier",
                [("given", repr(name))],
                ["jp.register(..., name='patients')"],
            )
        if not isinstance(budget, Budget):
            raise PolicyError(
                "register",
                name,
                "a budget is required",
                [("given", repr(budget))],
                ["budget=jp.Budget(epsilon=1.0)", "budget=jp.Budget(epsilon=1.0, delta=1e-6)"],
            )
        check_parameter(
            "epsilon",
            default_epsilon,
            source=name,
            operation="register",
            low=EPSILON_MIN,
            high=EPSILON_MAX,
        )
        _check_alpha(alpha, name, "register")
        if (
            not isinstance(max_rows_per_unit, int)
            or isinstance(max_rows_per_unit, bool)
            or max_rows_per_unit < 1
        ):
            raise PolicyError(
                "register",
                name,
                "max_rows_per_unit must be a positive integer",
                [("given", repr(max_rows_per_unit))],
                ["max_rows_per_unit=1"],
            )
        bounds = dict(bounds or {})
        declared = check_dtypes(dtypes, name)
        key_lists = {c: check_keys(c, k, name) for c, k in dict(keys or {}).items()}
        kinds = engine.column_kinds(handle, declared, implied_kinds(bounds, key_lists))
        check_columns(name, kinds, privacy_unit, bounds, key_lists, declared)
        schema, checked_bounds, checked_keys = build_schema(
            name, kinds, privacy_unit, bounds, key_lists
        )
        spec = SourceSpec(
            name=name,
            data=handle,
            schema=schema,
            budget=budget,
            privacy_unit=privacy_unit,
            max_rows_per_unit=max_rows_per_unit,
            bounds=checked_bounds,
            keys=checked_keys,
            default_epsilon=float(default_epsilon),
            alpha=float(alpha),
            origin=origin,
        )
        self.ledger.ensure_source(name, budget.mode, self._total(budget), budget.to_dict())
        with self._lock:
            self.sources[name] = spec
            self._fingerprints.pop(name, None)
        engine.warm(spec)  # bounded rows and fingerprint, in the background: ready when asked
        self._emit({"type": "source_registered", "source": name})
        return spec

    def _register_from_manifest(self, data: Any, name: str | None) -> SourceSpec:
        """Replay mode: the source's public description comes from the manifest; no data is read."""
        if name is None and isinstance(data, str | Path):
            name = Path(data).stem
        described = self.manifest_sources.get(str(name))
        if described is None:
            raise ReplayMissError(
                "register",
                str(name),
                "the release manifest has no source of that name",
                [("in manifest", ", ".join(sorted(self.manifest_sources)) or "(none)")],
                ["jp.replay(None)  # leave replay mode (needs the data)"],
            )
        schema = {
            col: ColumnInfo(
                info["kind"],
                tuple(info["bounds"]) if info["bounds"] else None,
                tuple(info["keys"]) if info["keys"] is not None else None,
            )
            for col, info in described["columns"].items()
        }
        b = described["budget"]
        spec = SourceSpec(
            name=str(name),
            data=None,
            schema=schema,
            budget=Budget(b["epsilon"], b["delta"]),
            privacy_unit=described["privacy_unit"],
            max_rows_per_unit=described["max_rows_per_unit"],
            origin="manifest",
            default_epsilon=described.get("default_epsilon", DEFAULT_EPSILON),
            alpha=described.get("alpha", DEFAULT_ALPHA),
        )
        self.ledger.ensure_source(
            spec.name, spec.budget.mode, self._total(spec.budget), spec.budget.to_dict()
        )
        self.sources[spec.name] = spec
        return spec

    def export_manifest(self) -> dict[str, Any]:
        """Every release of the registered sources, public values only, for reviewers."""
        releases = []
        for r in self.ledger.releases():
            if r["source"] not in self.sources:
                continue
            meta = r["meta"]
            releases.append(
                {
                    "source": r["source"],
                    "plan_hash": meta["plan_hash"],
                    "cost_key": meta["cost_key"],
                    "plan": r["plan"],
                    "payload": {
                        "id": r["id"],
                        "scalar": r["scalar"],
                        "cells": r["cells"],
                        # the data version's fingerprint stays in the ledger: never published
                        "meta": {k: v for k, v in meta.items() if k != "fingerprint"},
                    },
                }
            )
        sources = {}
        for n, s in self.sources.items():
            described = s.describe()
            if described["path"]:  # replay matches by file name; a published file names no folders
                described["path"] = Path(str(described["path"])).name
            sources[n] = described
        return {"version": 1, "created": now(), "sources": sources, "releases": releases}

    def load_manifest(self, manifest: dict[str, Any] | None) -> None:
        """Enter replay mode (every query must be in the manifest), or leave it with None."""
        if manifest is None:
            self.replay_manifest, self.manifest_sources = None, {}
            return
        if manifest.get("version") != 1:
            raise PolicyError(
                "load a release manifest",
                "-",
                "the manifest version is not 1",
                [("version", repr(manifest.get("version")))],
            )
        self.replay_manifest = {
            (r["source"], r["plan_hash"], r["cost_key"]): r["payload"] for r in manifest["releases"]
        }
        self.manifest_sources = dict(manifest["sources"])
        self.sources.clear()

    def _total(self, budget: Budget) -> Cost:
        if budget.mode == "pure":
            return Cost(epsilon=exact(budget.epsilon))
        try:
            rho = engine.rho_of_epsilon(budget.epsilon, budget.conversion_delta)
        except Exception as exc:  # OpenDP overflows converting a huge ε; parameters are public
            raise PolicyError(
                "register",
                "-",
                "this budget's ε is too large to account in zCDP",
                [
                    ("given", f"ε = {budget.epsilon!r}, δ = {budget.delta!r}"),
                    ("error", type(exc).__name__),
                ],
                ["jp.Budget(epsilon=10.0, delta=1e-6)"],
            ) from None
        return Cost(epsilon=exact(budget.epsilon), rho=exact(rho), delta=budget.threshold_delta)

    def source(self, name: str) -> SourceSpec:
        try:
            return self.sources[name]
        except KeyError:
            raise InvalidArgumentError(
                "find a source",
                name,
                "no source of that name is registered",
                [("registered", ", ".join(sorted(self.sources)) or "(none)")],
                ["jp.register('data.csv', name='patients', budget=jp.Budget(epsilon=1.0))"],
            ) from None

    # --- budget ----------------------------------------------------------------------------------------
    def budget_state(self, name: str) -> BudgetState:
        spec = self.source(name)
        total, spent = self.ledger.totals(name)
        b = spec.budget
        if b.mode == "pure":
            return BudgetState(
                name,
                "pure",
                b.epsilon,
                float(spent.epsilon),
                0.0,
                0.0,
                0.0,
                0.0,
                float(spent.epsilon),
                spec.default_epsilon,
            )
        eps_spent = (
            engine.epsilon_of_rho(float(spent.rho), b.conversion_delta) if spent.rho else 0.0
        )
        delta_spent = float(spent.delta) + (b.conversion_delta if spent.rho else 0.0)
        return BudgetState(
            name,
            "zcdp",
            b.epsilon,
            min(eps_spent, b.epsilon) if spent.rho >= total.rho else eps_spent,
            b.delta,
            delta_spent,
            float(total.rho),
            float(spent.rho),
            float(self.ledger.naive_epsilon(name)),
            spec.default_epsilon,
        )

    # --- releasing ---------------------------------------------------------------------------------------
    def run(
        self,
        query: Query,
        *,
        epsilon: float | None = None,
        accuracy: float | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        dry_run: bool = False,
    ) -> Release | ReleaseTable | Estimate:
        """Release ``query`` (or estimate it, with ``dry_run``). See the module docstring."""
        spec = self.source(query.source)
        op = f"compute {query.statistic}" + (f" of '{query.column}'" if query.column else "")
        plan = query.canonical()
        try:
            checked = validate(spec, query)
            alpha_v = _check_alpha(spec.alpha if alpha is None else alpha, spec.name, op)
            eps = self._requested_epsilon(spec, query, op, epsilon, accuracy, alpha_v, delta)
            cost, target, delta_q = self._price(spec, eps, delta, op)
            if dry_run:
                prepared = self._prepare(spec, query, target, alpha_v, delta_q, op)
                return Estimate(
                    query.describe(),
                    eps,
                    float(delta_q if prepared.delta else 0),
                    target if spec.budget.mode == "zcdp" else 0.0,
                    alpha_v,
                    prepared.expected_halfwidth,
                    prepared.mechanism,
                    self.budget_state(spec.name).epsilon_remaining,
                )
            if checked.cells is not None:  # declared keys: no thresholds, no δ
                cost = Cost(cost.epsilon, cost.rho)
            replayed = self._replay(spec, query, plan, cost, alpha_v)
            if replayed is not None:
                return replayed
            if self.replay_manifest is not None:
                raise ReplayMissError(
                    op,
                    spec.name,
                    "this query is not in the release manifest being replayed",
                    [("query", query.describe()), ("cost", fmt(eps))],
                    [
                        "run it with the same epsilon= as the original notebook",
                        "jp.replay(None)  # leave replay mode (needs the data)",
                    ],
                )
            total, spent = self.ledger.totals(spec.name)
            if not fits(cost, spent, total, spec.budget.mode):  # refuse before calibrating
                raise self._budget_error(spec, query, op, cost, Refusal(spent, total))
            prepared = self._prepare(spec, query, target, alpha_v, delta_q, op, prefetch=True)
            if prepared.delta == 0:
                cost = Cost(cost.epsilon, cost.rho)
            verified = exact(prepared.loss.value)
            bound = cost.epsilon if spec.budget.mode == "pure" else cost.rho
            if verified > bound or exact(prepared.delta) > cost.delta:
                raise ReleaseFailedError(
                    op,
                    spec.name,
                    "the verified privacy loss exceeds the price",
                    [("verified", repr(prepared.loss))],
                )
        except PrivacyError as exc:
            self._audit_refusal(spec.name, plan, exc)
            raise
        return self._charge_and_release(spec, query, plan, cost, alpha_v, prepared, op)

    def _requested_epsilon(
        self,
        spec: SourceSpec,
        query: Query,
        op: str,
        epsilon: float | None,
        accuracy: float | None,
        alpha: float,
        delta: float | None,
    ) -> float:
        if epsilon is not None and accuracy is not None:
            raise InvalidArgumentError(
                op,
                spec.name,
                "give either epsilon= or accuracy=, not both",
                fixes=[f"{query.describe()[:-1]}epsilon=0.1)"],
            )
        if accuracy is None:
            return check_parameter(
                "epsilon",
                spec.default_epsilon if epsilon is None else epsilon,
                source=spec.name,
                operation=op,
                low=EPSILON_MIN,
                high=EPSILON_MAX,
            )
        acc = check_parameter("accuracy", accuracy, source=spec.name, operation=op)
        return self._epsilon_for_accuracy(spec, query, op, acc, alpha, delta)

    def _epsilon_for_accuracy(
        self,
        spec: SourceSpec,
        query: Query,
        op: str,
        accuracy: float,
        alpha: float,
        delta: float | None,
    ) -> float:
        """Smallest ε (4 significant digits, rounded up) whose interval half-width ≤ accuracy.

        The search runs over the calibration target (ε, or ρ under zCDP) and converts to ε once
        at the end: each ε→ρ conversion is itself a search through OpenDP's privacy profile.
        """
        _, _, delta_q = self._price(spec, 1.0, delta, op)  # validates δ; δ does not depend on ε
        mode = spec.budget.mode

        def halfwidth(target: float) -> float | None:
            loss = PrivacyLoss.of(mode, target)
            return engine.prepare(spec, query, loss, alpha, delta_q).expected_halfwidth

        if halfwidth(1.0) is None:
            raise UnsupportedOperationError(
                op,
                spec.name,
                "accuracy= needs an interval known in advance, and this statistic's "
                "interval depends on the data",
                [("supported", "accuracy= on " + ", ".join(WITH_ACCURACY))],
                [f"{query.describe()[:-1]}epsilon=0.1)", f"{query.describe()[:-1]}dry_run=True)"],
            )
        lo, hi = 1e-9, 1.0
        while (halfwidth(hi) or math.inf) > accuracy:
            lo, hi = hi, hi * 4
            if hi > EPSILON_MAX:
                raise InvalidArgumentError(
                    op,
                    spec.name,
                    "that accuracy needs an unbounded ε",
                    [("accuracy", repr(accuracy))],
                )
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            if (halfwidth(mid) or math.inf) <= accuracy:
                hi = mid
            else:
                lo = mid
            if hi / lo < 1.0001:
                break
        eps = hi if mode == "pure" else engine.epsilon_of_rho(hi, spec.budget.conversion_delta)
        digits = 3 - math.floor(math.log10(eps))
        return float(math.ceil(eps * 10**digits) / 10**digits)

    def _price(
        self, spec: SourceSpec, eps: float, delta: float | None, op: str
    ) -> tuple[Cost, float, float]:
        """(cost to charge, target loss for calibration, δ offered to thresholds)."""
        b = spec.budget
        if b.mode == "pure":
            if delta:
                raise InvalidArgumentError(
                    op,
                    spec.name,
                    "a pure ε-DP budget cannot spend δ",
                    [("given", f"δ = {delta!r}")],
                    ["jp.Budget(epsilon=1.0, delta=1e-6)"],
                )
            return Cost(epsilon=exact(eps)), eps, 0.0
        delta_q = (
            float(b.threshold_delta) / 10
            if delta is None
            else check_parameter("delta", delta, source=spec.name, operation=op, low=DELTA_MIN)
        )
        try:
            rho = engine.rho_of_epsilon(eps, b.conversion_delta)
        except Exception as exc:  # OpenDP overflows converting a huge ε; parameters are public
            raise InvalidArgumentError(
                op,
                spec.name,
                "epsilon is too large to account in zCDP",
                [("given", f"ε = {eps!r}"), ("error", type(exc).__name__)],
                ["epsilon=1.0"],
            ) from None
        return Cost(epsilon=exact(eps), rho=exact(rho), delta=exact(delta_q)), rho, delta_q

    def _prepare(
        self,
        spec: SourceSpec,
        query: Query,
        target: float,
        alpha: float,
        delta: float,
        op: str,
        prefetch: bool = False,
    ) -> engine.Prepared:
        """Calibrate. A failure here is about public parameters, never values: the data pass
        that ``prefetch`` may start in the background reports only through ``Prepared.run``."""
        try:
            loss = PrivacyLoss.of(spec.budget.mode, target)
            return engine.prepare(spec, query, loss, alpha, delta, prefetch)
        except PrivacyError:
            raise
        except Exception as exc:
            raise InvalidArgumentError(
                op,
                spec.name,
                "no mechanism can be calibrated to these privacy parameters",
                [("error", type(exc).__name__)],
                ["epsilon=1.0"],
            ) from None

    def _fingerprint(self, spec: SourceSpec) -> str:
        stamp = engine.data_stamp(spec.data)
        cached = self._fingerprints.get(spec.name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        # Keyed: an unkeyed content hash in exports would let someone who knows all rows but
        # one test guesses for the last one.
        fp = hmac.new(self._secret(), engine.fingerprint(spec.data).encode(), "sha256").hexdigest()
        self._fingerprints[spec.name] = (stamp, fp[:16])
        return fp[:16]

    def _secret(self) -> bytes:
        path = self.home / "fingerprint.key"
        if not path.is_file():
            self.home.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another kernel made it first
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
        for _ in range(100):
            key = path.read_bytes()
            if len(key) == 32:
                return key
            time.sleep(0.01)  # the other kernel is still writing it
        raise PolicyError(
            "read the fingerprint key",
            str(path),
            "the key file is damaged",
            fixes=["delete the file; release caches start afresh"],
        )

    def _replay(
        self, spec: SourceSpec, query: Query, plan: str, cost: Cost, alpha: float
    ) -> Release | ReleaseTable | None:
        key = cache_key(cost, alpha)
        if self.replay_manifest is not None:
            payload = self.replay_manifest.get((spec.name, query.digest(), key))
        else:
            payload = self.ledger.lookup(spec.name, self._fingerprint(spec), query.digest(), key)
        if payload is None:
            return None
        self.ledger.audit(spec.name, plan, cost, "replayed", {"release": payload["id"]})
        result = build_release(payload, replayed=True)
        self._emit(
            {"type": "release", "source": spec.name, "release_id": payload["id"], "replayed": True}
        )
        return result

    def _charge_and_release(
        self,
        spec: SourceSpec,
        query: Query,
        plan: str,
        cost: Cost,
        alpha: float,
        prepared: engine.Prepared,
        op: str,
    ) -> Release | ReleaseTable:
        fingerprint = self._fingerprint(spec)
        outcome = self.ledger.charge(
            spec.name, cost, spec.budget.mode, fingerprint, plan, query.digest()
        )
        if isinstance(outcome, Refusal):
            raise self._budget_error(spec, query, op, cost, outcome)
        self._emit({"type": "charge", "source": spec.name})
        try:
            cells = prepared.run()
        except Exception:
            # Validation leaves only failures of the machine (disk, memory, a file that vanished)
            # here. What the analyst sees of one must not depend on the data: the same message
            # and audit entry whatever the error was; its type goes to the operator's log only.
            _log.info("release of %s failed after the charge", spec.name, exc_info=True)
            self.ledger.audit(spec.name, plan, cost, "failed", {})
            raise ReleaseFailedError(
                op,
                spec.name,
                "the release failed after the budget was charged",
                [("charged", fmt(cost.epsilon))],
                ["check that the source is readable, then run the query again"],
            ) from None
        release_id = uuid.uuid4().hex[:12]
        payload = {
            "scalar": engine.is_scalar(query),
            "cells": [c.to_json() for c in cells],
            "meta": {
                "source": spec.name,
                "query": query.describe(),
                "alpha": alpha,
                "epsilon": float(cost.epsilon),
                "delta": float(cost.delta),
                "rho": float(cost.rho),
                "mechanism": prepared.mechanism,
                "created": now(),
                # what the cells are keyed by: the group keys, or the column counted
                "by": list(query.by) or _counted(query),
                "fingerprint": fingerprint,
                "context": self.context(),
                "cost_key": cache_key(cost, alpha),
                "plan_hash": query.digest(),
            },
        }
        self.ledger.record_release(
            release_id,
            spec.name,
            fingerprint,
            query.digest(),
            cache_key(cost, alpha),
            plan,
            cost,
            payload,
        )
        self._emit(
            {"type": "release", "source": spec.name, "release_id": release_id, "replayed": False}
        )
        return build_release({"id": release_id, **payload}, replayed=False)

    def _budget_error(
        self, spec: SourceSpec, query: Query, op: str, cost: Cost, refusal: Refusal
    ) -> BudgetExceededError:
        state = self.budget_state(spec.name)
        if spec.budget.mode == "pure":
            remaining = refusal.total.epsilon - refusal.spent.epsilon
            details = [("requested", fmt(cost.epsilon)), ("remaining", fmt(remaining, down=True))]
        else:
            details = [
                (
                    "requested",
                    f"{fmt(cost.epsilon)} (ρ = {float(cost.rho):.3g}, δ = {float(cost.delta):.3g})",
                ),
                (
                    "remaining",
                    f"{fmt(state.epsilon_remaining, down=True)} (ρ = "
                    f"{float(refusal.total.rho - refusal.spent.rho):.3g}, δ = "
                    f"{float(refusal.total.delta - refusal.spent.delta):.3g})",
                ),
            ]
        call = query.describe()
        smaller = max(state.epsilon_remaining / 2, 0.0)
        fixes = [f"{call[:-1]}{', ' if not call.endswith('()') else ''}dry_run=True)"]
        if smaller >= EPSILON_MIN:
            fixes.insert(
                0, f"{call[:-1]}{', ' if not call.endswith('()') else ''}epsilon={smaller:.2g})"
            )
        reason = (
            "the budget is spent"
            if state.epsilon_remaining <= 0
            else "the query costs more than remains"
        )
        return BudgetExceededError(op, spec.name, reason, details, fixes)

    def _audit_refusal(self, source: str, plan: str, exc: PrivacyError) -> None:
        if source in self.sources:
            self.ledger.audit(source, plan, Cost(), "refused", {"reason": exc.code})

    # --- events ----------------------------------------------------------------------------------------
    def _emit(self, event: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken display must never break a release
                continue


def _counted(query: Query) -> list[str]:
    counts = AGGREGATES[query.statistic].keyed_by_column and query.column is not None
    return [str(query.column)] if counts else []


def cache_key(cost: Cost, alpha: float) -> str:
    """Same plan, same cost and same interval level: the same release."""
    return f"{cost.key()};alpha={alpha!r}"


def build_release(payload: dict[str, Any], replayed: bool) -> Release | ReleaseTable:
    m = payload["meta"]
    meta = Meta(
        payload["id"],
        m["source"],
        m["query"],
        m["alpha"],
        m["epsilon"],
        m["delta"],
        m["rho"],
        m["mechanism"],
        replayed,
        m["created"],
        tuple(m.get("by", ())),
    )
    cells = [Cell.from_json(c) for c in payload["cells"]]
    if payload["scalar"] and len(cells) == 1:
        return Release(cells[0], meta)
    return ReleaseTable(cells, meta)


def _check_alpha(alpha: object, source: str, op: str) -> float:
    ok = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    value = float(alpha) if ok else math.nan  # type: ignore[arg-type]
    if not (ALPHA_MIN <= value <= ALPHA_MAX):
        raise InvalidArgumentError(
            op,
            source,
            f"alpha must be a number between {ALPHA_MIN:g} and {ALPHA_MAX:g}",
            [("given", repr(alpha))],
            ["alpha=0.05"],
        )
    return value


__all__ = ["BudgetState", "Workspace", "build_release", "default_home"]
