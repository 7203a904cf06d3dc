/**
 * bundle/list.cjs: `list` from the name/id index and the running index alone, without an
 * engine or any plugin (kernel listFromIndex) — the config read (for the store and its
 * plugins), one rows file, one directory listing. Anything else returns undefined and goes
 * on to exec.cjs's list, which asks the backends: a config with plugins (they may answer
 * `status`), a stale index, a store without a running index yet, a built environment that
 * is marked running or whose backend does not mark what it starts, a log level that would
 * show the engine's work, any error (reported there, with its own message).
 */
import { defaultGlobalConfigDir, defaultStoreRoot, listFromIndex, loadConfig, parseLogLevel, storeLayout } from '@karapace/kernel';
import type { FastArgs } from './fast-dispatch.cjs';
import { lazyStdio } from './lazy-stdio.js';
import { listPage, reportList } from './list-body.js';
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
    const root = defaultStoreRoot({ flag: global.store, env: process.env, config: typeof config.store === 'string' ? config.store : undefined });
    const listed = listFromIndex(storeLayout(root), MARKING_BACKENDS, page);
    if (!listed) return undefined;
    reportList(new Reporter(lazyStdio('stdout'), lazyStdio('stderr'), global.json), listed.environments, listed.total, page);
    return 0;
  } catch {
    return undefined;
  }
}
