/**
 * Environment names and short ids for shell completion. Reads the store's metadata directly
 * (config for the store path, no plugins) so a TAB press stays fast and side-effect free.
 */
import { defaultGlobalConfigDir, defaultStoreRoot, listMetadata, loadConfig, storeLayout } from '@karapace/kernel';

export async function completionEnvs(options: { cwd: string; env: NodeJS.ProcessEnv; store?: string }): Promise<string[]> {
  const loaded = await loadConfig({ cwd: options.cwd, globalDir: defaultGlobalConfigDir(options.env) });
  const root = defaultStoreRoot({ flag: options.store, env: options.env, config: typeof loaded.config.store === 'string' ? loaded.config.store : undefined });
  const { envs } = await listMetadata(storeLayout(root));
  const words = new Set<string>();
  for (const e of envs) {
    if (e.name) words.add(e.name);
    words.add(e.short_id);
  }
  return [...words].sort();
}
