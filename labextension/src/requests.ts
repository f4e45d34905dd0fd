/**
 * What the sidebar sends to the kernel on the `jupyter_privacy` comm, typed by the schema
 * (`commSchema.ts`). Pure functions, so the tests check them against the schema too.
 */
import type { JSONObject } from '@lumino/coreutils';

import type { FrontendMessage, IHello, IRequestLineage, IRequestSnapshot } from './commSchema';

/** The most releases a snapshot holds (the kernel's limit too). */
export const MAX_SNAPSHOT_RELEASES = 1000;

/**
 * Ask for a snapshot of at most `limit` releases (the kernel's default, 100, without one),
 * naming the notebook when it is known.
 */
export function snapshotRequest(limit?: number, notebook?: string | null): IRequestSnapshot {
  const request: IRequestSnapshot = { type: 'request_snapshot' };
  if (typeof limit === 'number' && Number.isFinite(limit) && limit >= 1) {
    request.limit = Math.min(Math.floor(limit), MAX_SNAPSHOT_RELEASES);
  }
  if (notebook) {
    request.notebook = notebook;
  }
  return request;
}

/** Ask for the lineage graph (after a release: the kernel answers once the cell is done). */
export function lineageRequest(): IRequestLineage {
  return { type: 'request_lineage' };
}

/** Tell the kernel which notebook it runs: its path on the server. */
export function hello(notebook: string): IHello {
  return { type: 'hello', notebook };
}

/** A request as the comm's `send` takes it (an interface has no index signature; a copy does). */
export function wire(request: FrontendMessage): JSONObject {
  return { ...request };
}
