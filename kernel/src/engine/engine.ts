/**
 * The engine: loads config and plugins into a Kernel and moves environments through their
 * lifecycle. Every front end (CLI, TUI, D-Bus) calls these functions; none of them exits
 * the process or prints.
 */
import { createRequire } from 'node:module';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import type { KarapaceConfig } from '../config/types.js';
import { Kernel } from '../kernel.js';
import { createLogger, type Logger } from '../logger.js';
import { applyPlugin, importPlugin, packageNameOf, pluginFromModule, splitSpec, type KarapacePlugin } from '../plugin.js';
import { defaultStoreRoot, storeLayout, type StoreLayout } from '../store/layout.js';
import { securityPolicy } from '../security/policy.js';
import { corePlugin } from './core-plugin.js';
import type { SecurityPolicy } from '../config/types.js';
import { invokingUser } from '../security/user.js';
import type { InvokingUser } from '../security/environment.js';

/** A built-in plugin, and the backends it provides (so `exec` loads only the one it needs). */
export interface BuiltinPlugin {
  module: string;
  backends?: string[];
  /**
   * Imports the plugin module. Front ends pass static `import()` loaders so a bundler can
   * include the built-ins (and share one copy of the kernel with them); without one the
   * module is resolved by name from the kernel's location.
   */
  load?: () => Promise<unknown>;
}

/** Built-in plugins, loaded when installed (a missing one is skipped, not an error). */
export const BUILTIN_PLUGINS: readonly BuiltinPlugin[] = Object.freeze([
  { module: '@karapace/runtime-mock', backends: ['mock'] },
  { module: '@karapace/image-sources' },
  { module: '@karapace/runtime-namespace', backends: ['namespace'] },
  { module: '@karapace/runtime-oci', backends: ['oci'] },
  { module: '@karapace/remote-http' },
  { module: '@karapace/remote-oci' },
  { module: '@karapace/app-export' },
]);

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
  /** Override the built-in plugin list. */
  builtins?: readonly BuiltinPlugin[];
  /**
   * Defer loading built-in plugins until `engine.loadBuiltins()` is called — `exec` uses
   * this to load only the plugin of the environment's backend.
   */
  deferBuiltins?: boolean;
  /**
   * argv that runs karapace on this host, written into exported desktop entries and wrapper
   * scripts (default `['karapace']`); the CLI passes node + its own entry point.
   */
  launcher?: string[];
}

export class Engine {
  private builtinsLoaded = false;
  /** argv that runs karapace on this host (see `EngineOptions.launcher`). */
  launcher: string[] = ['karapace'];
  /** Which config file set each value (dotted key path → file), for `karapace config --show-origin`. */
  configOrigins: Record<string, string> = {};
  /** Config plugins and programmatic plugins, applied after the built-ins. */
  private pendingPlugins?: () => Promise<void>;

  constructor(
    readonly kernel: Kernel,
    readonly layout: StoreLayout,
    readonly config: KarapaceConfig,
    readonly configSources: string[],
    readonly cwd: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly builtins: readonly BuiltinPlugin[] = BUILTIN_PLUGINS,
  ) {}

  /**
   * Applies the built-in plugins (all, or only those providing `backend`/`backends` when each
   * of them is declared by one), then the config plugins. Idempotent.
   */
  async loadBuiltins(only?: { backend: string } | { backends: readonly string[] }): Promise<void> {
    if (this.builtinsLoaded) return;
    this.builtinsLoaded = true;
    if (this.config.builtins !== false) {
      const names = only ? ('backend' in only ? [only.backend] : only.backends) : undefined;
      const provided = names?.every((n) => this.builtins.some((b) => b.backends?.includes(n)));
      const wanted = names && provided ? this.builtins.filter((b) => names.some((n) => b.backends?.includes(n))) : this.builtins;
      const here = dirname(fileURLToPath(import.meta.url));
      const require = createRequire(`${here}/noop.js`);
      for (const builtin of wanted) {
        const plugin = await loadBuiltin(builtin, require, here);
        if (!plugin) {
          this.logger.trace(`built-in plugin ${builtin.module} is not installed; skipped`);
          continue;
        }
        await applyPlugin(this.kernel, plugin, (this.config[builtin.module] as Record<string, unknown>) ?? {});
      }
    }
    await this.pendingPlugins?.();
  }

  /** @internal set by createEngine */
  deferPlugins(fn: () => Promise<void>): void {
    this.pendingPlugins = fn;
  }

  get logger(): Logger {
    return this.kernel.logger;
  }

  get policy(): SecurityPolicy {
    return securityPolicy(this.config);
  }

  private invoker?: InvokingUser;

  /** The invoking user (read once: getpwuid on every access showed up in exec start-up). */
  get user(): InvokingUser {
    this.invoker ??= invokingUser(this.env);
    return this.invoker;
  }
}

/** Imports a built-in plugin; undefined when it is not installed. */
async function loadBuiltin(builtin: BuiltinPlugin, require: NodeJS.Require, here: string): Promise<KarapacePlugin<unknown> | undefined> {
  if (builtin.load) {
    let mod: unknown;
    try {
      mod = await builtin.load();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(builtin.module)) return undefined;
      throw err;
    }
    return pluginFromModule(mod as Record<string, unknown>, builtin.module);
  }
  let resolved: string;
  try {
    resolved = require.resolve(builtin.module);
  } catch {
    return undefined;
  }
  return importPlugin(resolved, here);
}

/**
 * The config's plugins, imported, one per plugin `name`: a later entry for a plugin already
 * listed (a project re-configuring its preset's plugin, named by package while the preset's
 * entry was resolved from the preset) replaces its options and module in place.
 */
async function configPlugins(config: KarapaceConfig, cwd: string): Promise<{ plugin: KarapacePlugin<unknown>; options: Record<string, unknown> }[]> {
  const entries: { plugin: KarapacePlugin<unknown>; options: Record<string, unknown>; packageName?: string }[] = [];
  for (const spec of config.plugins ?? []) {
    const { module, options } = splitSpec(spec);
    // A package name already loaded from a preset's location is that plugin: no second copy.
    const known = isAbsolute(module) || module.startsWith('.') ? -1 : entries.findIndex((e) => e.packageName === module);
    if (known >= 0) {
      entries[known] = { ...entries[known]!, options };
      continue;
    }
    const plugin = await importPlugin(module, cwd);
    const packageName = isAbsolute(module) ? packageNameOf(module) : module;
    const at = entries.findIndex((e) => e.plugin.name === plugin.name);
    if (at >= 0) entries[at] = { plugin, options, packageName };
    else entries.push({ plugin, options, packageName });
  }
  return entries;
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger('warn');
  const loaded = await loadConfig({ cwd, configFile: options.configFile, globalDir: options.globalConfigDir });
  const storeRoot = defaultStoreRoot({ flag: options.store, env, config: typeof loaded.config.store === 'string' ? loaded.config.store : undefined });
  const kernel = new Kernel({ config: loaded.config, storeRoot, logger });
  const engine = new Engine(kernel, storeLayout(storeRoot), loaded.config, loaded.sources, cwd, env, options.builtins);
  if (options.launcher?.length) engine.launcher = [...options.launcher];
  // Trees under subordinate ids (a mapped unpack that failed or was killed) go through a backend's mapping.
  engine.layout.removeTree = async (path) => {
    const { removeStoreTree } = await import('../mapped/run.js');
    await removeStoreTree(kernel, path, () => engine.loadBuiltins());
  };
  engine.configOrigins = loaded.origins;
  // The kernel's own taps (the default packer at stage 100) come first.
  await applyPlugin(kernel, corePlugin);
  engine.deferPlugins(async () => {
    for (const { plugin, options: pluginOptions } of await configPlugins(loaded.config, cwd)) await applyPlugin(kernel, plugin, pluginOptions);
    for (const plugin of options.plugins ?? []) await applyPlugin(kernel, plugin);
    logger.debug(`config: ${loaded.sources.length ? loaded.sources.join(', ') : '(none)'}; store: ${storeRoot}; plugins: ${kernel.plugins.join(', ')}`);
  });
  if (!options.deferBuiltins) await engine.loadBuiltins();
  return engine;
}
