/**
 * The engine: loads config and plugins into a Kernel and moves environments through their
 * lifecycle. Every front end (CLI, TUI, D-Bus) calls these functions; none of them exits
 * the process or prints.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import type { KarapaceConfig } from '../config/types.js';
import { Kernel } from '../kernel.js';
import { createLogger, type Logger } from '../logger.js';
import { applyPlugin, importPlugin, splitSpec, type KarapacePlugin } from '../plugin.js';
import { defaultStoreRoot, storeLayout, type StoreLayout } from '../store/layout.js';
import { securityPolicy } from '../security/policy.js';
import type { SecurityPolicy } from '../config/types.js';
import { invokingUser } from '../security/user.js';
import type { InvokingUser } from '../security/environment.js';

/** Built-in plugins, loaded when installed (a missing one is skipped, not an error). */
export const BUILTIN_PLUGINS = [
  '@karapace/runtime-mock',
  '@karapace/image-sources',
  '@karapace/runtime-namespace',
  '@karapace/runtime-oci',
  '@karapace/remote-http',
  '@karapace/remote-oci',
];

export interface EngineOptions {
  cwd?: string;
  /** `--store` flag value. */
  store?: string;
  /** `--config` file; otherwise discovered. */
  configFile?: string;
  /** Directory of the user-global config (tests point it at a temp dir). */
  globalConfigDir?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Plugin objects applied after config plugins (tests, embedders). */
  plugins?: KarapacePlugin<unknown>[];
  /** Override the built-in plugin list (module names). */
  builtins?: string[];
}

export class Engine {
  constructor(
    readonly kernel: Kernel,
    readonly layout: StoreLayout,
    readonly config: KarapaceConfig,
    readonly configSources: string[],
    readonly cwd: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  get logger(): Logger {
    return this.kernel.logger;
  }

  get policy(): SecurityPolicy {
    return securityPolicy(this.config);
  }

  get user(): InvokingUser {
    return invokingUser(this.env);
  }
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger('warn');
  const loaded = await loadConfig({ cwd, configFile: options.configFile, globalDir: options.globalConfigDir });
  const storeRoot = defaultStoreRoot({ flag: options.store, env, config: typeof loaded.config.store === 'string' ? loaded.config.store : undefined });
  const kernel = new Kernel({ config: loaded.config, storeRoot, logger });
  if (loaded.config.builtins !== false) {
    const here = dirname(fileURLToPath(import.meta.url));
    const require = createRequire(`${here}/noop.js`);
    for (const name of options.builtins ?? BUILTIN_PLUGINS) {
      let resolved: string;
      try {
        resolved = require.resolve(name);
      } catch {
        logger.trace(`built-in plugin ${name} is not installed; skipped`);
        continue;
      }
      await applyPlugin(kernel, await importPlugin(resolved, here), (loaded.config[name] as Record<string, unknown>) ?? {});
    }
  }
  for (const spec of loaded.config.plugins ?? []) {
    const { module, options: pluginOptions } = splitSpec(spec);
    await applyPlugin(kernel, await importPlugin(module, cwd), pluginOptions);
  }
  for (const plugin of options.plugins ?? []) await applyPlugin(kernel, plugin);
  logger.debug(`config: ${loaded.sources.length ? loaded.sources.join(', ') : '(none)'}; store: ${storeRoot}; plugins: ${kernel.plugins.join(', ')}`);
  return new Engine(kernel, storeLayout(storeRoot), loaded.config, loaded.sources, cwd, env);
}
