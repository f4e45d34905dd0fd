/**
 * jupyter-privacy for JupyterLab: the Privacy sidebar and the status-bar budget.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { PrivacySidebar, SIDEBAR_ID } from './sidebar';
import { PrivacyStatus } from './statusbar';
import { IPrivacyTracker } from './tokens';
import { PrivacyTracker } from './tracker';

export * from './tokens';
export { PrivacyModel, statusSummary } from './model';

const SHIELD_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5l-8-3zm0 ' +
  '2.2 6 2.2V11c0 4-2.6 7.8-6 8.9-3.4-1.1-6-4.9-6-8.9V6.4l6-2.2zm-1 4.3v6h2v-6h-2zm0 7.5v2h2v-2h-2z"/>' +
  '</svg>';

export const shieldIcon = new LabIcon({ name: 'jupyter-privacy:shield', svgstr: SHIELD_SVG });

export namespace CommandIDs {
  export const openSidebar = 'jupyter-privacy:open-sidebar';
  export const refresh = 'jupyter-privacy:refresh';
}

/** Opens a notebook through the document manager's command (JupyterLab and Notebook 7). */
function opener(app: JupyterFrontEnd) {
  return async (path: string): Promise<NotebookPanel | null> => {
    const widget = await app.commands.execute('docmanager:open', { path, factory: 'Notebook' });
    return widget instanceof NotebookPanel ? widget : null;
  };
}

/**
 * Follows the current notebook's kernel and shows its budget in the Privacy sidebar: the
 * right side bar of JupyterLab, the right panel of Notebook 7 (any shell with a "right" area).
 */
const sidebarPlugin: JupyterFrontEndPlugin<IPrivacyTracker> = {
  id: 'jupyter-privacy:plugin',
  description: 'The Privacy sidebar: budgets, release history and lineage, live from the kernel.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILabShell],
  provides: IPrivacyTracker,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    labShell: ILabShell | null
  ): IPrivacyTracker => {
    const tracker = new PrivacyTracker(notebooks, opener(app));
    const sidebar = new PrivacySidebar(tracker);
    sidebar.title.icon = shieldIcon;
    sidebar.title.caption = 'Privacy budget, releases and lineage';
    if (!labShell) {
      sidebar.title.label = 'Privacy'; // Notebook 7's panel shows its title
    }
    app.shell.add(sidebar, 'right', { rank: 50 });

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Privacy: open sidebar',
      caption: 'Budgets, release history and lineage of the current notebook',
      icon: shieldIcon,
      execute: () => {
        app.shell.activateById(SIDEBAR_ID);
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Privacy: refresh sidebar',
      caption: 'Ask the kernel again for its budgets, releases and lineage',
      execute: args => {
        const limit = typeof args.limit === 'number' ? args.limit : undefined;
        tracker.requestSnapshot(limit);
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.openSidebar, category: 'Privacy' });
      palette.addItem({ command: CommandIDs.refresh, category: 'Privacy' });
    }
    return tracker;
  }
};

/**
 * "patients ε 1.20 / 3.00" in JupyterLab's status bar; Notebook 7 has none, so there it sits
 * in the top bar, beside the kernel. A click opens the sidebar.
 */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-privacy:status-bar',
  description: 'The privacy budget of the current notebook in the status bar.',
  autoStart: true,
  requires: [IPrivacyTracker],
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, tracker: IPrivacyTracker, statusBar: IStatusBar | null) => {
    const item = new PrivacyStatus(tracker as PrivacyTracker, () => {
      void app.commands.execute(CommandIDs.openSidebar);
    });
    if (statusBar) {
      statusBar.registerStatusItem('jupyter-privacy:status', {
        item,
        align: 'left',
        rank: 4,
        isActive: () => true
      });
      return;
    }
    item.id = 'jupyter-privacy-status';
    item.addClass('jp-privacy-statusbar-top');
    app.shell.add(item, 'top', { rank: 900 });
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [sidebarPlugin, statusPlugin];
export default plugins;
