/**
 * The lineage graph, sources → transforms → releases, as an indented tree drawn in SVG:
 * one row per node, so it stays readable however many releases there are (the panel
 * scrolls; no label ever overlaps another).
 */
import { formatBudget } from './model';
import type { ILineageGraph, LineageNode } from './commSchema';

export const ROW_HEIGHT = 22;
export const INDENT = 16;

export interface ILineageRow {
  id: string;
  kind: string;
  depth: number;
  row: number;
  parentRow: number | null;
  text: string;
  title: string;
}

function nodeText(node: LineageNode): string {
  const label = String(node.label ?? node.id);
  if (node.kind === 'release') {
    const epsilon = typeof node.epsilon === 'number' ? ` · ε ${formatBudget(node.epsilon)}` : '';
    const cell = typeof node.execution_count === 'number' ? ` · [${node.execution_count}]` : '';
    return `${label}${epsilon}${cell}`;
  }
  if (node.kind === 'source') {
    const releases = typeof node.releases === 'number' ? node.releases : null;
    return releases === null ? label : `${label} (${releases} release${releases === 1 ? '' : 's'})`;
  }
  return label;
}

function nodeTitle(node: LineageNode): string {
  if (node.kind === 'release') {
    return `release: ${String(node.call ?? node.query ?? '')} → ${String(node.label ?? '')}`;
  }
  if (node.kind === 'transform') {
    return `transform: ${String(node.text ?? node.label ?? '')}`;
  }
  return `source: ${String(node.label ?? node.id)}`;
}

/** Rows in depth-first order from each source; children in the order they first appeared. */
export function layoutLineage(graph: ILineageGraph | null): ILineageRow[] {
  if (!graph) {
    return [];
  }
  const byId = new Map<string, LineageNode>();
  graph.nodes.forEach(n => byId.set(n.id, n));
  const children = new Map<string, string[]>();
  const hasParent = new Set<string>();
  for (const e of graph.edges) {
    if (!byId.has(e.from) || !byId.has(e.to) || hasParent.has(e.to)) {
      continue;
    }
    hasParent.add(e.to);
    const list = children.get(e.from) ?? [];
    list.push(e.to);
    children.set(e.from, list);
  }
  const rows: ILineageRow[] = [];
  const seen = new Set<string>();
  const roots = graph.nodes.filter(n => !hasParent.has(n.id)).map(n => n.id);
  const stack: [string, number, number | null][] = roots
    .slice()
    .reverse()
    .map(id => [id, 0, null]);
  while (stack.length) {
    const [id, depth, parentRow] = stack.pop()!;
    if (seen.has(id)) {
      continue;
    }
    seen.add(id);
    const node = byId.get(id)!;
    const row = rows.length;
    rows.push({
      id,
      kind: String(node.kind),
      depth,
      row,
      parentRow,
      text: nodeText(node),
      title: nodeTitle(node)
    });
    const kids = children.get(id) ?? [];
    for (let i = kids.length - 1; i >= 0; i--) {
      stack.push([kids[i], depth + 1, row]);
    }
  }
  return rows;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, String(v));
  }
  return el;
}

/** The SVG of the lineage tree (an empty fragment-like text when there is nothing yet). */
export function renderLineage(graph: ILineageGraph | null): Element {
  const rows = layoutLineage(graph);
  if (rows.length === 0) {
    const p = document.createElement('p');
    p.className = 'jp-privacy-muted';
    p.textContent = 'No lineage yet: it grows with each release.';
    return p;
  }
  const counts = { source: 0, transform: 0, release: 0 } as Record<string, number>;
  rows.forEach(r => (counts[r.kind] = (counts[r.kind] ?? 0) + 1));
  const maxChars = Math.max(...rows.map(r => r.depth * 2.3 + r.text.length));
  const width = Math.ceil(12 + maxChars * 6.6 + 24);
  const height = rows.length * ROW_HEIGHT + 4;
  const root = svg('svg', {
    class: 'jp-privacy-lineage-svg',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label':
      `Lineage: ${counts.source} source${counts.source === 1 ? '' : 's'}, ` +
      `${counts.transform} transform${counts.transform === 1 ? '' : 's'}, ` +
      `${counts.release} release${counts.release === 1 ? '' : 's'}`
  });
  const edges = svg('g', { class: 'jp-privacy-lineage-edges' });
  const nodes = svg('g', { class: 'jp-privacy-lineage-nodes' });
  root.appendChild(edges);
  root.appendChild(nodes);
  for (const r of rows) {
    const x = 8 + r.depth * INDENT;
    const y = 2 + r.row * ROW_HEIGHT + ROW_HEIGHT / 2;
    if (r.parentRow !== null) {
      const px = 8 + (r.depth - 1) * INDENT;
      const py = 2 + r.parentRow * ROW_HEIGHT + ROW_HEIGHT / 2;
      edges.appendChild(svg('path', { d: `M${px},${py + 5}V${y}H${x - 5}` }));
    }
    const g = svg('g', { class: `jp-privacy-lineage-node jp-privacy-lineage-${r.kind}` });
    const title = svg('title', {});
    title.textContent = r.title;
    g.appendChild(title);
    if (r.kind === 'source') {
      g.appendChild(svg('rect', { x: x - 5, y: y - 5, width: 10, height: 10, rx: 2 }));
    } else if (r.kind === 'transform') {
      g.appendChild(
        svg('path', { d: `M${x},${y - 5}L${x + 5},${y}L${x},${y + 5}L${x - 5},${y}Z` })
      );
    } else {
      g.appendChild(svg('circle', { cx: x, cy: y, r: 4.5 }));
    }
    const text = svg('text', { x: x + 10, y: y + 4 });
    text.textContent = r.text;
    g.appendChild(text);
    nodes.appendChild(g);
  }
  return root;
}
