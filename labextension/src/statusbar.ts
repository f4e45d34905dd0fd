/**
 * The status-bar item: "patients ε 1.20 / 3.00", amber past 80%, red when spent, always
 * with the words ("85% spent", "exhausted") so colour is never the only signal.
 */
import { Widget } from '@lumino/widgets';

import { statusSummary } from './model';
import { PrivacyTracker } from './tracker';

export class PrivacyStatus extends Widget {
  private _button: HTMLButtonElement;

  constructor(
    private _tracker: PrivacyTracker,
    onOpen: () => void
  ) {
    super();
    this.addClass('jp-privacy-statusbar');
    this._button = document.createElement('button');
    this._button.type = 'button';
    this._button.className = 'jp-privacy-status-button';
    this._button.addEventListener('click', onOpen);
    this.node.appendChild(this._button);
    _tracker.changed.connect(this.refresh, this);
    this.refresh();
  }

  refresh(): void {
    const summary = statusSummary(this._tracker.state);
    this._button.textContent = summary.text;
    this._button.title = `${summary.title} — click to open the Privacy sidebar`;
    this._button.setAttribute('aria-label', `${summary.title}. Open the Privacy sidebar`);
    this._button.dataset.level = summary.level;
    this.node.dataset.level = summary.level;
  }
}
