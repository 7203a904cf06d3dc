/**
 * The plugin interface and loader. A plugin is a plain object — webpack style:
 * `{ name, apply(kernel, options) }` — exported as the module's default export (or as
 * `plugin`). Plugins are shape-checked when loaded; a missing or throwing plugin is a
 * clear error that names it.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError, KarapaceError } from './errors.js';
import type { Kernel } from './kernel.js';
import type { PluginSpec } from './config/types.js';

export interface KarapacePlugin<Options = Record<string, unknown>> {
  /** Unique name, used in error messages and as the tap name. */
  name: string;
  /** Taps the kernel's hooks. Options come from the config's plugin entry. */
  apply(kernel: Kernel, options: Options): void | Promise<void>;
  /** Validates options before apply; throw or return a message to reject them. */
  validateOptions?(options: unknown): string | undefined;
}

/** Helper for plugin authors: gives `apply` typed options. */
export function definePlugin<Options = Record<string, unknown>>(plugin: KarapacePlugin<Options>): KarapacePlugin<Options> {
  return plugin;
}

function isPlugin(value: unknown): value is KarapacePlugin<unknown> {
  return (
    typeof value === 'object' && value !== null &&
    typeof (value as KarapacePlugin).name === 'string' && (value as KarapacePlugin).name.length > 0 &&
    typeof (value as KarapacePlugin).apply === 'function'
  );
}

type ModuleImporter = (url: string) => Promise<unknown>;
let moduleImporter: ModuleImporter = (url) => import(url);

/**
 * Replaces how plugin modules are imported. The CLI's exec bundle runs as a script with a
 * V8 code cache, where `import()` is unavailable; its launcher passes its own.
 */
export function useModuleImporter(importer: ModuleImporter): void {
  moduleImporter = importer;
}

/** Imports a plugin module by package name or path (absolute, or relative to `fromDir`). */
export async function importPlugin(spec: string, fromDir: string): Promise<KarapacePlugin<unknown>> {
  const isPath = spec.startsWith('.') || isAbsolute(spec);
  let url: string;
  try {
    url = isPath
      ? pathToFileURL(resolve(fromDir, spec)).href
      : pathToFileURL(createRequire(join(fromDir, 'noop.js')).resolve(spec)).href;
  } catch (err) {
    throw new PluginError('KP_PLUGIN_NOT_FOUND', `plugin "${spec}" was not found (looked from ${fromDir})`, {
      hint: isPath ? 'check the path in your config' : `install it with \`npm install ${spec}\` or fix its name in your config`,
      cause: err,
      data: { plugin: spec },
    });
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await moduleImporter(url)) as Record<string, unknown>;
  } catch (err) {
    const notFound = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && isPath;
    throw new PluginError(
      notFound ? 'KP_PLUGIN_NOT_FOUND' : 'KP_PLUGIN_LOAD_FAILED',
      notFound ? `plugin "${spec}" was not found` : `plugin "${spec}" failed to load: ${(err as Error).message}`,
      { hint: notFound ? 'check the path in your config' : 'fix the plugin or remove it from your config', cause: err, data: { plugin: spec } },
    );
  }
  return pluginFromModule(mod, spec);
}

/** The plugin object a module exports (default export, or `plugin`), shape-checked. */
export function pluginFromModule(mod: Record<string, unknown>, spec: string): KarapacePlugin<unknown> {
  const candidate = mod.default ?? mod.plugin;
  const nested = (candidate as Record<string, unknown> | undefined)?.default;
  const plugin = isPlugin(candidate) ? candidate : isPlugin(nested) ? nested : undefined;
  if (!plugin) {
    throw new PluginError('KP_PLUGIN_INVALID', `plugin "${spec}" does not export a plugin object`, {
      hint: 'a plugin module must `export default { name: string, apply(kernel, options) { … } }`',
      data: { plugin: spec },
    });
  }
  return plugin;
}

/** Validates options and applies a plugin, wrapping any failure with the plugin's name. */
export async function applyPlugin(kernel: Kernel, plugin: KarapacePlugin<unknown>, options: unknown = {}): Promise<void> {
  let problem: string | undefined;
  try {
    problem = plugin.validateOptions?.(options);
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem) {
    throw new PluginError('KP_PLUGIN_OPTIONS', `plugin "${plugin.name}": invalid options: ${problem}`, {
      hint: 'fix the options given to this plugin in your config',
      data: { plugin: plugin.name },
    });
  }
  try {
    await kernel.applyAs(plugin.name, () => plugin.apply(kernel, options));
  } catch (err) {
    if (err instanceof KarapaceError) throw err;
    throw new PluginError('KP_PLUGIN_APPLY_FAILED', `plugin "${plugin.name}" threw while loading: ${(err as Error)?.message ?? err}`, {
      hint: 'fix the plugin or remove it from your config',
      cause: err,
      data: { plugin: plugin.name },
    });
  }
}

export function splitSpec(spec: PluginSpec): { module: string; options: Record<string, unknown> } {
  if (typeof spec === 'string') return { module: spec, options: {} };
  if (Array.isArray(spec) && typeof spec[0] === 'string') return { module: spec[0], options: spec[1] ?? {} };
  throw new PluginError('KP_PLUGIN_SPEC', `invalid plugin entry ${JSON.stringify(spec)}`, {
    hint: 'a plugin entry is "module-or-path" or ["module-or-path", { options }]',
  });
}
