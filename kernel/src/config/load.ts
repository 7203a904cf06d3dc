/**
 * Config discovery (cosmiconfig, module name `karapace`) and `extends` presets.
 *
 * Merge order, lowest priority first (later values override earlier ones):
 *   1. the user-global file ($XDG_CONFIG_HOME/karapace/config.{json,yaml,js,mjs,…}), preceded
 *      by its own presets;
 *   2. the project file found from the working directory upwards (stopping at the first
 *      directory with a package.json), preceded by its presets.
 * A file's presets are merged in the order listed, each preceded by its own presets
 * (depth-first), and the file itself comes after them. A preset is loaded once; a cycle is
 * an error. Relative plugin paths resolve against the file that names them, and a preset's
 * plugins named by package resolve from the preset (its own dependencies). Which file set
 * each value is kept in `origins` (`karapace config --show-origin`).
 */
import type * as Cosmiconfig from 'cosmiconfig';
import type { CosmiconfigResult } from 'cosmiconfig';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ManifestError } from '../errors.js';
import { mergeConfig } from './merge.js';
import type { KarapaceConfig, LoadedConfig, PluginSpec } from './types.js';

export interface LoadConfigOptions {
  cwd: string;
  /** Explicit config file (`--config`); skips discovery of the project file. */
  configFile?: string;
  /** Directory of the user-global config; default $XDG_CONFIG_HOME/karapace. */
  globalDir?: string;
}

export function defaultGlobalConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'karapace');
}

const localRequire = createRequire(import.meta.url);
/** cosmiconfig (CommonJS) is required on first use, and only when a config file exists. */
function loadCosmiconfig(): typeof Cosmiconfig {
  return localRequire('cosmiconfig') as typeof Cosmiconfig;
}

const GLOBAL_PLACES = ['config', 'config.json', 'config.yaml', 'config.yml', 'config.js', 'config.cjs', 'config.mjs'];

/** cosmiconfig's project search places for module `karapace` (package.json checked separately). */
const PROJECT_PLACES = [
  '.karapacerc', '.karapacerc.json', '.karapacerc.yaml', '.karapacerc.yml', '.karapacerc.js', '.karapacerc.ts', '.karapacerc.cjs', '.karapacerc.mjs',
  '.config/karapacerc', '.config/karapacerc.json', '.config/karapacerc.yaml', '.config/karapacerc.yml', '.config/karapacerc.js',
  '.config/karapacerc.ts', '.config/karapacerc.cjs', '.config/karapacerc.mjs',
  'karapace.config.js', 'karapace.config.ts', 'karapace.config.cjs', 'karapace.config.mjs',
];

/**
 * A cheap pre-check (a few stat calls) so the common case — no config file anywhere — does
 * not pay for loading cosmiconfig and its parsers on every command.
 */
export function anyConfigFile(cwd: string, globalDir: string): boolean {
  // Paths by concatenation, not join(): every command makes ~70 of them, and join's
  // normalisation cost exec more than the stat calls (the directories are resolved already).
  const under = (dir: string, p: string) => (dir.endsWith('/') ? dir + p : `${dir}/${p}`);
  if (GLOBAL_PLACES.some((p) => existsSync(under(globalDir, p)))) return true;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    // The .config/ places only when there is a .config/ (most directories have none).
    const hasDotConfig = existsSync(under(dir, '.config'));
    if (PROJECT_PLACES.some((p) => (hasDotConfig || !p.startsWith('.config/')) && existsSync(under(dir, p)))) return true;
    const pkg = under(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return 'karapace' in (JSON.parse(readFileSync(pkg, 'utf8')) as object);
      } catch {
        return true; // let cosmiconfig report the broken file
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const globalDir = options.globalDir ?? defaultGlobalConfigDir();
  if (!options.configFile && !anyConfigFile(options.cwd, globalDir)) return { config: {}, sources: [], pluginBaseDirs: [], origins: {} };
  const { cosmiconfig } = loadCosmiconfig();
  const project = cosmiconfig('karapace', { searchStrategy: 'project' });
  const global = cosmiconfig('karapace', { searchStrategy: 'none', searchPlaces: GLOBAL_PLACES });
  const state: MergeState = { config: {}, sources: [], seen: new Set(), origins: {} };

  const globalResult = await guard(() => global.search(globalDir), globalDir);
  if (globalResult && !globalResult.isEmpty) await apply(state, globalResult, []);

  const projectResult = options.configFile
    ? await guard(() => project.load(resolve(options.cwd, options.configFile!)), options.configFile)
    : await guard(() => project.search(options.cwd), options.cwd);
  if (projectResult && !projectResult.isEmpty && projectResult.filepath !== globalResult?.filepath) {
    await apply(state, projectResult, []);
  }
  return { config: state.config, sources: state.sources, pluginBaseDirs: [], origins: state.origins };
}

interface MergeState {
  config: KarapaceConfig;
  sources: string[];
  seen: Set<string>;
  origins: Record<string, string>;
}

async function apply(state: MergeState, result: NonNullable<CosmiconfigResult>, chain: string[]): Promise<void> {
  const file = result.filepath;
  if (chain.includes(file)) {
    throw new ManifestError('KP_CONFIG_EXTENDS_CYCLE', `config presets extend each other in a cycle: ${[...chain, file].join(' → ')}`, {
      hint: 'remove one of the `extends` entries',
    });
  }
  if (state.seen.has(file)) return;
  state.seen.add(file);
  const raw = result.config as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ManifestError('KP_CONFIG_INVALID', `config ${file} must be an object`, { hint: 'see docs/configuration in the README' });
  }
  const config = absolutizePlugins(raw as KarapaceConfig, dirname(file), chain.length > 0);
  const presets = config.extends === undefined ? [] : Array.isArray(config.extends) ? config.extends : [config.extends];
  for (const preset of presets) {
    if (typeof preset !== 'string') {
      throw new ManifestError('KP_CONFIG_INVALID', `config ${file}: "extends" entries must be strings`, { hint: 'name an npm package or a path' });
    }
    const presetFile = resolvePreset(preset, dirname(file));
    const { cosmiconfig } = loadCosmiconfig();
    const loaded = await guard(() => cosmiconfig('karapace').load(presetFile), presetFile);
    if (!loaded) {
      throw new ManifestError('KP_CONFIG_PRESET_EMPTY', `preset "${preset}" (${presetFile}) is empty`, {
        hint: `give the preset a config object, or remove "${preset}" from "extends" in ${file}`,
      });
    }
    await apply(state, loaded, [...chain, file]);
  }
  state.config = mergeConfig(state.config, config);
  state.sources.push(file);
  recordOrigins(state.origins, config, file);
}

/**
 * Dotted key paths of the values a file sets (objects recurse; arrays and scalars are
 * leaves), pointed at that file; a later file setting the same path takes it over. Plugin
 * entries are keyed by module: `plugins.<module>`.
 */
function recordOrigins(origins: Record<string, string>, config: KarapaceConfig, file: string, prefix = ''): void {
  for (const [key, value] of Object.entries(config)) {
    if (key === 'extends' && !prefix) continue;
    const path = `${prefix}${key}`;
    if (key === 'plugins' && !prefix && Array.isArray(value)) {
      for (const spec of value as PluginSpec[]) origins[`plugins.${typeof spec === 'string' ? spec : spec[0]}`] = file;
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
      recordOrigins(origins, value as KarapaceConfig, file, `${path}.`);
    } else {
      origins[path] = file;
    }
  }
}

/**
 * Relative plugin paths become absolute so they survive merging across files; in a preset,
 * plugins named by package resolve from the preset's directory, where its dependencies are.
 */
function absolutizePlugins(config: KarapaceConfig, dir: string, preset: boolean): KarapaceConfig {
  if (!Array.isArray(config.plugins)) return config;
  const fromPreset = (name: string) => {
    try {
      return createRequire(join(dir, 'noop.js')).resolve(name);
    } catch {
      return name; // not installed next to the preset: the loader looks from the project
    }
  };
  const fix = (name: string) => (name.startsWith('./') || name.startsWith('../') ? resolve(dir, name) : preset && !isAbsolute(name) ? fromPreset(name) : name);
  const plugins: PluginSpec[] = config.plugins.map((spec) =>
    typeof spec === 'string' ? fix(spec) : Array.isArray(spec) ? [fix(String(spec[0])), spec[1]] : spec,
  );
  return { ...config, plugins };
}

/** A preset is a path (relative to the file) or an npm package (its main file, or `karapace-preset.json`). */
function resolvePreset(preset: string, fromDir: string): string {
  if (preset.startsWith('.') || isAbsolute(preset)) return resolve(fromDir, preset);
  const require = createRequire(join(fromDir, 'noop.js'));
  try {
    return require.resolve(preset);
  } catch {
    try {
      return require.resolve(`${preset}/package.json`);
    } catch {
      throw new ManifestError('KP_CONFIG_PRESET_NOT_FOUND', `config preset "${preset}" was not found (from ${fromDir})`, {
        hint: `install it (npm install ${preset}) or fix the name in "extends"`,
      });
    }
  }
}

async function guard<T>(fn: () => Promise<T>, where: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new ManifestError('KP_CONFIG_UNREADABLE', `cannot read config ${where}: ${message}`, {
      hint: 'fix the syntax error in that file',
      cause: err,
    });
  }
}
