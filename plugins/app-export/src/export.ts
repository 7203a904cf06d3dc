/**
 * App export: desktop entries and wrapper scripts on the host that run an app inside an
 * environment (like `distrobox-export`). What was written is recorded in the environment's
 * metadata (`extensions["app-export"]`), so `unexport` and `destroy` remove exactly that.
 *
 * Everything taken from the environment (its desktop entries, icons, app names) and from its
 * metadata (ids, names, the export record) is untrusted: entries are parsed and rewritten
 * (export-desktop-entry.ts), files are read inside the environment only (export-env-files.ts),
 * and host files are written and deleted only as export-host-files.ts proves them ours.
 */
import { isAbsolute, join, posix, resolve } from 'node:path';
import { homedir } from 'node:os';
import {
  APP_NAME_HINT, appFileName, findEnv, handleFor, NAME_PATTERN, readMetadata, SHORT_ID_LENGTH, StoreError, UsageError, withLock, writeMetadata,
  type Engine, type EnvHandle, type EnvMetadata, type Kernel, type Logger, type StoreLayout,
} from '@karapace/kernel';
import { DesktopEntryError, hostDesktopEntry, parseDesktopEntry, type DesktopEntry } from './export-desktop-entry.js';
import { envFileExists, readEnvFile } from './export-env-files.js';
import { checkHostFile, removeHostFile, writeHostFile } from './export-host-files.js';

export const EXPORT_EXTENSION = 'app-export';

/**
 * What exporting needs of the host: the store, the caller's environment (HOME, XDG dirs),
 * the argv that runs karapace here, and where warnings go. An Engine is one; the `built`
 * hook's context gives the same.
 */
export interface ExportHost {
  readonly layout: StoreLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly launcher: string[];
  readonly kernel: Pick<Kernel, 'progress'>;
  readonly logger: Pick<Logger, 'warn'>;
}

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
  return { applications: join(data, 'applications'), icons: join(data, 'icons', 'karapace'), bin: binDir ? resolve(binDir) : join(home, '.local', 'bin') };
}

/** The export record of the metadata, keeping only well-formed entries (metadata may have come from elsewhere). */
function record(meta: EnvMetadata): ExportRecord {
  const apps = Object.create(null) as Record<string, ExportedApp>;
  const raw = (meta.extensions?.[EXPORT_EXTENSION] as { apps?: unknown } | undefined)?.apps;
  if (raw && typeof raw === 'object') {
    for (const [app, value] of Object.entries(raw as Record<string, unknown>)) {
      const files = (value as { files?: unknown } | null)?.files;
      if (!Array.isArray(files)) continue;
      apps[app] = { app, kind: (value as { kind?: unknown }).kind === 'binary' ? 'binary' : 'desktop', files: files.filter((f): f is string => typeof f === 'string') };
    }
  }
  return { apps };
}

/** env_id as the file names and scripts use it: 64 hex digits, the short id derived from it (never taken from metadata). */
function identity(meta: EnvMetadata): { envId: string; shortId: string; label: string } {
  if (typeof meta.env_id !== 'string' || !/^[0-9a-f]{64}$/.test(meta.env_id)) {
    throw new StoreError('KP_EXPORT_ENV_ID', 'the environment\'s metadata has an invalid env_id: nothing is exported for it', { hint: 'run `karapace verify-store`; rebuild the environment from its manifest' });
  }
  const shortId = meta.env_id.slice(0, SHORT_ID_LENGTH);
  return { envId: meta.env_id, shortId, label: typeof meta.name === 'string' && NAME_PATTERN.test(meta.name) ? meta.name : shortId };
}

/** The environment's directories, upper first; a lower dir outside the store (metadata names it) is not read. */
function envRoots(layout: StoreLayout, meta: EnvMetadata): string[] {
  const handle = handleFor(layout, meta);
  const store = `${resolve(layout.root)}/`;
  return [handle.paths.upper, ...handle.lowerDirs.filter((d) => typeof d === 'string' && resolve(d).startsWith(store))];
}

/** An icon theme name (no path). */
const ICON_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const MAX_DESKTOP_BYTES = 1024 * 1024;
const MAX_ICON_BYTES = 8 * 1024 * 1024;

const BIN_DIRS = ['usr/local/bin', 'usr/bin', 'bin', 'usr/local/sbin', 'usr/sbin', 'sbin', 'usr/games'];
const ICON_DIRS = ['usr/share/icons/hicolor/scalable/apps', 'usr/share/icons/hicolor/256x256/apps', 'usr/share/icons/hicolor/128x128/apps',
  'usr/share/icons/hicolor/64x64/apps', 'usr/share/icons/hicolor/48x48/apps', 'usr/share/pixmaps'];
const ICON_EXTENSIONS = ['.svg', '.png', '.xpm'];

/** Quotes a word for sh: single quotes, a quote inside closed, escaped and reopened. */
function shQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

interface Target {
  engine: ExportHost;
  id: ReturnType<typeof identity>;
  roots: string[];
  launch: string[];
  options: ExportOptions;
}

async function exportDesktop(t: Target, app: string, text: string): Promise<ExportedApp> {
  const dirs = exportDirs(t.engine.env);
  let entry: DesktopEntry;
  try {
    entry = parseDesktopEntry(text);
  } catch (err) {
    throw desktopError(app, err);
  }
  const icon = entry.icon ? await findIcon(t, app, entry.icon) : undefined;
  const iconPath = icon ? join(dirs.icons, icon.name) : undefined;
  let content: string;
  try {
    content = hostDesktopEntry(entry, {
      launch: t.launch, label: t.id.label, envId: t.id.envId,
      ...(iconPath ? { icon: iconPath } : entry.icon && ICON_NAME.test(entry.icon) ? { icon: entry.icon } : {}),
    });
  } catch (err) {
    throw desktopError(app, err);
  }
  const owner = { envId: t.id.envId, app, force: t.options.force };
  const entryName = `karapace-${t.id.shortId}-${app}.desktop`;
  // Both targets are checked before either is written: a refusal leaves nothing behind.
  await checkHostFile(dirs.applications, entryName, owner);
  const files: string[] = [];
  if (icon) files.push(await writeHostFile(dirs.icons, icon.name, icon.bytes, owner));
  files.push(await writeHostFile(dirs.applications, entryName, content, owner));
  return { app, kind: 'desktop', files };
}

function desktopError(app: string, err: unknown): Error {
  if (!(err instanceof DesktopEntryError)) return err as Error;
  return new UsageError('KP_EXPORT_DESKTOP_INVALID', `the desktop entry of "${app}" cannot be exported: ${err.message}`, {
    hint: `a desktop would not run it either; export the binary instead with \`karapace export <env> /usr/bin/<binary>\``,
  });
}

/** The app's icon in the environment, and the name its copy gets in karapace's icon directory (checked there). */
async function findIcon(t: Target, app: string, icon: string): Promise<{ name: string; bytes: Buffer } | undefined> {
  const candidates = isAbsolute(icon)
    ? (ICON_EXTENSIONS.includes(posix.extname(icon)) ? [icon] : [])
    : ICON_NAME.test(icon) ? ICON_DIRS.flatMap((dir) => ICON_EXTENSIONS.map((ext) => `/${dir}/${icon}${ext}`)) : [];
  for (const candidate of candidates) {
    const file = await readEnvFile(t.roots, candidate, MAX_ICON_BYTES);
    if (!file) continue;
    const name = `${t.id.shortId}-${app}${posix.extname(candidate)}`;
    await checkHostFile(exportDirs(t.engine.env).icons, name, { envId: t.id.envId, app, force: t.options.force });
    return { name, bytes: file.bytes };
  }
  return undefined;
}

async function exportBinary(t: Target, app: string, inside: string): Promise<ExportedApp> {
  const dirs = exportDirs(t.engine.env, t.options.binDir);
  const argv = [...t.launch, inside].map(shQuote).join(' ');
  // Only checked values reach the comment lines (app name, ids); everything else is quoted.
  const script = `#!/bin/sh\n# karapace-export: ${app} from environment ${t.id.shortId} (${t.id.envId})\n# remove with: karapace unexport ${t.id.shortId} ${app}\nexec ${argv} "$@"\n`;
  const file = await writeHostFile(dirs.bin, app, script, { mode: 0o755, envId: t.id.envId, app, force: t.options.force });
  return { app, kind: 'binary', files: [file] };
}

/** Exports one app (desktop entry or binary wrapper); the caller holds the store lock. */
async function exportOne(engine: ExportHost, meta: EnvMetadata, roots: string[], app: string, options: ExportOptions): Promise<ExportedApp> {
  const id = identity(meta);
  const name = appFileName(app);
  if (name === undefined) throw new UsageError('KP_EXPORT_NAME', `${JSON.stringify(app)} is not an app or binary name`, { hint: APP_NAME_HINT });
  const absolute = app.startsWith('/');
  const launch = [...(options.launcher ?? engine.launcher), 'exec', '--store', resolve(engine.layout.root), id.envId, '--'];
  const target: Target = { engine, id, roots, launch, options };
  const desktop = absolute ? undefined : await readEnvFile(roots, `/usr/share/applications/${name}.desktop`, MAX_DESKTOP_BYTES);
  if (desktop) {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(desktop.bytes);
    } catch {
      throw desktopError(name, new DesktopEntryError('it is not UTF-8'));
    }
    return exportDesktop(target, name, text);
  }
  const candidates = absolute ? [app] : BIN_DIRS.map((d) => `/${d}/${name}`);
  let inside: string | undefined;
  for (const c of candidates) if (!inside && (await envFileExists(roots, c))) inside = c;
  if (!inside) {
    throw new UsageError('KP_EXPORT_NOT_FOUND', `environment ${id.shortId} has no desktop entry or binary named "${name}"`, {
      hint: `install it (add it to [system] packages and rebuild), or check the name with \`karapace exec ${id.label} -- ls /usr/share/applications /usr/bin\``,
    });
  }
  return exportBinary(target, name, inside);
}

/** Records an export, removing files a previous export of the same app wrote but this one did not (e.g. an icon). */
async function recordExport(rec: ExportRecord, done: ExportedApp, envId: string): Promise<void> {
  const stale = (rec.apps[done.app]?.files ?? []).filter((f) => !done.files.includes(f));
  for (const f of stale) await removeHostFile(f, envId);
  rec.apps[done.app] = done;
}

async function saveRecord(engine: ExportHost, meta: EnvMetadata, rec: ExportRecord): Promise<void> {
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
    const { envId, shortId } = identity(meta);
    if (meta.state === 'archived') throw new UsageError('KP_ENV_ARCHIVED', `environment ${shortId} is archived; its apps cannot be exported`, { hint: 'build it again from its manifest to use it' });
    const wanted = apps.length ? apps : meta.manifest.gui.apps;
    if (wanted.length === 0) throw new UsageError('KP_EXPORT_NOTHING', `no app named and environment ${shortId} has no [gui] apps`, { hint: 'name an app or a binary: `karapace export <env> <app>`' });
    const roots = envRoots(engine.layout, meta);
    const rec = record(meta);
    const exported: ExportedApp[] = [];
    for (const app of wanted) {
      const done = await exportOne(engine, meta, roots, app, options);
      await recordExport(rec, done, envId);
      exported.push(done);
    }
    await saveRecord(engine, meta, rec);
    return { env_id: envId, short_id: shortId, exported };
  });
}

/**
 * Exports the manifest's `[gui] apps` of a freshly built environment. The plugin's `built`
 * tap calls it while build holds the store lock. An app that cannot be exported does not fail the build: it is
 * reported as a warning through the progress hook, and the other apps are still exported.
 */
export async function exportGuiAppsAfterBuild(engine: ExportHost, envId: string): Promise<ExportedApp[]> {
  const meta = await readMetadata(engine.layout, envId);
  if (!meta || meta.manifest.gui.apps.length === 0) return [];
  const { label } = identity(meta);
  const roots = envRoots(engine.layout, meta);
  const rec = record(meta);
  const exported: ExportedApp[] = [];
  for (const app of meta.manifest.gui.apps) {
    try {
      const done = await exportOne(engine, meta, roots, app, {});
      await recordExport(rec, done, meta.env_id);
      exported.push(done);
      // Said, not silent: build writes into the user's desktop and PATH directories.
      engine.kernel.progress({ kind: 'log', level: 'info', message: `exported ${JSON.stringify(app)} of environment ${label} to the host: ${done.files.join(', ')}` });
    } catch (err) {
      const hint = (err as { hint?: string }).hint;
      engine.kernel.progress({
        kind: 'log', level: 'warn',
        message: `[gui] app ${JSON.stringify(app)} of environment ${label} was not exported: ${err instanceof Error ? err.message : String(err)}${hint ? ` (${hint})` : ''}`,
      });
    }
  }
  if (exported.length) await saveRecord(engine, meta, rec);
  return exported;
}

/** Removes exported apps (all when none are named). */
export async function unexportApps(engine: Engine, ref: string, apps: string[] = []): Promise<ExportResult & { removed: string[]; kept: string[] }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    const { envId, shortId } = identity(meta);
    const rec = record(meta);
    const names = apps.length ? apps.map((a) => posix.basename(a)) : Object.keys(rec.apps);
    const missing = names.filter((n) => !rec.apps[n]);
    if (missing.length) {
      throw new UsageError('KP_EXPORT_UNKNOWN', `environment ${shortId} has not exported: ${missing.join(', ')}`, {
        hint: `exported: ${Object.keys(rec.apps).join(', ') || 'nothing'}`,
      });
    }
    const removed: string[] = [];
    const kept: string[] = [];
    for (const n of names) {
      kept.push(...(await removeFiles(rec.apps[n]!.files, envId)));
      delete rec.apps[n];
      removed.push(n);
    }
    for (const f of kept) engine.logger.warn(`left ${f} in place: karapace did not write it for environment ${shortId}, or it changed since`);
    await saveRecord(engine, meta, rec);
    return { env_id: envId, short_id: shortId, exported: Object.values(rec.apps), removed, kept };
  });
}

/** Deletes the files karapace wrote for `envId` among `files`; returns the ones it left in place. */
async function removeFiles(files: string[], envId: string): Promise<string[]> {
  const kept: string[] = [];
  for (const f of files) if ((await removeHostFile(f, envId)) === 'kept') kept.push(f);
  return kept;
}

/** What an environment has exported. */
export function exportedApps(meta: EnvMetadata): ExportedApp[] {
  return Object.values(record(meta).apps);
}

/**
 * Removes the host files exported for an environment (the plugin's `destroy` tap calls this,
 * inside destroy's store lock; the metadata goes with the environment). Only files the
 * export ledger proves karapace wrote for this environment are deleted.
 */
export async function removeExportsOf(layout: StoreLayout, env: EnvHandle): Promise<void> {
  let meta: EnvMetadata | undefined;
  try {
    meta = await readMetadata(layout, env.envId);
  } catch (err) {
    if (err instanceof StoreError) return; // corrupt metadata: nothing trustworthy to remove
    throw err;
  }
  if (!meta) return;
  for (const app of exportedApps(meta)) await removeFiles(app.files, env.envId);
}
