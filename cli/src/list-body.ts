/** `karapace list`'s work, shared by the clipanion command and the start-up fast paths. */
import { listEnvs, UsageError, type Engine, type EnvSummary, type RowsPage } from '@karapace/kernel';
import { table, type Reporter } from './reporter.js';

const WHOLE = /^[0-9]{1,9}$/;

/** `--limit` / `--offset` as given (strings, from clipanion or fast-dispatch) → a page of rows. */
export function listPage(limit: string | undefined, offset: string | undefined): RowsPage {
  const page: RowsPage = {};
  if (limit !== undefined) {
    if (!WHOLE.test(limit) || Number(limit) < 1) throw new UsageError('KP_LIST_PAGE_INVALID', `--limit ${limit} is not a whole number of at least 1`, { hint: 'e.g. `karapace list --limit 50`' });
    page.limit = Number(limit);
  }
  if (offset !== undefined) {
    if (!WHOLE.test(offset)) throw new UsageError('KP_LIST_PAGE_INVALID', `--offset ${offset} is not a whole number`, { hint: 'e.g. `karapace list --offset 50 --limit 50`' });
    page.offset = Number(offset);
  }
  return page;
}

export async function listBody(engine: Engine, reporter: Reporter, page: RowsPage = {}): Promise<number> {
  const { environments, corrupt, total } = await listEnvs(engine, page);
  for (const path of corrupt) engine.logger.warn(`skipped corrupt metadata ${path} (run \`karapace verify-store\`)`);
  reportList(reporter, environments, total, page);
  return 0;
}

/**
 * The table (or JSON document) of environments. A page (`--limit`/`--offset`) says in the
 * JSON document where it starts and how many there are, and on stderr what comes next.
 */
export function reportList(reporter: Reporter, environments: EnvSummary[], total: number, page: RowsPage): void {
  const paged = page.limit !== undefined || page.offset !== undefined;
  const offset = Math.min(page.offset ?? 0, total);
  reporter.result(paged ? { environments, offset, total } : { environments }, () =>
    environments.length === 0
      ? total === 0
        ? 'no environments (build one with `karapace build`)'
        : `no environments from offset ${offset} (the store has ${total})`
      : table(
          ['SHORT_ID', 'NAME', 'STATE', 'BACKEND', 'BASE', 'PKGS'],
          environments.map((e) => [e.short_id, e.name ?? '-', e.state, e.backend, e.base, String(e.packages)]),
        ),
  );
  reportPage(reporter, total, page, environments.length);
}

/** After a page of the table: on stderr, which rows it showed and where the next page starts. */
export function reportPage(reporter: Reporter, total: number, page: RowsPage, shown: number): void {
  const paged = page.limit !== undefined || page.offset !== undefined;
  const offset = Math.min(page.offset ?? 0, total);
  const next = offset + shown;
  if (paged && shown > 0 && next < total) reporter.info(`environments ${offset + 1}–${next} of ${total}; the next page: --offset ${next}`);
}
