/**
 * The model that turns `jupyter_privacy` comm messages into view state.
 *
 * Pure TypeScript (no DOM, no JupyterLab services): unit-tested on its own. The messages are
 * typed by `commSchema.ts`, generated from the kernel's JSON Schema (version 1.1). A 1.0 kernel
 * leaves out the fields 1.1 added (`mode`, `notebook`, `label`, `cell_id`, `published`), so
 * those are read with a check, never trusted to be there.
 */
import { ISignal, Signal } from '@lumino/signaling';

import type {
  IBudgetState,
  IEventContext,
  IEventMessage,
  ILineageGraph,
  ILineageMessage,
  IReleaseSummary,
  ISnapshotMessage,
  KernelMode
} from './commSchema';
import type {
  BudgetLevel,
  ConnectionStatus,
  IBudgetView,
  IPrivacyModel,
  IPrivacyViewState,
  IReleaseView
} from './tokens';

/** The major version this frontend understands. */
export const SCHEMA_MAJOR = 'jupyter-privacy/1';

/** Past this fraction of ε spent the meter turns amber and says so. */
export const WARN_FRACTION = 0.8;

/** The history keeps at most this many rows (newest first). */
export const MAX_RELEASES = 1000;

/** ε, δ and ρ in display: three significant digits ("1.20", "0.0500", "12.0"). */
export function formatBudget(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) {
    return '—';
  }
  if (x === 0) {
    return '0.00';
  }
  const abs = Math.abs(x);
  if (abs >= 1000) {
    return Math.round(x).toLocaleString('en-US');
  }
  if (abs < 1e-3) {
    return x.toExponential(2).replace('e-', 'e−');
  }
  return x.toPrecision(3);
}

/** A δ reads best in exponent form: 1e-6 → "1e−6". */
export function formatDelta(x: number): string {
  if (!Number.isFinite(x)) {
    return '—';
  }
  if (x === 0) {
    return '0';
  }
  const [mantissa, exponent] = x.toExponential(2).split('e');
  const m = String(Number(mantissa));
  return `${m === '1' ? '1' : m}e${exponent.replace('-', '−').replace('+', '')}`;
}

/** A released value: thousands separators above 1,000, four significant digits below. */
export function formatValue(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) {
    return '—';
  }
  const abs = Math.abs(x);
  if (abs >= 1000) {
    return Math.round(x).toLocaleString('en-US');
  }
  if (abs !== 0 && abs < 1e-3) {
    return x.toExponential(2);
  }
  return String(Number(x.toPrecision(4)));
}

/** A confidence interval's half-width: two significant digits are all it can claim. */
export function formatHalfWidth(x: number): string {
  if (!Number.isFinite(x)) {
    return '—';
  }
  const abs = Math.abs(x);
  if (abs >= 100) {
    return Math.round(Number(x.toPrecision(2))).toLocaleString('en-US');
  }
  return String(Number(x.toPrecision(2)));
}

/** The level of a budget: exhausted when nothing is left, warn past 80%. */
export function budgetLevel(spent: number, total: number, remaining: number): BudgetLevel {
  if (total <= 0 || remaining <= total * 1e-9) {
    return 'exhausted';
  }
  return spent / total > WARN_FRACTION ? 'warn' : 'ok';
}

export function budgetView(b: IBudgetState): IBudgetView {
  const total = Number(b.epsilon_total) || 0;
  const spent = Math.max(0, Number(b.epsilon_spent) || 0);
  const remaining = Math.max(0, Number(b.epsilon_remaining) || 0);
  const fraction = total > 0 ? Math.min(1, spent / total) : 1;
  const level = budgetLevel(spent, total, remaining);
  let percent = Math.round(fraction * 100);
  if (level !== 'exhausted' && percent === 100) {
    percent = 99; // never say "100% spent" while something is left
  }
  const deltaTotal = Number(b.delta_total) || 0;
  return {
    source: b.source,
    mode: b.mode,
    epsilonSpent: spent,
    epsilonTotal: total,
    epsilonRemaining: remaining,
    fraction,
    percent,
    level,
    levelText: level === 'exhausted' ? 'exhausted' : `${percent}% spent`,
    hasDelta: deltaTotal > 0,
    deltaSpent: Number(b.delta_spent) || 0,
    deltaTotal,
    deltaRemaining: Number(b.delta_remaining) || 0,
    naiveEpsilon: b.mode === 'zcdp' && typeof b.naive_epsilon === 'number' ? b.naive_epsilon : null
  };
}

function costText(r: IReleaseSummary): string {
  const parts = [`ε ${formatBudget(r.epsilon)}`];
  if (r.delta) {
    parts.push(`δ ${formatDelta(r.delta)}`);
  }
  return parts.join(', ');
}

function valueTexts(r: IReleaseSummary): { valueText: string; ciText: string } {
  const level = `${formatValue((1 - (r.alpha ?? 0.05)) * 100)}%`;
  const cells = r.cells ?? [];
  if (r.scalar && cells.length === 1) {
    const c = cells[0];
    const ci = c.ci;
    if (ci && ci[0] !== null && ci[1] !== null && c.value !== null) {
      const half = (ci[1] - ci[0]) / 2;
      return {
        valueText: `${formatValue(c.value)} ± ${formatHalfWidth(half)}`,
        ciText: `${level} CI [${formatValue(ci[0])}, ${formatValue(ci[1])}]`
      };
    }
    if (typeof c.rank_error === 'number' && c.value !== null) {
      return {
        valueText: formatValue(c.value),
        ciText: `rank within ±${Math.ceil(c.rank_error).toLocaleString('en-US')} rows (${level})`
      };
    }
    return { valueText: formatValue(c.value), ciText: '' };
  }
  const n = r.cell_count ?? cells.length;
  return { valueText: `${n} value${n === 1 ? '' : 's'}`, ciText: `${level} intervals` };
}

/** One history row from a release summary (and, for replays, the replaying cell). */
export function releaseView(
  r: IReleaseSummary,
  replayed = false,
  context: IEventContext | null = null,
  key: string = r.id
): IReleaseView {
  const { valueText, ciText } = valueTexts(r);
  const executionCount = context?.execution_count ?? r.execution_count ?? null;
  const published = r.published === true;
  const notebook = (context ? context.notebook : r.notebook) ?? r.notebook ?? null;
  return {
    key,
    id: r.id,
    source: r.source,
    query: r.query,
    label: typeof r.label === 'string' && r.label ? r.label : r.query,
    valueText,
    ciText,
    costText: published
      ? `${costText(r)} (published; not charged)`
      : replayed
        ? `${costText(r)} (not charged again)`
        : costText(r),
    replayed,
    executionCount: typeof executionCount === 'number' ? executionCount : null,
    cellId: (context ? context.cell_id : r.cell_id) ?? r.cell_id ?? null,
    notebook: typeof notebook === 'string' && notebook ? notebook : null,
    published,
    mechanism: r.mechanism,
    created: r.created
  };
}

/** Whether a message speaks a schema this frontend understands. */
export function isSupported(message: unknown): boolean {
  if (!message || typeof message !== 'object') {
    return false;
  }
  const schema = (message as { schema?: unknown }).schema;
  return (
    typeof schema === 'string' && (schema === SCHEMA_MAJOR || schema.startsWith(`${SCHEMA_MAJOR}.`))
  );
}

export function emptyState(status: ConnectionStatus = 'no-kernel'): IPrivacyViewState {
  return { status, mode: null, budgets: [], releases: [], lineage: null, lastSentAt: null };
}

const MODES: KernelMode[] = ['guard-rail', 'curator', 'replay'];

function kernelMode(mode: unknown): KernelMode | null {
  return MODES.includes(mode as KernelMode) ? (mode as KernelMode) : null;
}

/**
 * Whether a notebook path recorded with a release names the notebook at `current`: the
 * kernel may record it relative to the server's root or to the notebook's own folder.
 */
export function sameNotebook(recorded: string | null | undefined, current: string | null): boolean {
  if (!recorded || !current) {
    return false;
  }
  const a = recorded.replace(/^\/+|\/+$/g, '');
  const b = current.replace(/^\/+|\/+$/g, '');
  return a === b || a.endsWith(`/${b}`) || b.endsWith(`/${a}`);
}

/**
 * Whether a release was made in the notebook at `path` whose cells have `cellIds`: by its
 * recorded path, or (after a rename, or when the kernel could not tell) by the cell that made it.
 * A release that records neither (made before the kernel recorded notebooks, or through a
 * curator, which keeps only the cell number) cannot be placed: it is shown with this notebook's.
 */
export function madeIn(
  release: IReleaseView,
  path: string | null,
  cellIds: ReadonlySet<string>
): boolean {
  if (release.cellId !== null && cellIds.has(release.cellId)) {
    return true;
  }
  if (release.notebook === null && release.cellId === null) {
    return true;
  }
  return sameNotebook(release.notebook, path);
}

/**
 * The privacy state of one kernel, fed by comm messages.
 *
 * `apply` returns whether the message was understood; an unknown schema or a
 * malformed message leaves the state as it was.
 */
export class PrivacyModel implements IPrivacyModel {
  private _state: IPrivacyViewState = emptyState('waiting');
  private _changed = new Signal<this, IPrivacyViewState>(this);
  private _replays = 0;

  get state(): IPrivacyViewState {
    return this._state;
  }

  get changed(): ISignal<this, IPrivacyViewState> {
    return this._changed;
  }

  /** Set the connection status; anything but "live" forgets what the kernel said. */
  setStatus(status: ConnectionStatus): void {
    if (status === this._state.status) {
      return;
    }
    this._state = status === 'live' ? { ...this._state, status } : emptyState(status);
    this._changed.emit(this._state);
  }

  apply(message: unknown): boolean {
    if (!isSupported(message)) {
      return false;
    }
    const m = message as { type?: unknown };
    if (m.type === 'snapshot') {
      return this._snapshot(message as ISnapshotMessage);
    }
    if (m.type === 'event') {
      return this._event(message as IEventMessage);
    }
    if (m.type === 'lineage') {
      const lineage = validLineage((message as ILineageMessage).lineage);
      if (!lineage || this._state.status !== 'live') {
        return false;
      }
      this._state = { ...this._state, lineage };
      this._changed.emit(this._state);
      return true;
    }
    return false;
  }

  /** Whether a message makes the lineage graph out of date (the kernel sends it on request). */
  static staleLineage(message: unknown): boolean {
    if (!isSupported(message)) {
      return false;
    }
    const m = message as IEventMessage;
    return (
      m.type === 'event' &&
      !!m.event &&
      (m.release !== null || m.event.type === 'source_registered')
    );
  }

  private _snapshot(m: ISnapshotMessage): boolean {
    if (!Array.isArray(m.budget) || !Array.isArray(m.releases)) {
      return false;
    }
    this._state = {
      status: 'live',
      mode: kernelMode(m.mode),
      budgets: m.budget.map(budgetView),
      releases: m.releases.slice(0, MAX_RELEASES).map(r => releaseView(r)),
      lineage: validLineage(m.lineage) ?? null,
      lastSentAt: typeof m.sent_at === 'number' ? m.sent_at : null
    };
    this._changed.emit(this._state);
    return true;
  }

  private _event(m: IEventMessage): boolean {
    if (!m.event || !Array.isArray(m.budget)) {
      return false;
    }
    let releases = this._state.releases;
    const r = m.release;
    if (r && typeof r.id === 'string') {
      const context = m.event.context ?? null;
      if (m.event.type === 'release' && m.event.replayed) {
        this._replays += 1;
        const row = releaseView(r, true, context, `${r.id}@replay${this._replays}`);
        releases = [row, ...releases];
      } else {
        const row = releaseView(r, false, context);
        releases = [row, ...releases.filter(x => x.key !== row.key)];
      }
      releases = releases.slice(0, MAX_RELEASES);
    }
    this._state = {
      status: 'live',
      mode: kernelMode(m.mode) ?? this._state.mode,
      budgets: m.budget.map(budgetView),
      releases,
      lineage: this._state.lineage, // events never carry it: see staleLineage
      lastSentAt: typeof m.sent_at === 'number' ? m.sent_at : this._state.lastSentAt
    };
    this._changed.emit(this._state);
    return true;
  }
}

function validLineage(g: unknown): ILineageGraph | undefined {
  if (!g || typeof g !== 'object') {
    return undefined;
  }
  const graph = g as ILineageGraph;
  return Array.isArray(graph.nodes) && Array.isArray(graph.edges) ? graph : undefined;
}

/** What the status bar says. */
export interface IStatusSummary {
  text: string;
  title: string; // full text for the tooltip and screen readers
  level: BudgetLevel | 'idle';
}

const LEVEL_RANK: Record<BudgetLevel, number> = { ok: 0, warn: 1, exhausted: 2 };

export function statusSummary(state: IPrivacyViewState): IStatusSummary {
  if (state.status !== 'live') {
    const text =
      state.status === 'waiting'
        ? 'Privacy: not loaded'
        : state.status === 'restarting'
          ? 'Privacy: kernel restarting'
          : state.status === 'dead'
            ? 'Privacy: kernel stopped'
            : 'Privacy: no kernel';
    const title =
      state.status === 'waiting'
        ? 'Run %load_ext jupyter_privacy in this notebook to see its privacy budget'
        : text;
    return { text, title, level: 'idle' };
  }
  if (state.budgets.length === 0) {
    return {
      text: 'Privacy: no sources',
      title: 'No sensitive source is registered in this kernel',
      level: 'idle'
    };
  }
  const describe = (b: IBudgetView): string =>
    `${b.source} ε ${formatBudget(b.epsilonSpent)} / ${formatBudget(b.epsilonTotal)}`;
  const sorted = [...state.budgets].sort(
    (a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || b.fraction - a.fraction
  );
  const first = sorted[0];
  const replay = state.mode === 'replay';
  let text = (replay ? 'Replay · ' : '') + describe(first);
  if (first.level !== 'ok') {
    text += ` · ${first.levelText}`;
  }
  if (sorted.length > 1) {
    const others = sorted.slice(1);
    const exhausted = others.filter(b => b.level === 'exhausted').length;
    const warn = others.filter(b => b.level === 'warn').length;
    const notes = [
      exhausted ? `${exhausted} exhausted` : '',
      warn ? `${warn} over 80%` : ''
    ].filter(Boolean);
    text += ` +${others.length} source${others.length === 1 ? '' : 's'}`;
    if (notes.length) {
      text += ` (${notes.join(', ')})`;
    }
  }
  const title =
    (replay
      ? 'Replay mode: every value is a published release from the manifest; nothing is charged. '
      : '') +
    'Privacy budget: ' +
    sorted
      .map(b => `${describe(b)} spent, ${formatBudget(b.epsilonRemaining)} left (${b.levelText})`)
      .join('; ');
  return { text, title, level: first.level };
}
