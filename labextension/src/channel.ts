/**
 * The frontend end of the `jupyter_privacy` comm for one kernel connection.
 *
 * Both ends may open the comm: the frontend registers the comm target (the kernel
 * opens a comm to it when `%load_ext jupyter_privacy` runs), and when it connects to a
 * kernel that may already have loaded the extension (a page reload, a notebook
 * switch) it opens one to the kernel's target. A kernel without the extension closes
 * that comm at once, which leaves the model "waiting" for `%load_ext`.
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { PrivacyModel } from './model';
import { hello, lineageRequest, snapshotRequest, wire } from './requests';
import { COMM_TARGET } from './tokens';

export class KernelChannel implements IDisposable {
  readonly model = new PrivacyModel();
  private _comm: Kernel.IComm | null = null;
  private _disposed = false;
  private _opening = false;
  private _lineagePending = false;
  private _probed = false; // asked this kernel (since it started) whether it has the target
  private _notebook: string | null = null;

  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.registerCommTarget(COMM_TARGET, this._onKernelOpen);
    kernel.statusChanged.connect(this._onStatus, this);
    kernel.connectionStatusChanged.connect(this._onConnection, this);
    this._onStatus(kernel, kernel.status);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.kernel.statusChanged.disconnect(this._onStatus, this);
    this.kernel.connectionStatusChanged.disconnect(this._onConnection, this);
    if (!this.kernel.isDisposed) {
      this.kernel.removeCommTarget(COMM_TARGET, this._onKernelOpen);
    }
    this._comm = null;
  }

  /** Ask the kernel for a fresh snapshot with at most `limit` releases. */
  requestSnapshot(limit?: number): void {
    if (this._comm && !this._comm.isDisposed) {
      this._comm.send(wire(snapshotRequest(limit, this._notebook)));
    } else {
      void this._open(limit);
    }
  }

  /**
   * Tell the kernel which notebook it runs (its path on the server), now and after a rename:
   * each release records it, and the history can show one notebook's releases.
   */
  setNotebook(path: string | null): void {
    if (path === this._notebook) {
      return;
    }
    this._notebook = path;
    this._hello();
  }

  private _hello(): void {
    if (this._notebook && this._comm && !this._comm.isDisposed) {
      this._comm.send(wire(hello(this._notebook)));
    }
  }

  /** The kernel opened a comm to us (it just ran `%load_ext jupyter_privacy`). */
  private _onKernelOpen = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    this._attach(comm);
    this._receive(comm, msg.content.data);
    this._hello();
  };

  private _receive(comm: Kernel.IComm, data: unknown): void {
    const kind = (data as { type?: string } | null)?.type;
    if (kind === 'snapshot' || kind === 'lineage') {
      this._lineagePending = false;
    }
    this.model.apply(data);
    if (PrivacyModel.staleLineage(data) && !this._lineagePending && !comm.isDisposed) {
      // The kernel answers once the running cell is done: releases are never delayed by it.
      this._lineagePending = true;
      comm.send(wire(lineageRequest()));
    }
  }

  private _attach(comm: Kernel.IComm): void {
    const previous = this._comm;
    this._comm = comm;
    this._lineagePending = false;
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
      if (this._comm === comm) {
        this._receive(comm, msg.content.data);
      }
    };
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        if (this.model.state.status === 'live') {
          this.model.setStatus('waiting'); // `%unload_ext`, or the kernel never had it
        }
      }
    };
    if (previous && previous !== comm && !previous.isDisposed) {
      previous.onMsg = () => undefined;
      previous.onClose = () => undefined;
    }
  }

  /** Open a comm to the kernel's target; a kernel without the extension closes it. */
  private async _open(limit?: number): Promise<void> {
    if (this._opening || this._disposed || this.kernel.isDisposed) {
      return;
    }
    if (this.kernel.connectionStatus !== 'connected') {
      return;
    }
    this._opening = true;
    try {
      const comm = this.kernel.createComm(COMM_TARGET);
      this._attach(comm);
      await comm.open(wire(snapshotRequest(limit, this._notebook))).done;
    } catch {
      // The kernel went away while we asked: the status handlers say what to show.
    } finally {
      this._opening = false;
    }
  }

  private _onConnection(_kernel: Kernel.IKernelConnection, status: Kernel.ConnectionStatus): void {
    if (status === 'connected') {
      this._probed = false; // a reconnect: the kernel may have loaded the extension meanwhile
      if (!this._comm && this.model.state.status !== 'restarting') {
        this._probed = true;
        void this._open();
      }
    }
  }

  private _onStatus(_kernel: Kernel.IKernelConnection, status: Kernel.Status): void {
    switch (status) {
      case 'restarting':
      case 'autorestarting':
        this._comm = null;
        this._probed = false;
        this.model.setStatus('restarting');
        break;
      case 'starting':
        if (this.model.state.status === 'live') {
          // A restart we did not start (another tab, the server): the old comm is gone.
          this._comm = null;
          this._probed = false;
          this.model.setStatus('restarting');
        }
        break;
      case 'dead':
        this._comm = null;
        this._probed = false;
        this.model.setStatus('dead');
        break;
      case 'idle':
      case 'busy':
        if (this.model.state.status === 'restarting' || this.model.state.status === 'dead') {
          this.model.setStatus('waiting');
        }
        if (!this._comm && !this._probed) {
          // The target may have been dropped with the old kernel's state: register again.
          this.kernel.registerCommTarget(COMM_TARGET, this._onKernelOpen);
          this._probed = true;
          void this._open();
        }
        break;
      default:
        break;
    }
  }
}
