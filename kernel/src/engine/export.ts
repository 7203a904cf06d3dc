/**
 * App export: desktop entries and wrapper scripts on the host that run an app inside an
 * environment (like `distrobox-export`). What was written is recorded in the environment's
 * metadata (`extensions["app-export"]`), so `unexport` and `destroy` remove exactly that.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, extname, isAbsolute, join } from 'node:path';
import { UsageError, StoreError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { readMetadata, writeMetadata, type EnvMetadata } from '../store/metadata.js';
import type { StoreLayout } from '../store/layout.js';
import type { EnvHandle } from '../types.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { handleFor } from './handle.js';
import { withLock } from './with-lock.js';

export const EXPORT_EXTENSION = 'app-export';

export interface ExportedApp {
  app: string;
  kind: 'desktop' | 'binary';
  /** Host files written for it (desktop entry, icon, wrapper script). */
  files: string[];
}

interface ExportRecord {
  apps: Record<string, ExportedApp>;
}

export interface ExportOptions {
  /** argv that runs karapace on this host (default: the engine's `launcher`). */
  launcher?: string[];
  /** Where wrapper scripts go (default ~/.local/bin). */
  binDir?: string;
  /** Replace a host file that karapace did not write. */
  force?: boolean;
}

export interface ExportResult {
  env_id: string;
  short_id: string;
  exported: ExportedApp[];
}

/** Host directories, from the environment the engine was created with (tests use temp HOMEs). */
export function exportDirs(env: NodeJS.ProcessEnv, binDir?: string): { applications: string; icons: string; bin: string } {
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(home, '.local', 'share');
  return { applications: join(data, 'applications'), icons: join(data, 'icons', 'karapace'), bin: binDir ?? join(home, '.local', 'bin') };
}

function record(meta: EnvMetadata): ExportRecord {
  const raw = meta.extensions?.[EXPORT_EXTENSION] as ExportRecord | undefined;
  return { apps: { ...(raw?.apps ?? {}) } };
}

/** Finds `rel` in the environment: the upper dir first, then each lower layer. */
function findInEnv(roots: string[], rel: string): string | undefined {
  for (const root of roots) {
    const p = join(root, rel);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const BIN_DIRS = ['usr/local/bin', 'usr/bin', 'bin', 'usr/local/sbin', 'usr/sbin', 'sbin', 'usr/games'];
const ICON_DIRS = ['usr/share/icons/hicolor/scalable/apps', 'usr/share/icons/hicolor/256x256/apps', 'usr/share/icons/hicolor/128x128/apps',
  'usr/share/icons/hicolor/64x64/apps', 'usr/share/icons/hicolor/48x48/apps', 'usr/share/pixmaps'];

/** Quotes an argument for a desktop entry's Exec key (Desktop Entry Spec, "The Exec key"). */
function execQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
}

function shQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

const MARKER = '# karapace-export';

/** A host file karapace did not write is never replaced without --force. */
function assertOurs(path: string, force: boolean | undefined): void {
  if (!existsSync(path) || force) return;
  const text = statSync(path).size < 65536 ? readFileSync(path, 'utf8') : '';
  if (!text.includes(MARKER) && !text.includes('X-Karapace-Env=')) {
    throw new UsageError('KP_EXPORT_EXISTS', `${path} exists and was not written by karapace`, { hint: 'remove it, or pass --force to replace it' });
  }
}

async function exportDesktop(engine: Engine, meta: EnvMetadata, roots: string[], app: string, desktop: string, launcher: string[], options: ExportOptions): Promise<ExportedApp> {
  const dirs = exportDirs(engine.env);
  const id = `karapace-${meta.short_id}-${app}`;
  const target = join(dirs.applications, `${id}.desktop`);
  assertOurs(target, options.force);
  const files: string[] = [];
  const prefix = [...launcher, 'exec', '--store', engine.layout.root, meta.env_id, '--'].map(execQuote).join(' ');
  const label = meta.name ?? meta.short_id;
  let iconPath: string | undefined;
  const lines: string[] = [];
  let section = '';
  for (const line of (await readFile(desktop, 'utf8')).split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      section = header[1]!;
      lines.push(line);
      if (section === 'Desktop Entry') lines.push(`X-Karapace-Env=${meta.env_id}`);
      continue;
    }
    const kv = /^([A-Za-z0-9-]+)(\[[^\]]+\])?\s*=\s*(.*)$/.exec(line);
    if (!kv) {
      lines.push(line);
      continue;
    }
    const [, key, locale = '', value = ''] = kv;
    if (key === 'Exec') lines.push(`Exec=${prefix} ${value}`);
    else if (key === 'TryExec' || key === 'DBusActivatable') continue; // the binary is not on the host
    else if (key === 'Name' && section === 'Desktop Entry') lines.push(`Name${locale}=${value} (${label})`);
    else if (key === 'Icon' && section === 'Desktop Entry' && !locale) {
      iconPath = await exportIcon(roots, value, dirs.icons, `${meta.short_id}-${app}`);
      lines.push(`Icon=${iconPath ?? value}`);
    } else lines.push(line);
  }
  if (iconPath) files.push(iconPath);
  await mkdir(dirs.applications, { recursive: true });
  await writeFileAtomic(target, lines.join('\n'));
  files.push(target);
  return { app, kind: 'desktop', files };
}

/** Copies the app's icon out of the environment; the entry then names it by absolute path. */
async function exportIcon(roots: string[], icon: string, iconsDir: string, stem: string): Promise<string | undefined> {
  let source: string | undefined;
  if (isAbsolute(icon)) source = findInEnv(roots, icon.slice(1));
  else {
    for (const dir of ICON_DIRS) {
      for (const ext of ['.svg', '.png', '.xpm']) {
        source ??= findInEnv(roots, join(dir, `${icon}${ext}`));
      }
    }
  }
  if (!source) return undefined;
  await mkdir(iconsDir, { recursive: true });
  const target = join(iconsDir, `${stem}${extname(source)}`);
  await copyFile(source, target);
  return target;
}

async function exportBinary(engine: Engine, meta: EnvMetadata, app: string, path: string, launcher: string[], options: ExportOptions): Promise<ExportedApp> {
  const dirs = exportDirs(engine.env, options.binDir);
  const target = join(dirs.bin, basename(app));
  assertOurs(target, options.force);
  const argv = [...launcher, 'exec', '--store', engine.layout.root, meta.env_id, '--', path].map(shQuote).join(' ');
  const script = `#!/bin/sh\n${MARKER}: ${app} from environment ${meta.name ?? meta.short_id} (${meta.env_id})\n# remove with: karapace unexport ${meta.short_id} ${app}\nexec ${argv} "$@"\n`;
  await mkdir(dirs.bin, { recursive: true });
  await writeFileAtomic(target, script, 0o755);
  return { app, kind: 'binary', files: [target] };
}

/** Exports one app (desktop entry or binary wrapper); the caller holds the store lock. */
async function exportOne(engine: Engine, meta: EnvMetadata, roots: string[], app: string, options: ExportOptions): Promise<ExportedApp> {
  const launcher = options.launcher ?? engine.launcher;
  if (!/^[A-Za-z0-9._+-]+$/.test(app) && !(isAbsolute(app) && !app.includes('..'))) {
    throw new UsageError('KP_EXPORT_NAME', `"${app}" is not an app or binary name`, { hint: 'use a name like `firefox`, or an absolute path inside the environment like `/usr/bin/firefox`' });
  }
  const desktop = isAbsolute(app) ? undefined : findInEnv(roots, `usr/share/applications/${app}.desktop`);
  if (desktop) return exportDesktop(engine, meta, roots, app, desktop, launcher, options);
  const inside = isAbsolute(app) ? app : BIN_DIRS.map((d) => `/${d}/${app}`).find((p) => findInEnv(roots, p.slice(1)));
  if (!inside || !findInEnv(roots, inside.slice(1))) {
    throw new UsageError('KP_EXPORT_NOT_FOUND', `environment ${meta.short_id} has no desktop entry or binary named "${app}"`, {
      hint: `install it (add it to [system] packages and rebuild), or check the name with \`karapace exec ${meta.name ?? meta.short_id} -- ls /usr/share/applications /usr/bin\``,
    });
  }
  return exportBinary(engine, meta, basename(app), inside, launcher, options);
}

/** Records an export, removing files a previous export of the same app wrote but this one did not (e.g. an icon). */
async function recordExport(rec: ExportRecord, done: ExportedApp): Promise<void> {
  const stale = (rec.apps[done.app]?.files ?? []).filter((f) => !done.files.includes(f));
  await Promise.all(stale.map((f) => rm(f, { force: true })));
  rec.apps[done.app] = done;
}

async function saveRecord(engine: Engine, meta: EnvMetadata, rec: ExportRecord): Promise<void> {
  await writeMetadata(engine.layout, { ...meta, extensions: { ...(meta.extensions ?? {}), [EXPORT_EXTENSION]: rec }, updated_at: new Date().toISOString() });
}

/**
 * Exports apps from an environment: a desktop entry when `usr/share/applications/<app>.desktop`
 * exists in it, else a wrapper script for a binary named `<app>` (or an absolute path).
 * With no apps named, exports the manifest's `[gui] apps`.
 */
export async function exportApps(engine: Engine, ref: string, apps: string[] = [], options: ExportOptions = {}): Promise<ExportResult> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    if (meta.state === 'archived') throw new UsageError('KP_ENV_ARCHIVED', `environment ${meta.short_id} is archived; its apps cannot be exported`, { hint: 'build it again from its manifest to use it' });
    const wanted = apps.length ? apps : meta.manifest.gui.apps;
    if (wanted.length === 0) throw new UsageError('KP_EXPORT_NOTHING', `no app named and environment ${meta.short_id} has no [gui] apps`, { hint: 'name an app or a binary: `karapace export <env> <app>`' });
    const handle = handleFor(engine.layout, meta);
    const roots = [handle.paths.upper, ...handle.lowerDirs];
    const rec = record(meta);
    const exported: ExportedApp[] = [];
    for (const app of wanted) {
      const done = await exportOne(engine, meta, roots, app, options);
      await recordExport(rec, done);
      exported.push(done);
    }
    await saveRecord(engine, meta, rec);
    return { env_id: meta.env_id, short_id: meta.short_id, exported };
  });
}

/**
 * Exports the manifest's `[gui] apps` of a freshly built environment. `build` calls it while
 * it holds the store lock. An app that cannot be exported does not fail the build: it is
 * reported as a warning through the progress hook, and the other apps are still exported.
 */
export async function exportGuiAppsAfterBuild(engine: Engine, envId: string): Promise<ExportedApp[]> {
  const meta = await readMetadata(engine.layout, envId);
  if (!meta || meta.manifest.gui.apps.length === 0) return [];
  const handle = handleFor(engine.layout, meta);
  const roots = [handle.paths.upper, ...handle.lowerDirs];
  const rec = record(meta);
  const exported: ExportedApp[] = [];
  for (const app of meta.manifest.gui.apps) {
    try {
      const done = await exportOne(engine, meta, roots, app, {});
      await recordExport(rec, done);
      exported.push(done);
    } catch (err) {
      const hint = (err as { hint?: string }).hint;
      engine.kernel.progress({
        kind: 'log', level: 'warn',
        message: `[gui] app "${app}" of environment ${meta.name ?? meta.short_id} was not exported: ${err instanceof Error ? err.message : String(err)}${hint ? ` (${hint})` : ''}`,
      });
    }
  }
  if (exported.length) await saveRecord(engine, meta, rec);
  return exported;
}

/** Removes exported apps (all when none are named). */
export async function unexportApps(engine: Engine, ref: string, apps: string[] = []): Promise<ExportResult & { removed: string[] }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    const rec = record(meta);
    const names = apps.length ? apps.map((a) => basename(a)) : Object.keys(rec.apps);
    const missing = names.filter((n) => !rec.apps[n]);
    if (missing.length) {
      throw new UsageError('KP_EXPORT_UNKNOWN', `environment ${meta.short_id} has not exported: ${missing.join(', ')}`, {
        hint: `exported: ${Object.keys(rec.apps).join(', ') || 'nothing'}`,
      });
    }
    const removed: ExportedApp[] = [];
    for (const n of names) {
      const app = rec.apps[n]!;
      await Promise.all(app.files.map((f) => rm(f, { force: true })));
      delete rec.apps[n];
      removed.push(app);
    }
    await saveRecord(engine, meta, rec);
    return { env_id: meta.env_id, short_id: meta.short_id, exported: Object.values(rec.apps), removed: removed.map((a) => a.app) };
  });
}

/** What an environment has exported. */
export function exportedApps(meta: EnvMetadata): ExportedApp[] {
  return Object.values(record(meta).apps);
}

/**
 * Taps `destroy`: removes what an environment exported. Runs inside destroy's store lock,
 * so it only deletes host files (the metadata goes with the environment).
 */
/** Removes the host files exported for an environment (the kernel's destroy hook calls this). */
export async function removeExportsOf(layout: StoreLayout, env: EnvHandle): Promise<void> {
  let meta: EnvMetadata | undefined;
  try {
    meta = await readMetadata(layout, env.envId);
  } catch (err) {
    if (err instanceof StoreError) return; // corrupt metadata: nothing trustworthy to remove
    throw err;
  }
  if (!meta) return;
  for (const app of exportedApps(meta)) await Promise.all(app.files.map((f) => rm(f, { force: true })));
}
