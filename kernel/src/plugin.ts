/**
 * The plugin interface and loader. A plugin is a plain object — webpack style:
 * `{ name, apply(kernel, options) }` — exported as the module's default export (or as
 * `plugin`). Plugins are shape-checked when loaded, and their kernel API range (package.json
 * `engines.karapace`, or the plugin's `kernelApi`) is checked against KERNEL_API_VERSION;
 * a missing, incompatible or throwing plugin is a clear error that names it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KERNEL_API_VERSION } from './api.js';
import { satisfiesRange } from './api-range.js';
import { PluginError, KarapaceError } from './errors.js';
import type { Kernel } from './kernel.js';
import type { PluginSpec } from './config/types.js';
import { suggest } from './manifest/did-you-mean.js';

export interface KarapacePlugin<Options = Record<string, unknown>> {
  /** Unique name, used in error messages and as the tap name. */
  name: string;
  /** Taps the kernel's hooks. Options come from the config's plugin entry. */
  apply(kernel: Kernel, options: Options): void | Promise<void>;
  /** Validates options before apply; throw or return a message to reject them. */
  validateOptions?(options: unknown): string | undefined;
  /**
   * The kernel API versions this plugin works with (a semver range such as `^1`), for plugins
   * without a package.json; a package declares it as `engines.karapace` instead.
   */
  kernelApi?: string;
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

/** Imports a plugin module by package name or path (absolute, or relative to `fromDir`), and checks its kernel API range. */
export async function importPlugin(spec: string, fromDir: string): Promise<KarapacePlugin<unknown>> {
  const isPath = spec.startsWith('.') || isAbsolute(spec);
  let url: string;
  try {
    url = isPath
      ? pathToFileURL(resolve(fromDir, spec)).href
      : pathToFileURL(createRequire(join(fromDir, 'noop.js')).resolve(spec)).href;
  } catch (err) {
    const near = isPath ? undefined : suggest(spec, installedPackages(fromDir));
    throw new PluginError('KP_PLUGIN_NOT_FOUND', `plugin "${spec}" was not found (looked from ${fromDir})${near ? `; did you mean "${near}"?` : ''}`, {
      hint: near ? `fix its name in your config ("${near}" is installed)` : isPath ? 'check the path in your config' : `install it with \`npm install ${spec}\` or fix its name in your config`,
      cause: err,
      data: { plugin: spec, ...(near ? { suggestion: near } : {}) },
    });
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await moduleImporter(url)) as Record<string, unknown>;
  } catch (err) {
    const notFound = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && isPath;
    const where = err instanceof SyntaxError ? syntaxErrorLocation(err, fileURLToPath(url)) : undefined;
    throw new PluginError(
      notFound ? 'KP_PLUGIN_NOT_FOUND' : 'KP_PLUGIN_LOAD_FAILED',
      notFound ? `plugin "${spec}" was not found` : `plugin "${spec}" failed to load: ${where ? `${where}: ` : ''}${(err as Error).message}`,
      { hint: notFound ? 'check the path in your config' : 'fix the plugin or remove it from your config', cause: err, data: { plugin: spec, ...(where ? { location: where } : {}) } },
    );
  }
  const plugin = pluginFromModule(mod, spec);
  checkKernelApi(plugin, spec, fileURLToPath(url));
  return plugin;
}

/**
 * Where a syntax error is, as file:line. CommonJS errors carry it on their stack's first
 * line; ES modules do not (Node prints it only for uncaught errors), so the entry file is
 * checked with `node --check`, which prints it.
 */
function syntaxErrorLocation(err: SyntaxError, file: string): string | undefined {
  const first = err.stack?.split('\n')[0] ?? '';
  const cjs = /^(\/.+):(\d+)$/.exec(first);
  if (cjs) return `${cjs[1]}:${cjs[2]}`;
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
  const line = /^(?:file:\/\/)?(\/[^\n]+):(\d+)$/m.exec(check.stderr ?? '');
  return line ? `${line[1]}:${line[2]}` : `${file} or a module it imports`;
}

/** Package names installed in the node_modules directories a bare plugin name resolves from. */
function installedPackages(fromDir: string): string[] {
  const names: string[] = [];
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const modules = join(dir, 'node_modules');
    if (existsSync(modules)) {
      for (const entry of readdirSync(modules)) {
        if (entry.startsWith('@')) {
          try {
            for (const sub of readdirSync(join(modules, entry))) names.push(`${entry}/${sub}`);
          } catch {
            /* not a directory */
          }
        } else if (!entry.startsWith('.')) {
          names.push(entry);
        }
      }
    }
    if (dirname(dir) === dir) return names;
  }
}

/** The nearest package.json above a plugin's file, or undefined. */
function packageJsonOf(file: string): { path: string; json: { name?: string; engines?: Record<string, unknown> } } | undefined {
  for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (!existsSync(path)) continue;
    try {
      return { path, json: JSON.parse(readFileSync(path, 'utf8')) as { engines?: Record<string, unknown> } };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The name of the package a plugin file belongs to, or undefined (a file outside any package). */
export function packageNameOf(file: string): string | undefined {
  return packageJsonOf(file)?.json.name;
}

/**
 * Refuses a plugin made for another kernel API: its package.json's `engines.karapace` (or
 * the plugin's `kernelApi`) must include KERNEL_API_VERSION. A plugin declaring nothing loads.
 */
export function checkKernelApi(plugin: KarapacePlugin<unknown>, spec: string, file?: string): void {
  const pkg = file ? packageJsonOf(file) : undefined;
  const fromPackage = pkg?.json.engines?.karapace;
  const range = typeof fromPackage === 'string' ? fromPackage : plugin.kernelApi;
  if (range === undefined) return;
  const where = typeof fromPackage === 'string' ? `"engines": { "karapace": "${range}" } in ${pkg!.path}` : `kernelApi: "${range}"`;
  let ok: boolean;
  try {
    ok = satisfiesRange(KERNEL_API_VERSION, String(range));
  } catch (err) {
    throw new PluginError('KP_PLUGIN_INVALID', `plugin "${plugin.name}" (${spec}) declares an unreadable kernel API range: ${where}`, {
      hint: 'use a semver range such as "^1"',
      cause: err,
      data: { plugin: plugin.name, kernelApi: range },
    });
  }
  if (!ok) {
    throw new PluginError('KP_PLUGIN_INCOMPATIBLE', `plugin "${plugin.name}" (${spec}) needs kernel API ${range} (${where}); this karapace provides kernel API ${KERNEL_API_VERSION}`, {
      hint: `install a version of the plugin made for kernel API ${KERNEL_API_VERSION.split('.')[0]}.x, or a karapace whose kernel API matches ${range}`,
      data: { plugin: plugin.name, kernelApi: range, provided: KERNEL_API_VERSION },
    });
  }
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
