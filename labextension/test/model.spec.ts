/**
 * The model that turns `jupyter_privacy` comm messages (schema jupyter-privacy/1.x, see
 * docs/comm-schema.md; typed by src/commSchema.ts) into what the sidebar and the status bar show.
 */
import { layoutLineage } from '../src/lineage';
import {
  budgetView,
  formatBudget,
  formatDelta,
  formatHalfWidth,
  formatValue,
  madeIn,
  PrivacyModel,
  releaseView,
  sameNotebook,
  statusSummary
} from '../src/model';
import type {
  IBudgetState,
  IEventContext,
  IEventMessage,
  ILineageGraph,
  IReleaseNode,
  IReleaseSummary,
  ISnapshotMessage,
  ISourceNode,
  ITransformNode,
  LineageNode
} from '../src/commSchema';
import type { IPrivacyViewState } from '../src/tokens';

function budget(source: string, spent: number, total = 3, delta = 0): IBudgetState {
  return {
    source,
    mode: delta ? 'zcdp' : 'pure',
    epsilon_total: total,
    epsilon_spent: spent,
    epsilon_remaining: Math.max(0, total - spent),
    delta_total: delta,
    delta_spent: 0,
    delta_remaining: delta,
    rho_total: 0,
    rho_spent: 0,
    naive_epsilon: spent,
    default_epsilon: 0.1
  };
}

function release(id: string, over: Partial<IReleaseSummary> = {}): IReleaseSummary {
  return {
    id,
    source: 'patients',
    query: 'patients.age.mean()',
    label: 'patients.age.mean(epsilon=0.2)',
    epsilon: 0.2,
    delta: 0,
    alpha: 0.05,
    mechanism: 'discrete Laplace',
    created: '2025-01-01T00:00:00Z',
    execution_count: 3,
    cell_id: null,
    notebook: null,
    published: false,
    scalar: true,
    cells: [{ key: [], statistic: 'mean', value: 47.31, ci: [46.11, 48.51], rank_error: null }],
    cell_count: 1,
    ...over
  };
}

function snapshot(over: Partial<ISnapshotMessage> = {}): ISnapshotMessage {
  return {
    schema: 'jupyter-privacy/1.1',
    type: 'snapshot',
    mode: 'guard-rail',
    notebook: null,
    budget: [budget('patients', 0.2)],
    releases: [release('r1')],
    lineage: { version: 1, nodes: [], edges: [] },
    sent_at: 1764450000123.4,
    ...over
  };
}

function context(executionCount: number, cellId: string | null = null): IEventContext {
  return { execution_count: executionCount, cell_id: cellId, notebook: null };
}

function event(
  r: IReleaseSummary | null,
  spent: number,
  over: { type?: 'charge' | 'source_registered'; replayed?: boolean; context?: IEventContext } = {}
): IEventMessage {
  const { type = 'charge', replayed = false, context } = over;
  return {
    schema: 'jupyter-privacy/1.1',
    type: 'event',
    mode: 'guard-rail',
    event: r
      ? { type: 'release', source: 'patients', release_id: r.id, replayed, context }
      : { type, source: 'patients', context },
    budget: [budget('patients', spent)],
    release: r,
    sent_at: 1764450000123.4
  };
}

/** `value` without `keys`: a message as a 1.0 kernel sent it, before 1.1 added them. */
function without<T extends object>(value: T, ...keys: (keyof T)[]): T {
  const copy = { ...value };
  for (const key of keys) {
    Reflect.deleteProperty(copy, key);
  }
  return copy;
}

function v10Release(r: IReleaseSummary): IReleaseSummary {
  return without(r, 'label', 'cell_id', 'notebook', 'published');
}

function sourceNode(name: string): ISourceNode {
  return {
    id: `source:${name}`,
    kind: 'source',
    source: name,
    label: name,
    origin: 'pandas',
    privacy_unit: 'patient_id',
    mode: 'pure',
    budget: { epsilon: 3, delta: 0 },
    budget_text: 'budget ε = 3.00',
    spent: { epsilon: 0, delta: 0 },
    versions: [],
    releases: 0
  };
}

function transformNode(id: string, label: string): ITransformNode {
  return {
    id,
    kind: 'transform',
    source: 'p',
    op: 'filter',
    label,
    text: `p[${label}]`,
    step: { kind: 'filter' },
    depth: 1
  };
}

function releaseNode(id: string, label: string): IReleaseNode {
  return {
    id,
    kind: 'release',
    release_id: id,
    source: 'p',
    label,
    query: 'p.age.mean()',
    call: 'p.age.mean(epsilon=0.1)',
    statistics: ['mean'],
    column: 'age',
    by: [],
    scalar: false,
    cells: [],
    cell_count: 0,
    epsilon: 0.1,
    delta: 0,
    rho: 0,
    alpha: 0.05,
    mechanism: 'discrete Laplace',
    execution_count: null,
    created: '2025-01-01T00:00:00Z',
    replayed: 0,
    version: 'v1',
    plan: null
  };
}

describe('formatting', () => {
  it('shows privacy parameters with three significant digits', () => {
    expect(formatBudget(1.2)).toBe('1.20');
    expect(formatBudget(3)).toBe('3.00');
    expect(formatBudget(0.05)).toBe('0.0500');
    expect(formatBudget(12)).toBe('12.0');
    expect(formatBudget(0)).toBe('0.00');
    expect(formatBudget(NaN)).toBe('—');
  });

  it('shows delta in exponent form and values readably', () => {
    expect(formatDelta(1e-6)).toBe('1e−6');
    expect(formatDelta(2.5e-7)).toBe('2.5e−7');
    expect(formatValue(47.3123)).toBe('47.31');
    expect(formatValue(48213.7)).toBe('48,214');
    expect(formatValue(null)).toBe('—');
    expect(formatHalfWidth(0.18562)).toBe('0.19');
    expect(formatHalfWidth(1203.4)).toBe('1,200');
  });
});

describe('budget levels', () => {
  it('is ok up to 80% spent, warns past it, and is exhausted when nothing is left', () => {
    expect(budgetView(budget('p', 2.4)).level).toBe('ok');
    const warn = budgetView(budget('p', 2.5));
    expect(warn.level).toBe('warn');
    expect(warn.levelText).toBe('83% spent');
    const spent = budgetView(budget('p', 3));
    expect(spent.level).toBe('exhausted');
    expect(spent.levelText).toBe('exhausted');
  });

  it('never says 100% spent while some budget is left', () => {
    const view = budgetView(budget('p', 2.999));
    expect(view.level).toBe('warn');
    expect(view.levelText).toBe('99% spent');
  });

  it('shows delta only for budgets that have one', () => {
    expect(budgetView(budget('p', 1)).hasDelta).toBe(false);
    expect(budgetView(budget('p', 1, 3, 1e-6)).hasDelta).toBe(true);
  });
});

describe('PrivacyModel', () => {
  it('starts waiting for the extension and goes live on a snapshot', () => {
    const model = new PrivacyModel();
    expect(model.state.status).toBe('waiting');
    expect(model.apply(snapshot())).toBe(true);
    expect(model.state.status).toBe('live');
    expect(model.state.budgets.map(b => b.source)).toEqual(['patients']);
    expect(model.state.releases[0]).toMatchObject({
      id: 'r1',
      query: 'patients.age.mean()',
      valueText: '47.31 ± 1.2',
      ciText: '95% CI [46.11, 48.51]',
      costText: 'ε 0.200',
      replayed: false,
      executionCount: 3
    });
  });

  it('puts a new release first and updates the budget', () => {
    const model = new PrivacyModel();
    model.apply(snapshot());
    const seen: IPrivacyViewState[] = [];
    model.changed.connect((_, state) => seen.push(state));
    model.apply(
      event(release('r2', { query: 'patients.count()', execution_count: 4 }), 0.5, {
        context: context(4, 'cell-4')
      })
    );
    expect(seen).toHaveLength(1);
    expect(model.state.releases.map(r => r.id)).toEqual(['r2', 'r1']);
    expect(model.state.releases[0].cellId).toBe('cell-4');
    expect(model.state.budgets[0].epsilonSpent).toBe(0.5);
  });

  it('shows a replay as its own row, flagged, in the cell that replayed it', () => {
    const model = new PrivacyModel();
    model.apply(snapshot());
    const r1 = release('r1');
    model.apply(event(r1, 0.2, { replayed: true, context: context(9) }));
    model.apply(event(r1, 0.2, { replayed: true, context: context(10) }));
    const rows = model.state.releases;
    expect(rows.map(r => [r.id, r.replayed, r.executionCount])).toEqual([
      ['r1', true, 10],
      ['r1', true, 9],
      ['r1', false, 3]
    ]);
    expect(new Set(rows.map(r => r.key)).size).toBe(3);
    expect(rows[0].costText).toContain('not charged again');
  });

  it('does not duplicate a release it already has', () => {
    const model = new PrivacyModel();
    model.apply(snapshot());
    model.apply(event(release('r1'), 0.2));
    expect(model.state.releases).toHaveLength(1);
  });

  it('updates the budget on a charge event without a release', () => {
    const model = new PrivacyModel();
    model.apply(snapshot());
    model.apply(event(null, 0.9, { type: 'charge' }));
    expect(model.state.budgets[0].epsilonSpent).toBe(0.9);
    expect(model.state.releases).toHaveLength(1);
  });

  it('gives a quantile its rank bound in whole rows', () => {
    const median = release('q1', {
      query: 'patients.age.median()',
      cells: [{ key: [], statistic: 'median', value: 43.01, ci: null, rank_error: 16.51 }]
    });
    expect(releaseView(median)).toMatchObject({
      valueText: '43.01',
      ciText: 'rank within ±17 rows (95%)'
    });
  });

  it('summarises a grouped release by its number of values', () => {
    const model = new PrivacyModel();
    const grouped = release('g1', {
      scalar: false,
      query: "patients.groupby('state').size()",
      cells: [],
      cell_count: 14
    });
    model.apply(snapshot({ releases: [grouped] }));
    expect(model.state.releases[0].valueText).toBe('14 values');
  });

  it('ignores another schema version and malformed messages', () => {
    const model = new PrivacyModel();
    model.apply(snapshot());
    const before = model.state;
    expect(model.apply({ ...snapshot({ budget: [] }), schema: 'jupyter-privacy/2' })).toBe(false);
    expect(model.apply({ schema: 'jupyter-privacy/1', type: 'snapshot' })).toBe(false);
    expect(model.apply(null)).toBe(false);
    expect(model.apply('snapshot')).toBe(false);
    expect(model.state).toBe(before);
  });

  it("reads a 1.0 kernel's messages, which lack the fields 1.1 added", () => {
    const model = new PrivacyModel();
    const old = without(snapshot({ releases: [v10Release(release('r1'))] }), 'mode', 'notebook');
    expect(model.apply({ ...old, schema: 'jupyter-privacy/1' })).toBe(true);
    expect(model.state.mode).toBeNull();
    expect(model.state.releases[0]).toMatchObject({
      label: 'patients.age.mean()',
      published: false,
      notebook: null,
      cellId: null
    });
    const later = without(event(v10Release(release('r2')), 0.4), 'mode');
    expect(model.apply({ ...later, schema: 'jupyter-privacy/1' })).toBe(true);
    expect(model.state.releases.map(r => r.id)).toEqual(['r2', 'r1']);
  });

  it('forgets what the kernel said when the kernel restarts, and comes back on a snapshot', () => {
    const model = new PrivacyModel();
    model.apply(snapshot({ budget: [budget('patients', 1.2)] }));
    model.setStatus('restarting');
    expect(model.state).toMatchObject({ status: 'restarting', budgets: [], releases: [] });
    model.apply(snapshot({ budget: [budget('patients', 1.2)] }));
    expect(model.state.status).toBe('live');
    expect(model.state.budgets[0].epsilonSpent).toBe(1.2);
  });

  it('keeps the lineage of the last message that had one', () => {
    const model = new PrivacyModel();
    const lineage: ILineageGraph = {
      version: 1,
      nodes: [sourceNode('patients')],
      edges: []
    };
    model.apply(snapshot({ lineage }));
    model.apply(event(null, 0.4, { type: 'charge' }));
    expect(model.state.lineage).toBe(lineage);
  });
});

describe('statusSummary', () => {
  const live = (budgets: IBudgetState[]): IPrivacyViewState => {
    const model = new PrivacyModel();
    model.apply(snapshot({ budget: budgets, releases: [] }));
    return model.state;
  };

  it('reads "patients ε 1.20 / 3.00" for one source', () => {
    expect(statusSummary(live([budget('patients', 1.2)]))).toMatchObject({
      text: 'patients ε 1.20 / 3.00',
      level: 'ok'
    });
  });

  it('says in words when a budget is nearly or entirely spent', () => {
    expect(statusSummary(live([budget('patients', 2.55)]))).toMatchObject({
      text: 'patients ε 2.55 / 3.00 · 85% spent',
      level: 'warn'
    });
    expect(statusSummary(live([budget('patients', 3)]))).toMatchObject({
      text: 'patients ε 3.00 / 3.00 · exhausted',
      level: 'exhausted'
    });
  });

  it('summarises several sources, the most spent first', () => {
    const summary = statusSummary(live([budget('a', 0.1), budget('b', 3), budget('c', 2.7, 3)]));
    expect(summary.text).toBe('b ε 3.00 / 3.00 · exhausted +2 sources (1 over 80%)');
    expect(summary.level).toBe('exhausted');
    expect(summary.title).toContain('a ε 0.100 / 3.00 spent');
  });

  it('tells a newcomer to load the extension', () => {
    const model = new PrivacyModel();
    expect(statusSummary(model.state)).toMatchObject({ text: 'Privacy: not loaded' });
    expect(statusSummary(model.state).title).toContain('%load_ext jupyter_privacy');
  });
});

describe('lineage layout', () => {
  it('puts every node on its own row, children under their parent', () => {
    const nodes: LineageNode[] = [sourceNode('p'), transformNode('t1', 'filter age >= 65')];
    const edges = [{ from: 'source:p', to: 't1' }];
    for (let i = 0; i < 60; i++) {
      nodes.push(releaseNode(`r${i}`, `mean ${i}`));
      edges.push({ from: i % 2 ? 't1' : 'source:p', to: `r${i}` });
    }
    const rows = layoutLineage({ version: 1, nodes, edges });
    expect(rows).toHaveLength(62);
    expect(new Set(rows.map(r => r.row)).size).toBe(62);
    expect(rows[0]).toMatchObject({ id: 'source:p', depth: 0, parentRow: null });
    const t1 = rows.find(r => r.id === 't1')!;
    const r1 = rows.find(r => r.id === 'r1')!;
    expect(r1.depth).toBe(2);
    expect(r1.parentRow).toBe(t1.row);
    expect(rows.filter(r => r.kind === 'release').every(r => r.parentRow !== null)).toBe(true);
  });

  it('is empty without a graph', () => {
    expect(layoutLineage(null)).toEqual([]);
  });
});

describe('lineage messages', () => {
  const graph: ILineageGraph = {
    version: 1,
    nodes: [sourceNode('patients')],
    edges: []
  };

  it('asks for the lineage after a release, not after a charge', () => {
    expect(PrivacyModel.staleLineage(event(release('r9'), 0.4))).toBe(true);
    expect(PrivacyModel.staleLineage(event(null, 0.4, { type: 'charge' }))).toBe(false);
    expect(PrivacyModel.staleLineage(snapshot())).toBe(false);
  });

  it('takes a lineage message while live and ignores it otherwise', () => {
    const model = new PrivacyModel();
    const message = { schema: 'jupyter-privacy/1', type: 'lineage', lineage: graph };
    expect(model.apply(message)).toBe(false);
    model.apply(snapshot());
    expect(model.apply(message)).toBe(true);
    expect(model.state.lineage).toBe(graph);
  });
});

describe('labels, notebooks and replay (schema 1.1)', () => {
  it('labels a release with the options that change its answer', () => {
    const model = new PrivacyModel();
    model.apply(
      snapshot({
        schema: 'jupyter-privacy/1.1',
        releases: [
          release('a', {
            label: 'patients.visits.mean(epsilon=0.2)',
            query: 'patients.visits.mean()'
          }),
          release('b', {
            label: 'patients.visits.mean(epsilon=0.5)',
            query: 'patients.visits.mean()'
          })
        ]
      })
    );
    expect(model.state.releases.map(r => r.label)).toEqual([
      'patients.visits.mean(epsilon=0.2)',
      'patients.visits.mean(epsilon=0.5)'
    ]);
    // a 1.0 kernel sends no label: the query stands in
    expect(releaseView(v10Release(release('c'))).label).toBe('patients.age.mean()');
  });

  it('keeps the notebook of each release, the replaying one for a replay', () => {
    const made = releaseView(release('a', { notebook: 'study/one.ipynb', cell_id: 'x1' }));
    expect(made).toMatchObject({ notebook: 'study/one.ipynb', cellId: 'x1' });
    const replayed = releaseView(release('a', { notebook: 'study/one.ipynb' }), true, {
      execution_count: 2,
      cell_id: 'y2',
      notebook: 'study/two.ipynb'
    });
    expect(replayed).toMatchObject({ notebook: 'study/two.ipynb', cellId: 'y2' });
  });

  it('matches a notebook by its path, either spelling, or by one of its cells', () => {
    expect(sameNotebook('study/one.ipynb', 'study/one.ipynb')).toBe(true);
    expect(sameNotebook('one.ipynb', 'study/one.ipynb')).toBe(true);
    expect(sameNotebook('study/one.ipynb', 'study/two.ipynb')).toBe(false);
    expect(sameNotebook('tone.ipynb', 'study/one.ipynb')).toBe(false);
    expect(sameNotebook(null, 'study/one.ipynb')).toBe(false);
    const r = releaseView(release('a', { notebook: 'old-name.ipynb', cell_id: 'c-7' }));
    expect(madeIn(r, 'study/new-name.ipynb', new Set(['c-7']))).toBe(true); // renamed
    expect(madeIn(r, 'study/new-name.ipynb', new Set(['c-8']))).toBe(false);
    expect(madeIn(r, 'old-name.ipynb', new Set())).toBe(true);
    // nothing recorded (an older ledger, a curator): not hidden from the notebook's history
    expect(madeIn(releaseView(release('old')), 'study/one.ipynb', new Set())).toBe(true);
  });

  it('says replay mode in the status bar and marks published releases', () => {
    const model = new PrivacyModel();
    model.apply(
      snapshot({
        schema: 'jupyter-privacy/1.1',
        mode: 'replay',
        releases: [release('p1', { published: true })]
      })
    );
    expect(model.state.mode).toBe('replay');
    expect(model.state.releases[0]).toMatchObject({ published: true });
    expect(model.state.releases[0].costText).toBe('ε 0.200 (published; not charged)');
    const summary = statusSummary(model.state);
    expect(summary.text).toBe('Replay · patients ε 0.200 / 3.00');
    expect(summary.title).toContain('Replay mode: every value is a published release');
    model.apply(without(event(null, 0.2, { type: 'charge' }), 'mode'));
    expect(model.state.mode).toBe('replay'); // an event without a mode keeps it
    model.apply({ ...snapshot(), schema: 'jupyter-privacy/1.1', mode: 'guard-rail' });
    expect(statusSummary(model.state).text).toBe('patients ε 0.200 / 3.00');
  });
});
