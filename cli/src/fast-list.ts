/**
 * bundle/list.cjs: `list` from the name/id index and the running index alone, without an
 * engine or any plugin (kernel listFromIndex) — the config read (for the store and its
 * plugins), one rows file, one directory listing. Anything else returns undefined and goes
 * on to exec.cjs's list, which asks the backends: a config with plugins (they may answer
 * `status`), a stale index, a store without a running index yet, a built environment that
 * is marked running or whose backend does not mark what it starts, a log level that would
 * show the engine's work, any error (reported there, with its own message).
 */
import { defaultGlobalConfigDir, defaultStoreRoot, indexRowsText, listFromIndex, loadConfig, markedRunning, parseLogLevel, rowsSpan, storeLayout } from '@karapace/kernel';
import type { FastArgs } from './fast-dispatch.cjs';
import { lazyStdio } from './lazy-stdio.js';
import { listPage, reportList, reportPage } from './list-body.js';
import { rowsTable } from './list-table.js';
import { MARKING_BACKENDS } from './marking-backends.js';
import { Reporter } from './reporter.js';

export async function runFastPath(parsed: FastArgs): Promise<number | undefined> {
  if (parsed.command !== 'list' && parsed.command !== 'ls') return undefined;
  const { global } = parsed;
  if (global.verbose || global.trace || ['debug', 'trace'].includes(parseLogLevel(process.env.KARAPACE_LOG))) return undefined;
  try {
    const page = listPage(parsed.options.limit as string | undefined, parsed.options.offset as string | undefined);
    const cwd = process.cwd();
    const { config } = await loadConfig({ cwd, globalDir: defaultGlobalConfigDir(process.env) });
    if (config.builtins === false || (config.plugins?.length ?? 0) > 0) return undefined;
    const layout = storeLayout(defaultStoreRoot({ flag: global.store, env: process.env, config: typeof config.store === 'string' ? config.store : undefined }));
    const reporter = new Reporter(lazyStdio('stdout'), lazyStdio('stderr'), global.json);
    if (global.json) {
      const listed = listFromIndex(layout, MARKING_BACKENDS, page);
      if (!listed) return undefined;
      reportList(reporter, listed.environments, listed.total, page);
      return 0;
    }
    // Text: the table straight from the rows file, written as it is made.
    const marked = markedRunning(layout);
    const text = marked && indexRowsText(layout);
    const span = text ? rowsSpan(text, page) : undefined;
    if (!marked || !text || !span) return undefined;
    if (span.from === span.to) {
      reportList(reporter, [], span.total, page);
      return 0;
    }
    const table = rowsTable(text, span, { marking: MARKING_BACKENDS, marked });
    if (!table) return undefined;
    reporter.resultText(table);
    const skipped = Math.min(page.offset ?? 0, span.total);
    reportPage(reporter, span.total, page, Math.min(page.limit ?? span.total, span.total - skipped));
    return 0;
  } catch {
    return undefined;
  }
}

