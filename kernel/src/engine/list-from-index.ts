/**
 * `list` from the index alone, without an engine or a plugin (the CLI's bundle/list.cjs):
 * apart from engine/list.ts so what it loads stays this small.
 */
import { indexRowsText } from '../store/env-index.js';
import { parseRows, type RowsPage } from '../store/env-rows.js';
import type { StoreLayout } from '../store/layout.js';
import { markedRunning } from '../store/running-index.js';
import type { EnvList } from './list.js';

/**
 * The rows when the index is fresh, the store has a running index, and every built
 * environment shown has a backend of `marking` — backends that mark what they start, with no
 * other plugin answering `status` (the caller knows its plugins) — and is not marked, so
 * nothing needs asking. Undefined otherwise: listEnvs answers, asking the backends.
 */
export function listFromIndex(layout: StoreLayout, marking: ReadonlySet<string>, page: RowsPage = {}): Omit<EnvList, 'corrupt'> | undefined {
  const marks = markedRunning(layout);
  if (!marks) return undefined;
  const text = indexRowsText(layout);
  const indexed = text === undefined ? undefined : parseRows(text, page);
  if (!indexed) return undefined;
  for (const row of indexed.rows) {
    if (row.state === 'built' && (!marking.has(row.backend) || marks.has(row.env_id))) return undefined;
  }
  return { environments: indexed.rows, total: indexed.total };
}

