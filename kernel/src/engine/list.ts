/**
 * `list`: every environment's row in the name/id index (store/env-rows.ts), in creation
 * order, `running` where its backend says so — or a page of them (`offset`, `limit`), so
 * only the rows shown are parsed and asked about.
 */
import { indexRow, indexRows, type IndexRow, type RowsPage } from '../store/env-index.js';
import { rowOrder } from '../store/env-rows.js';
import { markedRunning } from '../store/running-index.js';
import type { Engine } from './engine.js';
import { scanAndIndex } from './find.js';
import { handleForRow } from './handle.js';

/** What `list` shows of an environment: its row in the name/id index. */
export type EnvSummary = IndexRow;

export interface EnvList {
  environments: EnvSummary[];
  /** Metadata files that did not read (only when the index was rebuilt from the files). */
  corrupt: string[];
  /** How many environments the store has (more than `environments` when paged). */
  total: number;
}

function pageOf<T>(all: T[], page: RowsPage): T[] {
  const from = Math.min(page.offset ?? 0, all.length);
  return page.limit === undefined ? all.slice(from) : all.slice(from, from + page.limit);
}

/** Every environment (or a page), from the index (one file) or, when it is stale, every metadata file. */
export async function listEnvs(engine: Engine, page: RowsPage = {}): Promise<EnvList> {
  // A store without a running index yet is looked at whole once (store/running-index.ts):
  // a page alone would leave what runs outside it unmarked.
  const whole = markedRunning(engine.layout) === undefined;
  const indexed = indexRows(engine.layout, whole ? {} : page);
  let rows: IndexRow[];
  let total: number;
  let corrupt: string[] = [];
  if (indexed) {
    ({ rows, total } = indexed);
  } else {
    const listing = await scanAndIndex(engine.layout);
    rows = listing.envs.map(indexRow).sort(rowOrder);
    total = rows.length;
    corrupt = listing.corrupt.map((c) => c.path);
    if (!whole) rows = pageOf(rows, page);
  }
  // Built environments' run states in one pass per backend (only their backends are loaded).
  const built = rows.filter((row) => row.state === 'built');
  await engine.loadBuiltins({ backends: [...new Set(built.map((row) => row.backend))] });
  const states = await engine.kernel.runStatesOf(built.map((row) => ({ envId: row.env_id, backend: row.backend })), (i) => handleForRow(engine.layout, built[i]!));
  const running = new Set(built.filter((_, i) => states[i] === 'running').map((row) => row.env_id));
  if (running.size) rows = rows.map((row) => (running.has(row.env_id) ? { ...row, state: 'running' as const } : row));
  return { environments: whole ? pageOf(rows, page) : rows, corrupt, total };
}
