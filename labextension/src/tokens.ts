/**
 * Interfaces of the jupyter-privacy frontend: the wire protocol of the
 * `jupyter_privacy` comm (schema "jupyter-privacy/1.1", see docs/comm-schema.md),
 * the view state the sidebar and status bar render, and the plugin token.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** Comm target name, registered by the kernel on `%load_ext jupyter_privacy`. */
export const COMM_TARGET = 'jupyter_privacy';

/** The schema this frontend speaks; another major version is ignored. */
export const SCHEMA = 'jupyter-privacy/1';

/** One source's budget, as the kernel sends it. */
export interface IBudgetState {
  source: string;
  mode: 'pure' | 'zcdp';
  epsilon_total: number;
  epsilon_spent: number;
  epsilon_remaining: number;
  delta_total: number;
  delta_spent: number;
  delta_remaining: number;
  rho_total?: number;
  rho_spent?: number;
  naive_epsilon?: number;
  default_epsilon?: number;
}

/** One cell of a release (a scalar release has one). */
export interface IReleaseCell {
  key: unknown;
  statistic: string;
  value: number | null;
  ci: [number | null, number | null] | null;
  rank_error?: number | null;
}

/** One release, as the kernel sends it. */
export interface IReleaseSummary {
  id: string;
  source: string;
  query: string;
  /** The query with the options that change its answer: `patients.age.mean(epsilon=0.2)` (1.1). */
  label?: string;
  epsilon: number;
  delta: number;
  alpha: number;
  mechanism: string;
  created: string;
  execution_count: number | null;
  cell_id?: string | null;
  /** The notebook that made it: its path on the server, or relative to its folder (1.1). */
  notebook?: string | null;
  /** A release from the manifest being replayed (a reviewer's session), not this ledger (1.1). */
  published?: boolean;
  scalar: boolean;
  cells: IReleaseCell[];
  cell_count: number;
}

/** A node of the lineage graph (sources, transforms, releases). */
export interface ILineageNode {
  id: string;
  kind: 'source' | 'transform' | 'release' | string;
  label?: string;
  text?: string;
  query?: string;
  source?: string;
  [key: string]: unknown;
}

export interface ILineageEdge {
  from: string;
  to: string;
}

export interface ILineageGraph {
  version: number;
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

/** Where and when the kernel was when it sent an event. */
export interface IEventContext {
  execution_count?: number | null;
  cell_id?: string | null;
  notebook?: string | null;
}

/** How the kernel releases: from data (guard-rail or curator) or from a manifest (replay). */
export type KernelMode = 'guard-rail' | 'curator' | 'replay';

export interface ISnapshotMessage {
  schema: string;
  type: 'snapshot';
  mode?: KernelMode;
  notebook?: string | null;
  budget: IBudgetState[];
  releases: IReleaseSummary[];
  lineage?: ILineageGraph | null;
  sent_at?: number;
}

export interface IEventMessage {
  schema: string;
  type: 'event';
  mode?: KernelMode;
  event: {
    type: 'charge' | 'release' | 'source_registered' | string;
    source?: string;
    release_id?: string;
    replayed?: boolean;
    context?: IEventContext;
  };
  budget: IBudgetState[];
  release: IReleaseSummary | null;
  lineage?: ILineageGraph | null;
  sent_at?: number;
}

/** The lineage graph alone, sent in answer to `{"type": "request_lineage"}`. */
export interface ILineageMessage {
  schema: string;
  type: 'lineage';
  lineage: ILineageGraph;
  sent_at?: number;
}

export type PrivacyMessage = ISnapshotMessage | IEventMessage | ILineageMessage;

/** How the sidebar's kernel stands. */
export type ConnectionStatus =
  | 'no-kernel' // no notebook, or a notebook without a kernel
  | 'waiting' // a kernel, but `%load_ext jupyter_privacy` has not run in it
  | 'live' // the comm is open and the snapshot arrived
  | 'restarting' // the kernel is restarting; the extension must be loaded again
  | 'dead'; // the kernel died or was shut down

/** Budget level: what the meter and the status bar say (never by colour only). */
export type BudgetLevel = 'ok' | 'warn' | 'exhausted';

/** One source's meter, ready to render. */
export interface IBudgetView {
  source: string;
  mode: 'pure' | 'zcdp';
  epsilonSpent: number;
  epsilonTotal: number;
  epsilonRemaining: number;
  fraction: number; // spent / total in [0, 1]
  percent: number; // rounded, for the text
  level: BudgetLevel;
  levelText: string; // "40% spent", "85% spent", "exhausted"
  hasDelta: boolean;
  deltaSpent: number;
  deltaTotal: number;
  deltaRemaining: number;
  naiveEpsilon: number | null; // under zCDP: the plain sum of per-query ε
}

/** One row of the release history, ready to render. */
export interface IReleaseView {
  key: string; // unique in the list (a replay of a release is a row of its own)
  id: string;
  source: string;
  query: string;
  label: string; // the query with epsilon= (and delta=, alpha=): what makes it this question
  valueText: string; // "47.3 ± 1.2" or "14 values"
  ciText: string; // "95% CI [46.1, 48.5]" or ""
  costText: string; // "ε 0.200" (+ ", δ 1e-7")
  replayed: boolean;
  executionCount: number | null;
  cellId: string | null;
  notebook: string | null; // the notebook that asked for it
  published: boolean; // a published release, replayed from a manifest
  mechanism: string;
  created: string;
}

/** Everything the sidebar and status bar show. */
export interface IPrivacyViewState {
  status: ConnectionStatus;
  /** How the kernel releases; null until the kernel says (or with a 1.0 kernel). */
  mode: KernelMode | null;
  budgets: IBudgetView[];
  releases: IReleaseView[];
  lineage: ILineageGraph | null;
  /** Release-to-model latency of the last event, in ms (for the benchmark). */
  lastSentAt: number | null;
}

/** The privacy state of one kernel. */
export interface IPrivacyModel {
  readonly state: IPrivacyViewState;
  readonly changed: ISignal<IPrivacyModel, IPrivacyViewState>;
}

/** Follows the current notebook's kernel and exposes its privacy model. */
export interface IPrivacyTracker {
  /** The model of the current notebook's kernel, or null when there is none. */
  readonly current: IPrivacyModel | null;
  /** Emitted when the current model changes or its state changes. */
  readonly changed: ISignal<IPrivacyTracker, IPrivacyViewState>;
  /** The current view state (a "no kernel" state when there is no model). */
  readonly state: IPrivacyViewState;
  /** The path of the current notebook, or null. */
  readonly notebookPath: string | null;
  /** Whether a release was made in the current notebook (by its path or one of its cells). */
  inCurrentNotebook(release: IReleaseView): boolean;
  /** Go to the cell that made a release, opening its notebook if it is another one. */
  revealRelease(release: IReleaseView): Promise<boolean>;
  /** Ask the current kernel for a fresh snapshot (at most `limit` releases). */
  requestSnapshot(limit?: number): void;
}

export const IPrivacyTracker = new Token<IPrivacyTracker>(
  'jupyter-privacy:IPrivacyTracker',
  'The privacy budget, releases and lineage of the current notebook kernel.'
);
