/**
 * The messages of the `jupyter_privacy` comm, both directions.
 *
 * GENERATED from jupyter_privacy/jupyter/comm_schema.json (the normative schema) by
 * scripts/comm-schema-types.js: do not edit; run `jlpm schema:types` after changing the
 * schema. test/commSchema.spec.ts fails when this file is out of date.
 */

/**
 * The protocol version every kernel message carries. A frontend reads any jupyter-privacy/1 or
 * jupyter-privacy/1.x message and ignores another major version.
 */
export type SchemaVersion = 'jupyter-privacy/1.1';

/**
 * How the kernel releases: from data here (guard-rail), through a curator process (curator), or
 * from a published manifest without the data (replay).
 */
export type KernelMode = 'guard-rail' | 'curator' | 'replay';

/** pure: ε-DP; zcdp: ρ-zCDP, reported as (ε, δ). */
export type BudgetMode = 'pure' | 'zcdp';

/** One source's budget, in the units the user reads (ε and δ; ρ on request). */
export interface IBudgetState {
  /** The source's name. */
  source: string;
  mode: BudgetMode;
  epsilon_total: number;
  /** Under zCDP, the composed ρ converted by OpenDP's privacy profile. */
  epsilon_spent: number;
  delta_total: number;
  delta_spent: number;
  /** 0 under pure DP. */
  rho_total: number;
  rho_spent: number;
  /** The sum of the per-query ε: what composition saved. */
  naive_epsilon: number;
  /** What one more default query costs. */
  default_epsilon: number;
  epsilon_remaining: number;
  delta_remaining: number;
}

/** A cell's key: the group's values, a counted value or bin, a column name; empty for a scalar. */
export type Key = (string | number | boolean | null)[];

/** A confidence interval [low, high] at level 1 − alpha; a non-finite end is null. */
export type Interval = [number | null, number | null];

/** One released number. Non-finite numbers are null (strict JSON has no NaN). */
export interface IReleaseCell {
  key: Key;
  /** e.g. mean, count, quantile. */
  statistic: string;
  value: number | null;
  ci: Interval | null;
  /** A quantile's bound on its rank error, in rows (at level 1 − alpha). */
  rank_error: number | null;
}

/** One release as the sidebar shows it. */
export interface IReleaseSummary {
  /** The release id (also in the audit log). */
  id: string;
  source: string;
  /** The readable plan, e.g. patients.groupby('state').income.mean(). */
  query: string;
  /**
   * 1.1: the query with the options that change its answer, e.g. patients.visits.mean(epsilon=0.2).
   */
  label: string;
  epsilon: number;
  delta: number;
  /** Intervals are at level 1 − alpha. */
  alpha: number;
  /** e.g. discrete Laplace, exponential. */
  mechanism: string;
  /** When, as an ISO 8601 time. */
  created: string;
  /** The cell that made it, as its prompt shows it. */
  execution_count: number | null;
  /** 1.1: the id of the cell that made it. */
  cell_id: string | null;
  /** 1.1: the path of the notebook that made it. */
  notebook: string | null;
  /** 1.1: a release replayed from a manifest (replay mode). */
  published: boolean;
  /** A single number. */
  scalar: boolean;
  /** The first 50 cells. */
  cells: IReleaseCell[];
  /** How many cells the release has. */
  cell_count: number;
}

/** The cell running when the event happened (for a replay: the replaying cell). */
export interface IEventContext {
  execution_count: number | null;
  cell_id: string | null;
  /** 1.1: the notebook's path, as the kernel knows it. */
  notebook: string | null;
}

/** A release was returned: made now, or replayed (not charged again). */
export interface IReleaseEvent {
  type: 'release';
  source: string;
  release_id: string;
  replayed: boolean;
  context?: IEventContext;
}

/** A charge, or a newly registered source: the budget changed. */
export interface IBudgetEvent {
  type: 'charge' | 'source_registered';
  source: string;
  context?: IEventContext;
}

/** What happened in the workspace. */
export type WorkspaceEvent = IReleaseEvent | IBudgetEvent;

/** ε and δ. */
export interface IBudget {
  epsilon: number;
  delta: number;
}

/** A registered source. */
export interface ISourceNode {
  id: string;
  kind: 'source';
  source: string;
  label: string;
  /** How it was registered: pandas, polars, a file type, manifest. */
  origin: string;
  privacy_unit: string | null;
  mode: BudgetMode;
  budget: IBudget;
  budget_text: string;
  spent: IBudget;
  /** Data versions v1, v2… in order of first release. */
  versions: string[];
  releases: number;
}

/** A row-wise step or grouping, in the plan's JSON form. */
export interface IStep {
  kind: string;
  [key: string]: unknown;
}

/** One distinct prefix of row-wise steps, or a grouping. */
export interface ITransformNode {
  id: string;
  kind: 'transform';
  source: string;
  op: 'filter' | 'assign' | 'derive' | 'select' | 'groupby';
  label: string;
  /** The frame so far, as code. */
  text: string;
  step: IStep;
  depth: number;
}

/** The release's plan in its JSON form (public metadata, no data). */
export type Plan = { [key: string]: unknown };

/** A release. value, ci and rank_error repeat the cell of a scalar release. */
export interface IReleaseNode {
  id: string;
  kind: 'release';
  release_id: string;
  source: string;
  /** A one-line summary of what was released. */
  label: string;
  query: string;
  /** The query with the options that change its answer. */
  call: string;
  statistics: string[];
  column: string | null;
  by: string[];
  scalar: boolean;
  /** The first 20 cells. */
  cells: IReleaseCell[];
  cell_count: number;
  epsilon: number | null;
  delta: number | null;
  rho: number | null;
  alpha: number;
  mechanism: string;
  execution_count: number | null;
  created: string;
  /** How many times it was returned again from the cache. */
  replayed: number;
  /** The data version it was made from. */
  version: string;
  plan: Plan | null;
  value?: number | null;
  ci?: Interval | null;
  rank_error?: number | null;
}

export type LineageNode = ISourceNode | ITransformNode | IReleaseNode;

/** From a parent node to a child. */
export interface ILineageEdge {
  from: string;
  to: string;
}

/** Sources → transforms → releases, public facts only; ids stable across rebuilds. */
export interface ILineageGraph {
  version: 1;
  nodes: LineageNode[];
  edges: ILineageEdge[];
}

/** Everything the sidebar shows, sent when a comm opens and on request_snapshot. */
export interface ISnapshotMessage {
  schema: SchemaVersion;
  type: 'snapshot';
  mode: KernelMode;
  /** 1.1: the kernel's notebook, as it knows it. */
  notebook: string | null;
  /** One per registered source, sorted by name. */
  budget: IBudgetState[];
  /** Newest first, at most the limit asked for (100 unless said). */
  releases: IReleaseSummary[];
  lineage: ILineageGraph;
  /** The kernel's wall clock, ms since the epoch. */
  sent_at: number;
}

/** Sent to every open comm after each workspace event. The lineage is sent on request. */
export interface IEventMessage {
  schema: SchemaVersion;
  type: 'event';
  mode: KernelMode;
  event: WorkspaceEvent;
  budget: IBudgetState[];
  release: IReleaseSummary | null;
  /** The kernel's wall clock, ms since the epoch. */
  sent_at: number;
}

/** The answer to request_lineage. */
export interface ILineageMessage {
  schema: SchemaVersion;
  type: 'lineage';
  lineage: ILineageGraph;
  /** The kernel's wall clock, ms since the epoch. */
  sent_at: number;
}

/** Ask for a snapshot (also the data of a comm the frontend opens). */
export interface IRequestSnapshot {
  type: 'request_snapshot';
  /** How many releases, 100 unless said. */
  limit?: number;
  /** 1.1: as in hello. */
  notebook?: string;
}

/** Ask for a lineage message. */
export interface IRequestLineage {
  type: 'request_lineage';
}

/**
 * 1.1, not answered: the notebook the kernel runs, its path on the server (sent when the comm opens
 * and after a rename). The kernel keeps only a path ending in .ipynb.
 */
export interface IHello {
  type: 'hello';
  notebook: string;
}

/** kernel → frontend */
export type KernelMessage = ISnapshotMessage | IEventMessage | ILineageMessage;

/** frontend → kernel */
export type FrontendMessage = IRequestSnapshot | IRequestLineage | IHello;

/**
 * Every message on the jupyter_privacy comm, both directions (normative; docs/comm-schema.md
 * explains it).
 */
export type CommMessage = KernelMessage | FrontendMessage;
