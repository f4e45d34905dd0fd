/**
 * The Privacy sidebar: per-source meters, the release history and the lineage graph of
 * the current notebook's kernel.
 */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { renderLineage } from './lineage';
import { formatBudget, formatDelta } from './model';
import { PrivacyTracker } from './tracker';
import { IBudgetView, ILineageGraph, IPrivacyViewState, IReleaseView } from './tokens';

export const SIDEBAR_ID = 'jupyter-privacy-sidebar';

/** The history shows this many rows at first, and this many more per "Show more". */
export const PAGE_ROWS = 100;

type Attrs = Record<string, string | number | boolean | undefined>;

function h(tag: string, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) {
      continue;
    }
    if (k === 'class') {
      el.className = String(v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const child of children) {
    if (child !== null) {
      el.append(child);
    }
  }
  return el;
}

const LOAD_HINT = '%load_ext jupyter_privacy';

function emptyState(state: IPrivacyViewState): HTMLElement {
  const box = h('div', { class: 'jp-privacy-empty' });
  const code = (): HTMLElement => h('code', { class: 'jp-privacy-code', text: LOAD_HINT });
  switch (state.status) {
    case 'no-kernel':
      box.append(
        h('p', { text: 'Open a notebook to see its privacy budget, releases and lineage.' }),
        h('p', {}, 'Then run ', code(), ' in a cell.')
      );
      break;
    case 'restarting':
      box.append(
        h('p', { text: 'The kernel is restarting.' }),
        h(
          'p',
          {},
          'Run ',
          code(),
          ' again: the budget already spent is kept in the ledger and shows up here.'
        )
      );
      break;
    case 'dead':
      box.append(
        h('p', { text: 'The kernel is shut down.' }),
        h('p', {}, 'Start a kernel and run ', code(), ' to see the budget again.')
      );
      break;
    default:
      box.append(
        h('p', { text: 'The privacy workbench is not loaded in this notebook’s kernel.' }),
        h('p', {}, 'To start, run this in a cell:'),
        h('pre', { class: 'jp-privacy-code' }, LOAD_HINT),
        h('p', {
          text:
            'Sources declared in privacy.toml beside the notebook are registered; every ' +
            'differentially private release then appears here as you run cells.'
        })
      );
  }
  return box;
}

function meter(b: IBudgetView): HTMLElement {
  const spent = formatBudget(b.epsilonSpent);
  const total = formatBudget(b.epsilonTotal);
  const left = formatBudget(b.epsilonRemaining);
  const bar = h(
    'div',
    {
      class: 'jp-privacy-meter',
      role: 'meter',
      'aria-label': `${b.source} privacy budget`,
      'aria-valuemin': 0,
      'aria-valuemax': b.epsilonTotal,
      'aria-valuenow': Math.min(b.epsilonSpent, b.epsilonTotal),
      'aria-valuetext': `ε ${spent} of ${total} spent, ${left} left (${b.levelText})`
    },
    h('div', { class: 'jp-privacy-meter-fill', style: `width: ${(b.fraction * 100).toFixed(1)}%` })
  );
  const level = h('span', {
    class: `jp-privacy-level jp-privacy-level-${b.level}`,
    text: (b.level === 'exhausted' ? '✕ ' : b.level === 'warn' ? '⚠ ' : '') + b.levelText
  });
  const card = h(
    'section',
    {
      class: `jp-privacy-source jp-privacy-${b.level}`,
      'data-source': b.source,
      'aria-label': `Source ${b.source}`
    },
    h('div', { class: 'jp-privacy-source-head' }, h('h3', { text: b.source }), level),
    bar,
    h('div', {
      class: 'jp-privacy-budget-text',
      text: `ε ${spent} spent of ${total} · ${left} left`
    })
  );
  if (b.hasDelta) {
    card.append(
      h('div', {
        class: 'jp-privacy-budget-text',
        text: `δ ${formatDelta(b.deltaSpent)} spent of ${formatDelta(b.deltaTotal)}`
      })
    );
  }
  if (b.naiveEpsilon !== null && b.naiveEpsilon > b.epsilonSpent) {
    card.append(
      h('div', {
        class: 'jp-privacy-muted',
        text: `zCDP composition: the per-query costs add up to ε ${formatBudget(b.naiveEpsilon)}`
      })
    );
  }
  return card;
}

function fileName(path: string): string {
  return path.split('/').pop() ?? path;
}

function releaseItem(
  r: IReleaseView,
  elsewhere: boolean,
  onOpen: (r: IReleaseView) => void
): HTMLElement {
  const cell = r.executionCount !== null ? `[${r.executionCount}]` : '';
  const where = elsewhere ? (r.notebook ? fileName(r.notebook) : 'another notebook') : '';
  const label =
    `${r.label} = ${r.valueText}${r.ciText ? ` (${r.ciText})` : ''}, cost ${r.costText}` +
    (r.published ? ', published value' : r.replayed ? ', replayed' : '') +
    (elsewhere ? `; made in ${where}, open it` : cell ? `; go to cell ${cell}` : '');
  const button = h(
    'button',
    {
      class:
        'jp-privacy-release' +
        (r.replayed ? ' jp-privacy-replayed' : '') +
        (elsewhere ? ' jp-privacy-elsewhere' : ''),
      type: 'button',
      'aria-label': label,
      title: `${r.mechanism} · ${r.created}${r.notebook ? ` · ${r.notebook}` : ''}`,
      'data-release-id': r.id
    },
    h('code', { class: 'jp-privacy-query', text: r.label }),
    h(
      'span',
      { class: 'jp-privacy-value' },
      h('strong', { text: r.valueText }),
      r.ciText ? h('span', { class: 'jp-privacy-muted', text: ` ${r.ciText}` }) : null
    ),
    h(
      'span',
      { class: 'jp-privacy-release-meta' },
      h('span', { class: 'jp-privacy-cost', text: r.costText }),
      r.published
        ? h('span', { class: 'jp-privacy-badge', text: 'published' })
        : r.replayed
          ? h('span', { class: 'jp-privacy-badge', text: 'replayed' })
          : null,
      elsewhere
        ? h('span', { class: 'jp-privacy-cell', text: `in ${where}${cell ? ` ${cell}` : ''}` })
        : cell
          ? h('span', { class: 'jp-privacy-cell', text: `cell ${cell}` })
          : null
    )
  );
  button.addEventListener('click', () => onOpen(r));
  return h('li', {}, button);
}

/** Which releases the history lists. */
export type HistoryScope = 'notebook' | 'all';

/** The parts of the sidebar that renders update in place. */
interface ISidebarView {
  status: HTMLElement;
  empty: HTMLElement;
  live: HTMLElement;
  replay: HTMLElement;
  budgets: HTMLElement;
  scope: { notebook: HTMLButtonElement; all: HTMLButtonElement };
  historyTitle: HTMLElement;
  noRelease: HTMLElement;
  list: HTMLElement;
  more: HTMLElement;
  details: HTMLDetailsElement;
  lineage: HTMLElement;
}

export class PrivacySidebar extends Widget {
  private _dirty = true;
  private _lastRenderMs = 0;
  private _shownRows = PAGE_ROWS;
  private _scope: HistoryScope = 'notebook';
  private _rows = new Map<string, HTMLElement>();
  private _lineageOf: ILineageGraph | null = null;
  private _view: ISidebarView | null = null;
  private _reveal = (r: IReleaseView): void => void this._tracker.revealRelease(r);
  private _frame = 0;

  constructor(private _tracker: PrivacyTracker) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-privacy-sidebar');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Privacy');
    this.node.tabIndex = -1;
    _tracker.changed.connect(this._onChange, this);
  }

  /** Which releases the history lists: this notebook's (the default) or every notebook's. */
  get scope(): HistoryScope {
    return this._scope;
  }

  set scope(scope: HistoryScope) {
    if (scope !== this._scope) {
      this._scope = scope;
      this._shownRows = PAGE_ROWS;
      this.render();
    }
  }

  /** How long the last full render took, in ms (read by the benchmark). */
  get lastRenderMs(): number {
    return this._lastRenderMs;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._dirty) {
      this.render();
    }
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.render();
  }

  private _onChange(): void {
    this._dirty = true;
    if (!this.isVisible || this._frame !== 0) {
      return;
    }
    // One render per frame however many messages arrive in it (a cell making hundreds of
    // releases); a lone release still shows at the next frame.
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      if (this._dirty && this.isVisible) {
        this.render();
      }
    });
  }

  protected onBeforeDetach(msg: Message): void {
    if (this._frame !== 0) {
      cancelAnimationFrame(this._frame);
      this._frame = 0;
    }
    super.onBeforeDetach(msg);
  }

  render(): void {
    const started = performance.now();
    const state = this._tracker.state;
    this._update(state);
    this._dirty = false;
    this._lastRenderMs = performance.now() - started;
    this.node.dataset.status = state.status;
    this.node.dataset.releases = String(state.releases.length);
    this.node.dataset.renderMs = this._lastRenderMs.toFixed(2);
    if (state.lastSentAt !== null) {
      // Release-to-sidebar latency: from the kernel's send to this render (same clock).
      const now = performance.timeOrigin + performance.now();
      this.node.dataset.latencyMs = (now - state.lastSentAt).toFixed(1);
      this.node.dataset.sentAt = String(state.lastSentAt);
    }
  }

  /** Update the sections in place: unchanged rows and an unchanged lineage drawing stay put. */
  private _update(state: IPrivacyViewState): void {
    const panel = this._tracker.panel;
    const where = panel ? panel.context.localPath.split('/').pop() : null;
    const statusText =
      state.status === 'live'
        ? `${state.mode === 'replay' ? 'Replay' : 'Live'}${where ? ` · ${where}` : ''}`
        : state.status === 'waiting'
          ? `Not loaded${where ? ` · ${where}` : ''}`
          : state.status === 'restarting'
            ? 'Kernel restarting'
            : state.status === 'dead'
              ? 'Kernel stopped'
              : 'No notebook';
    const view = this._view ?? this._skeleton();
    view.status.className = `jp-privacy-status jp-privacy-status-${state.status}`;
    view.status.textContent = statusText;
    if (state.status !== 'live') {
      view.empty.replaceChildren(emptyState(state));
      view.empty.hidden = false;
      view.live.hidden = true;
      return;
    }
    view.empty.hidden = true;
    view.empty.replaceChildren();
    view.live.hidden = false;
    view.replay.hidden = state.mode !== 'replay';

    view.budgets.replaceChildren(...state.budgets.map(meter));
    if (state.budgets.length === 0) {
      view.budgets.append(
        h('p', {
          class: 'jp-privacy-empty',
          text:
            'No sensitive source yet. Register one with jp.register(...) or declare it ' +
            'in privacy.toml beside the notebook.'
        })
      );
    }

    const ids = this._tracker.cellIds();
    const mine = new Set(
      state.releases.filter(r => this._tracker.inCurrentNotebook(r, ids)).map(r => r.key)
    );
    const listed =
      this._scope === 'notebook' ? state.releases.filter(r => mine.has(r.key)) : state.releases;
    view.scope.notebook.textContent = `This notebook (${mine.size})`;
    view.scope.all.textContent = `All notebooks (${state.releases.length})`;
    view.scope.notebook.setAttribute('aria-pressed', String(this._scope === 'notebook'));
    view.scope.all.setAttribute('aria-pressed', String(this._scope === 'all'));
    view.historyTitle.textContent =
      this._scope === 'notebook'
        ? `Releases in this notebook (${listed.length}), newest first`
        : `Releases in every notebook (${listed.length}), newest first`;
    view.noRelease.hidden = listed.length > 0;
    view.noRelease.textContent =
      this._scope === 'notebook' && state.releases.length > 0
        ? `No release in this notebook yet (${state.releases.length} in other notebooks: ` +
          'show all notebooks).'
        : 'No release yet.';
    const shown = listed.slice(0, this._shownRows);
    const rows = new Map<string, HTMLElement>();
    const list = view.list;
    shown.forEach((r, i) => {
      // A release never changes: its row is built once (again only if it moves between
      // "this notebook" and "elsewhere"); new rows are inserted before the rest.
      const elsewhere = !mine.has(r.key);
      const key = `${r.key}|${elsewhere}`;
      const row = this._rows.get(key) ?? releaseItem(r, elsewhere, this._reveal);
      rows.set(key, row);
      if (list.children[i] !== row) {
        list.insertBefore(row, list.children[i] ?? null);
      }
    });
    while (list.children.length > shown.length) {
      list.lastElementChild!.remove();
    }
    this._rows = rows;
    const hidden = listed.length - shown.length;
    view.more.hidden = hidden <= 0;
    view.more.textContent = `Show ${Math.min(hidden, PAGE_ROWS)} more (${hidden} older not shown)`;

    if (view.details.open) {
      this._drawLineage(view);
    }
  }

  private _drawLineage(view: ISidebarView): void {
    // The graph only changes when the kernel sends a new one: draw it once per graph.
    const graph = this._tracker.state.lineage;
    if (this._lineageOf !== graph || view.lineage.childElementCount === 0) {
      view.lineage.replaceChildren(renderLineage(graph));
      this._lineageOf = graph;
    }
  }

  private _skeleton(): ISidebarView {
    const status = h('span', { role: 'status', 'aria-live': 'polite' });
    const empty = h('div');
    const budgets = h('div', { class: 'jp-privacy-budgets', 'aria-label': 'Budgets' });
    const replay = h(
      'div',
      { class: 'jp-privacy-replay', role: 'note' },
      h('strong', { text: 'Replay mode' }),
      h('span', {
        text:
          ' — no data is read here. Every value is a published release from the manifest, ' +
          'shown as published; nothing is charged. A query that was not published is refused.'
      })
    );
    const scopeButton = (scope: HistoryScope): HTMLButtonElement => {
      const button = h('button', {
        class: 'jp-privacy-scope-button',
        type: 'button',
        'data-scope': scope
      }) as HTMLButtonElement;
      button.addEventListener('click', () => {
        this.scope = scope;
      });
      return button;
    };
    const scope = { notebook: scopeButton('notebook'), all: scopeButton('all') };
    const historyTitle = h('h3');
    const noRelease = h('p', { class: 'jp-privacy-muted', text: 'No release yet.' });
    const list = h('ol', { class: 'jp-privacy-releases' });
    const more = h('button', { class: 'jp-privacy-more', type: 'button' });
    more.addEventListener('click', () => {
      this._shownRows += PAGE_ROWS;
      this.render();
    });
    const details = h('details', { class: 'jp-privacy-lineage' }) as HTMLDetailsElement;
    details.open = true;
    const lineage = h('div', { class: 'jp-privacy-lineage-body' });
    details.append(h('summary', { text: 'Lineage: sources → transforms → releases' }), lineage);
    const view: ISidebarView = {
      status,
      empty,
      live: h(
        'div',
        {},
        replay,
        budgets,
        h(
          'section',
          { class: 'jp-privacy-history', 'aria-label': 'Release history' },
          historyTitle,
          h(
            'div',
            { class: 'jp-privacy-scope', role: 'group', 'aria-label': 'Show releases of' },
            scope.notebook,
            scope.all
          ),
          noRelease,
          list,
          more
        ),
        details
      ),
      replay,
      budgets,
      scope,
      historyTitle,
      noRelease,
      list,
      more,
      details,
      lineage
    };
    details.addEventListener('toggle', () => {
      if (details.open) {
        this._drawLineage(view);
      }
    });
    const root = h(
      'div',
      { class: 'jp-privacy-content' },
      h('header', { class: 'jp-privacy-header' }, h('h2', { text: 'Privacy' }), status),
      empty,
      view.live
    );
    this.node.replaceChildren(root);
    this._view = view;
    return view;
  }
}
