/**
 * Interfaces of the jupyter-privacy frontend: the wire protocol of the
 * `jupyter_privacy` comm (re-exported from `commSchema.ts`, generated from the kernel's
 * JSON Schema; see docs/comm-schema.md), the view state the sidebar and status bar render,
 * and the plugin token.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type { BudgetMode, ILineageGraph, KernelMode } from './commSchema';

export type * from './commSchema';

/** Comm target name, registered by the kernel on `%load_ext jupyter_privacy`. */
export const COMM_TARGET = 'jupyter_privacy';

/** The schema this frontend speaks; another major version is ignored. */
export const SCHEMA = 'jupyter-privacy/1';

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
  mode: BudgetMode;
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
