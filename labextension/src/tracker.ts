/**
 * Follows the current notebook and its kernel; keeps one channel per kernel connection.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { ICodeCellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { KernelChannel } from './channel';
import { emptyState, madeIn } from './model';
import { IPrivacyModel, IPrivacyTracker, IPrivacyViewState, IReleaseView } from './tokens';

/** Opens a notebook by its path on the server; resolves to its panel when it opens here. */
export type NotebookOpener = (path: string) => Promise<NotebookPanel | null>;

export class PrivacyTracker implements IPrivacyTracker {
  private _channels = new Map<Kernel.IKernelConnection, KernelChannel>();
  private _panel: NotebookPanel | null = null;
  private _shown: NotebookPanel | null | undefined = undefined;
  private _current: KernelChannel | null = null;
  private _changed = new Signal<this, IPrivacyViewState>(this);

  constructor(
    private _notebooks: INotebookTracker,
    private _openNotebook: NotebookOpener | null = null
  ) {
    _notebooks.widgetAdded.connect((_, panel) => this._watch(panel), this);
    _notebooks.currentChanged.connect(() => this._follow(), this);
    _notebooks.forEach(panel => this._watch(panel));
    this._follow();
  }

  get changed(): ISignal<this, IPrivacyViewState> {
    return this._changed;
  }

  get current(): IPrivacyModel | null {
    return this._current ? this._current.model : null;
  }

  get state(): IPrivacyViewState {
    return this._current ? this._current.model.state : emptyState('no-kernel');
  }

  /** The notebook the sidebar describes. */
  get panel(): NotebookPanel | null {
    return this._panel;
  }

  requestSnapshot(limit?: number): void {
    this._current?.requestSnapshot(limit);
  }

  get notebookPath(): string | null {
    return this._panel && !this._panel.isDisposed ? this._panel.context.path : null;
  }

  /** The ids of the current notebook's cells. */
  cellIds(panel: NotebookPanel | null = this._panel): Set<string> {
    const ids = new Set<string>();
    const cells = panel?.content.model?.cells;
    if (cells) {
      for (let i = 0; i < cells.length; i++) {
        ids.add(cells.get(i).id);
      }
    }
    return ids;
  }

  inCurrentNotebook(release: IReleaseView, cellIds?: ReadonlySet<string>): boolean {
    return madeIn(release, this.notebookPath, cellIds ?? this.cellIds());
  }

  async revealRelease(release: IReleaseView): Promise<boolean> {
    let panel = this._panel;
    if (!panel) {
      return false;
    }
    if (!this.inCurrentNotebook(release)) {
      // Made in another notebook: its cell numbers mean nothing here. Open that notebook.
      panel = await this._openOther(release, panel);
      if (!panel) {
        return false;
      }
    }
    return this._reveal(panel, release);
  }

  private async _openOther(
    release: IReleaseView,
    from: NotebookPanel
  ): Promise<NotebookPanel | null> {
    if (!release.notebook || !this._openNotebook) {
      return null;
    }
    const here = from.context.path.split('/').slice(0, -1).join('/');
    const candidates = release.notebook.includes('/')
      ? [release.notebook]
      : [here ? `${here}/${release.notebook}` : release.notebook];
    for (const path of candidates) {
      try {
        const opened = await this._openNotebook(path);
        if (opened) {
          await opened.context.ready;
          return opened;
        }
      } catch {
        // not there: try the next spelling
      }
    }
    return null;
  }

  private async _reveal(panel: NotebookPanel, release: IReleaseView): Promise<boolean> {
    const notebook = panel.content;
    const cells = notebook.widgets;
    let index = -1;
    if (release.cellId) {
      index = cells.findIndex(cell => cell.model.id === release.cellId);
    }
    if (index < 0 && release.executionCount !== null) {
      for (let i = cells.length - 1; i >= 0; i--) {
        const model = cells[i].model;
        if (
          model.type === 'code' &&
          (model as ICodeCellModel).executionCount === release.executionCount
        ) {
          index = i;
          break;
        }
      }
    }
    if (index < 0) {
      return false;
    }
    notebook.activeCellIndex = index;
    notebook.mode = 'command';
    await notebook.scrollToItem(index, 'center');
    const cell = notebook.widgets[index];
    cell.addClass('jp-privacy-revealed');
    window.setTimeout(() => cell.removeClass('jp-privacy-revealed'), 1500);
    notebook.activate();
    return true;
  }

  private _watch(panel: NotebookPanel): void {
    const context = panel.sessionContext;
    const ensure = (): void => {
      const kernel = context.session?.kernel ?? null;
      if (kernel) {
        this._channelFor(kernel).setNotebook(panel.context.path);
      }
      this._follow();
    };
    panel.context.pathChanged.connect(() => {
      // A rename: the kernel records the new path from now on; the history follows it.
      ensure();
      if (panel === this._panel) {
        this._changed.emit(this.state);
      }
    }, this);
    context.kernelChanged.connect(ensure, this);
    context.statusChanged.connect((_: ISessionContext, status: string) => {
      if (panel === this._notebooks.currentWidget) {
        this._follow(); // cheap: a no-op unless the kernel behind the panel changed
      }
    }, this);
    panel.disposed.connect(() => {
      context.kernelChanged.disconnect(ensure, this);
      if (panel === this._panel) {
        this._follow();
      }
    }, this);
    void context.ready.then(ensure);
    ensure();
  }

  private _channelFor(kernel: Kernel.IKernelConnection): KernelChannel {
    let channel = this._channels.get(kernel);
    if (!channel) {
      channel = new KernelChannel(kernel);
      this._channels.set(kernel, channel);
      const created = channel;
      kernel.disposed.connect(() => {
        created.dispose();
        this._channels.delete(kernel);
        if (this._current === created) {
          this._follow();
        }
      });
    }
    return channel;
  }

  private _follow(): void {
    const panel = this._notebooks.currentWidget;
    this._panel = panel && !panel.isDisposed ? panel : null;
    const kernel = this._panel?.sessionContext.session?.kernel ?? null;
    const channel = kernel && !kernel.isDisposed ? this._channelFor(kernel) : null;
    if (channel && this._panel) {
      channel.setNotebook(this._panel.context.path);
    }
    if (channel === this._current && panel === this._shown) {
      return;
    }
    this._shown = panel;
    if (channel !== this._current) {
      this._current?.model.changed.disconnect(this._onModel, this);
      this._current = channel;
      this._current?.model.changed.connect(this._onModel, this);
      if (channel && channel.model.state.status === 'live') {
        // Kernels of other notebooks may have spent from the same ledger meanwhile.
        channel.requestSnapshot();
      }
    }
    this._changed.emit(this.state);
  }

  private _onModel(): void {
    this._changed.emit(this.state);
  }
}
