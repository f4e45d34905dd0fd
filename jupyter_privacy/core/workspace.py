"""The workspace: registered sources, the ledger, and the release protocol.

One release, in order: validate and price the plan on public information; replay it from the
release store if the same plan at the same cost already ran on the same data version (or, for a
reviewer, is in the manifest); calibrate OpenDP measurements and check their maps against the
price; check-and-charge the ledger durably; only then read the data, release, and record. A crash
after the charge loses budget, never privacy. Pricing, registration, data versions and the
stores each live in a module of their own; this one only orders the steps.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jupyter_privacy.core import auto_bounds, engine
from jupyter_privacy.core.aggregates import AGGREGATES
from jupyter_privacy.core.budget import Cost, exact, fits, fmt
from jupyter_privacy.core.errors import (
    InvalidArgumentError,
    PolicyError,
    PrivacyError,
    ReleaseFailedError,
    ReplayMissError,
)
from jupyter_privacy.core.fingerprints import Fingerprints
from jupyter_privacy.core.ledger import Ledger, Refusal, VerifyResult, now
from jupyter_privacy.core.loss import PrivacyLoss
from jupyter_privacy.core.plan import Query
from jupyter_privacy.core.pricing import (
    BudgetState,
    budget_refusal,
    budget_state,
    check_alpha,
    checked_accuracy,
    price,
    requested_epsilon,
    total_cost,
)
from jupyter_privacy.core.record import ReleaseRecord
from jupyter_privacy.core.registration import SourceDeclaration, declare
from jupyter_privacy.core.release import Estimate, Release, ReleaseTable
from jupyter_privacy.core.release_store import LedgerCache, ManifestStore
from jupyter_privacy.core.service import Event, EventHub, Listener, Mode
from jupyter_privacy.core.source import SourceSpec
from jupyter_privacy.core.validate import validate

_log = logging.getLogger(__name__)


def default_home() -> Path:
    return Path(os.environ.get("JUPYTER_PRIVACY_HOME") or Path.cwd() / ".jupyter_privacy")


@dataclass(frozen=True)
class Released:
    """A release as the protocol returns it: its record, made now or replayed."""

    record: ReleaseRecord
    replayed: bool


class Workspace:
    """The local release service: sources, ledger and release protocol for one home folder."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        self._ledger: Ledger | None = None
        self.sources: dict[str, SourceSpec] = {}
        self.fingerprints = Fingerprints(self.home)
        self.events = EventHub()
        #: Public facts about where a release was asked for (the kernel sets the cell number).
        self.context: Callable[[], dict[str, Any]] = dict
        #: A reviewer's manifest, when replaying one; else releases come from the ledger's cache.
        self.manifest: ManifestStore | None = None
        #: Released bounds of ``bounds="auto"`` columns, by (source, column, data version):
        #: (low, high, id). A rewritten file asks for its own.
        self._auto: dict[tuple[str, str, Any], tuple[float, float, str]] = {}

    @property
    def mode(self) -> Mode:
        return "replay" if self.manifest is not None else "local"

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.home / "ledger.sqlite")
        return self._ledger

    @property
    def store(self) -> LedgerCache | ManifestStore:
        return (
            self.manifest
            if self.manifest is not None
            else LedgerCache(self.ledger, self.fingerprints)
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.events.subscribe(listener)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # --- sources -----------------------------------------------------------------------------------
    def register(self, data: Any, *, name: str | None = None, **declared: Any) -> SourceSpec:
        """Register a sensitive source (``SourceDeclaration``'s fields as keywords); checks only
        public metadata. In replay mode the manifest describes the source and no data is read."""
        return self.add_source(data, SourceDeclaration(name=name, **declared))

    def add_source(self, data: Any, declared: SourceDeclaration) -> SourceSpec:
        if self.manifest is not None:
            declared, data = self._from_manifest(data, declared.name), None
        spec = declare(data, declared)
        self.ledger.ensure_source(
            spec.name, spec.budget.mode, total_cost(spec.budget, spec.name), spec.budget.to_dict()
        )
        self.sources[spec.name] = spec
        self.fingerprints.forget(spec.name)
        self._auto = {k: v for k, v in self._auto.items() if k[0] != spec.name}
        if spec.data is not None:
            engine.warm(spec)  # bounded rows and fingerprint, in the background: ready when asked
        self.events.emit(Event("source_registered", spec.name))
        return spec

    def _from_manifest(self, data: Any, name: str | None) -> SourceDeclaration:
        assert self.manifest is not None
        if name is None and isinstance(data, str | Path):
            name = Path(data).stem
        described = self.manifest.sources.get(str(name))
        if described is None:
            raise ReplayMissError(
                "register",
                str(name),
                "the release manifest has no source of that name",
                [("in manifest", ", ".join(sorted(self.manifest.sources)) or "(none)")],
                ["jp.replay(None)  # leave replay mode (needs the data)"],
            )
        return SourceDeclaration.from_description({**described, "name": str(name)})

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

    # --- reading -------------------------------------------------------------------------------------
    def budget_state(self, name: str) -> BudgetState:
        return budget_state(self.source(name), self.ledger)

    def releases(self, source: str | None = None) -> list[ReleaseRecord]:
        """Releases of the registered sources, oldest first (in replay: those replayed here)."""
        found = self.store.releases(self.ledger, source)
        return [r for r in found if r.source in self.sources]

    def audit_rows(self) -> list[dict[str, Any]]:
        return self.ledger.audit_rows()

    def verify(self) -> VerifyResult:
        return self.ledger.verify()

    # --- manifests -----------------------------------------------------------------------------------
    def export_manifest(self) -> dict[str, Any]:
        """Every release of the registered sources, public values only, for reviewers."""
        sources = {}
        for n, s in self.sources.items():
            described = s.describe()
            if described["path"]:  # replay matches by file name; a published file names no folders
                described["path"] = Path(str(described["path"])).name
            sources[n] = described
        releases = [
            r.published().to_json() for r in self.ledger.releases() if r.source in self.sources
        ]
        return {"version": 2, "created": now(), "sources": sources, "releases": releases}

    def load_manifest(self, manifest: dict[str, Any] | None) -> None:
        """Enter replay mode (every query must be in the manifest), or leave it with None."""
        self.manifest = ManifestStore(manifest) if manifest is not None else None
        self._auto.clear()  # bounds released in another mode are looked up again
        if manifest is not None:
            self.sources.clear()

    # --- releasing ---------------------------------------------------------------------------------
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
        """Release ``query`` (or estimate it, with ``dry_run``): the value a cell returns."""
        outcome = self.release(
            query, epsilon=epsilon, accuracy=accuracy, alpha=alpha, delta=delta, dry_run=dry_run
        )
        if isinstance(outcome, Estimate):
            return outcome
        return outcome.record.to_release(outcome.replayed)

    def release(
        self,
        query: Query,
        *,
        epsilon: float | None = None,
        accuracy: float | None = None,
        alpha: float | None = None,
        delta: float | None = None,
        dry_run: bool = False,
    ) -> Released | Estimate:
        """The release protocol of the module docstring; the record, and whether it was replayed."""
        spec = self.source(query.source)
        op = f"compute {query.statistic}" + (f" of '{query.column}'" if query.column else "")
        plan = query.canonical()
        used: dict[str, str] = {}
        try:
            if self.manifest is None and not dry_run:  # neither reads the data
                _require_file(spec, op)
            if spec.auto_bounds:
                asked = _Asked(epsilon, accuracy, alpha, delta, dry_run)
                spec, used = self._with_auto_bounds(spec, query, op, asked)
            checked = validate(spec, query)
            alpha_v = check_alpha(spec.alpha if alpha is None else alpha, spec.name, op)
            eps = requested_epsilon(spec, query, op, epsilon, accuracy, alpha_v, delta)
            priced = price(spec, eps, delta, op)
            if dry_run:
                return self._estimate(spec, query, op, eps, priced.target, alpha_v, priced.delta)
            cost = priced.cost
            if checked.cells is not None:  # declared keys: no thresholds, no δ
                cost = Cost(cost.epsilon, cost.rho)
            key = cache_key(cost, alpha_v) + auto_bounds.cost_suffix(used)
            earlier = self.store.lookup(spec, query.digest(), key)
            if earlier is not None:
                self.ledger.audit(spec.name, plan, cost, "replayed", {"release": earlier.id})
                self.events.emit(Event("release", spec.name, earlier, replayed=True))
                return Released(earlier, replayed=True)
            if self.manifest is not None:
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
                raise self._refusal(spec, query, op, cost, Refusal(spent, total))
            prepared = self._calibrate(
                spec, query, priced.target, alpha_v, priced.delta, op, prefetch=True
            )
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
            if spec.name in self.sources:
                self.ledger.audit(spec.name, plan, Cost(), "refused", {"reason": exc.code})
            raise
        record = self._charge_and_release(spec, query, plan, cost, alpha_v, prepared, op, used)
        return Released(record, replayed=False)

    def _with_auto_bounds(
        self, spec: SourceSpec, query: Query, op: str, asked: _Asked
    ) -> tuple[SourceSpec, dict[str, str]]:
        """``spec`` with the released bounds of the auto columns ``query`` needs, and the ids of
        those bounds releases. The plan is first validated with stand-in bounds, so a plan that
        would be refused anyway spends nothing on bounds; a bounds release that is not in the
        ledger yet is made (charged, recorded) here, except for a dry run, which is refused."""
        wanted = _bounds_read(spec, query)
        if not wanted:
            return spec, {}
        stand_in = dict.fromkeys(spec.auto_bounds, auto_bounds.STAND_IN)
        self._preflight(_with_bounds(spec, stand_in), query, op, asked, wanted)
        found: dict[str, tuple[float, float]] = {}
        used: dict[str, str] = {}
        for col in wanted:
            lo, hi, rid = self._auto_bounds(spec, col, op, asked.dry_run)
            found[col], used[col] = (lo, hi), rid
        return _with_bounds(spec, found), used

    def _preflight(
        self, stand_in: SourceSpec, query: Query, op: str, asked: _Asked, wanted: list[str]
    ) -> None:
        """Refuse before any bounds release is charged what the query would be refused anyway:
        its plan and options, and a budget that cannot pay the bounds and the query together.
        ``accuracy=`` is priced on the released bounds, so only its bounds are counted: its ε
        can still be refused after they are released (they are kept for later queries). With
        every bound already released nothing is charged here: the query itself may be a free
        replay, which the release path finds."""
        checked = validate(stand_in, query)
        alpha_v = check_alpha(
            stand_in.alpha if asked.alpha is None else asked.alpha, query.source, op
        )
        # with accuracy=, only checked here: its ε is priced on the released bounds
        accuracy = checked_accuracy(
            stand_in, query, op, asked.epsilon, asked.accuracy, alpha_v, asked.delta
        )
        if accuracy is None:
            eps = requested_epsilon(stand_in, query, op, asked.epsilon, None, alpha_v, asked.delta)
        else:
            eps = stand_in.default_epsilon  # validates δ below; the query's ε is not counted
        priced = price(stand_in, eps, asked.delta, op)
        if asked.dry_run or self.manifest is not None:
            return
        bounds_cost = Cost()
        for col in wanted:
            if _auto_key(stand_in, col) in self._auto:
                continue
            bounds = price(stand_in, stand_in.bounds_epsilon, None, op).cost
            key = cache_key(Cost(bounds.epsilon, bounds.rho), stand_in.alpha)
            bounds_query = Query(stand_in.name, (), auto_bounds.STATISTIC, col)
            if self.store.lookup(stand_in, bounds_query.digest(), key) is None:
                bounds_cost = bounds_cost + Cost(bounds.epsilon, bounds.rho)
        if bounds_cost == Cost():
            return
        cost = bounds_cost
        if accuracy is None:
            cost = cost + (
                priced.cost if checked.cells is None else Cost(priced.cost.epsilon, priced.cost.rho)
            )
        total, spent = self.ledger.totals(stand_in.name)
        if not fits(cost, spent, total, stand_in.budget.mode):
            raise self._refusal(stand_in, query, op, cost, Refusal(spent, total))

    def _auto_bounds(
        self, spec: SourceSpec, column: str, op: str, dry_run: bool
    ) -> tuple[float, float, str]:
        """The released bounds of one auto column: from this session, else the bounds release
        (a replay when the ledger or manifest holds it, free; else made and charged now)."""
        known = self._auto.get(_auto_key(spec, column))
        if known is not None:
            return known
        bounds_query = Query(spec.name, (), auto_bounds.STATISTIC, column)
        if dry_run:
            priced = price(spec, spec.bounds_epsilon, None, op)  # as the release would be
            key = cache_key(Cost(priced.cost.epsilon, priced.cost.rho), spec.alpha)
            earlier = self.store.lookup(spec, bounds_query.digest(), key)
            if earlier is None:
                raise InvalidArgumentError(
                    op,
                    spec.name,
                    f"the bounds of '{column}' are estimated from the data on first use, "
                    "which a dry run cannot do",
                    [("bounds", f"'auto', at ε = {spec.bounds_epsilon:g}")],
                    [bounds_query.call(epsilon=spec.bounds_epsilon)],
                )
            record = earlier
        else:
            outcome = self.release(bounds_query, epsilon=spec.bounds_epsilon, alpha=spec.alpha)
            assert isinstance(outcome, Released)
            record = outcome.record
        cells = {c.statistic: c.value for c in record.cells}
        info = spec.schema[column]
        lo, hi = cells[auto_bounds.LABELS[0]], cells[auto_bounds.LABELS[1]]
        if info.kind == "int":  # outward to whole numbers, still strictly increasing
            lo, hi = math.floor(lo), math.ceil(hi)
            hi = max(hi, lo + 1)
        self._auto[_auto_key(spec, column)] = (lo, hi, record.id)
        return lo, hi, record.id

    def _estimate(
        self,
        spec: SourceSpec,
        query: Query,
        op: str,
        eps: float,
        target: float,
        alpha: float,
        delta: float,
    ) -> Estimate:
        prepared = self._calibrate(spec, query, target, alpha, delta, op)
        return Estimate(
            query.describe(),
            eps,
            float(delta if prepared.delta else 0),
            target if spec.budget.mode == "zcdp" else 0.0,
            alpha,
            prepared.expected_halfwidth,
            prepared.mechanism,
            self.budget_state(spec.name).epsilon_remaining,
        )

    def _calibrate(
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

    def _charge_and_release(
        self,
        spec: SourceSpec,
        query: Query,
        plan: str,
        cost: Cost,
        alpha: float,
        prepared: engine.Prepared,
        op: str,
        used: dict[str, str] | None = None,
    ) -> ReleaseRecord:
        fingerprint = self.fingerprints.of(spec)
        outcome = self.ledger.charge(
            spec.name, cost, spec.budget.mode, fingerprint, plan, query.digest()
        )
        if isinstance(outcome, Refusal):
            raise self._refusal(spec, query, op, cost, outcome)
        self.events.emit(Event("charge", spec.name))
        try:
            cells = prepared.run()
            note = _bounds_note(used or {})
            if note:  # the card names the bounds releases this one clipped to
                cells = [replace(c, mechanism=c.mechanism + note) for c in cells]
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
        record = ReleaseRecord(
            id=uuid.uuid4().hex[:12],
            source=spec.name,
            query=query.describe(),
            plan=query.to_json(),
            plan_hash=query.digest(),
            cost_key=cache_key(cost, alpha) + auto_bounds.cost_suffix(used or {}),
            scalar=engine.is_scalar(query),
            cells=tuple(cells),
            epsilon=float(cost.epsilon),
            delta=float(cost.delta),
            rho=float(cost.rho),
            alpha=alpha,
            mechanism=prepared.mechanism + _bounds_note(used or {}),
            created=now(),
            by=tuple(query.by) or _counted(query),  # the group keys, or the column counted
            context=self.context(),
            fingerprint=fingerprint,
        )
        self.ledger.record_release(record, plan, cost)
        self.events.emit(Event("release", spec.name, record))
        return record

    def _refusal(
        self, spec: SourceSpec, query: Query, op: str, cost: Cost, refusal: Refusal
    ) -> PrivacyError:
        return budget_refusal(spec, self.budget_state(spec.name), query, op, cost, refusal)


@dataclass(frozen=True)
class _Asked:
    """The options a release was asked with (what the bounds preflight checks)."""

    epsilon: float | None
    accuracy: float | None
    alpha: float | None
    delta: float | None
    dry_run: bool


def _bounds_read(spec: SourceSpec, query: Query) -> list[str]:
    """The auto columns whose bounds the plan's answer reads: those whose stand-in bounds, when
    changed, change the bounds of a column its statistic reads (a ``clip`` or a comparison reads
    none). Public: the plan and the schema only."""
    candidates = auto_bounds.needed(query, spec.auto_bounds, spec.schema)
    if not candidates:
        return []
    wide = dict.fromkeys(spec.auto_bounds, auto_bounds.STAND_IN)
    base = validate(_with_bounds(spec, wide), query).schema
    read = auto_bounds.reads(query, base)
    found = []
    for col in candidates:
        for other in auto_bounds.STAND_IN_OTHERS:
            moved = validate(_with_bounds(spec, {**wide, col: other}), query).schema
            if any(base.get(r) != moved.get(r) for r in read):
                found.append(col)
                break
    return found


def _require_file(spec: SourceSpec, op: str) -> None:
    """A registered file that is gone or unreadable is refused by name before anything else
    (its path is the analyst's, not the data's)."""
    if isinstance(spec.data, Path) and not os.access(spec.data, os.R_OK):
        raise PolicyError(
            op,
            spec.name,
            "the source's file is gone or cannot be read",
            [("path", str(spec.data))],
            [f"jp.register({str(spec.data)!r}, name={spec.name!r}, ...)"],
        )


def _auto_key(spec: SourceSpec, column: str) -> tuple[str, str, Any]:
    """Where this session keeps a column's released bounds: per data version."""
    return (spec.name, column, engine.data_stamp(spec.data))


def _with_bounds(spec: SourceSpec, bounds: dict[str, tuple[float, float]]) -> SourceSpec:
    """``spec`` whose columns in ``bounds`` have those bounds, as if declared."""
    schema = {c: replace(i, bounds=bounds[c]) if c in bounds else i for c, i in spec.schema.items()}
    return replace(spec, schema=schema)


def _bounds_note(used: dict[str, str]) -> str:
    """What the mechanism text says about bounds from bounds releases."""
    return "".join(f"; bounds of '{c}' from release {i}" for c, i in sorted(used.items()))


def _counted(query: Query) -> tuple[str, ...]:
    counts = AGGREGATES[query.statistic].keyed_by_column and query.column is not None
    return (str(query.column),) if counts else ()


def cache_key(cost: Cost, alpha: float) -> str:
    """Same plan, same cost and same interval level: the same release."""
    return f"{cost.key()};alpha={alpha!r}"


__all__ = ["BudgetState", "Released", "Workspace", "cache_key", "default_home"]
