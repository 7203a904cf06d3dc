/** The kernel's own doctor checks: the store's health and the configuration and plugins loaded. */
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { acquireStoreLock, hasNativeFlock } from '../store/lock.js';
import { isCurrentStoreVersion, readStoreVersion, STORE_FORMAT_VERSION } from '../store/version.js';
import type { DoctorCheck } from '../types.js';
import type { Engine } from '../engine/engine.js';
import { everywhere, formatFix } from './fixes.js';

function check(c: Omit<DoctorCheck, 'plugin'>): DoctorCheck {
  return { ...c, plugin: 'core' };
}

function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export async function storeChecks(engine: Engine): Promise<DoctorCheck[]> {
  const layout = engine.layout;
  const checks: DoctorCheck[] = [];
  // Version file.
  try {
    const v = readStoreVersion(layout);
    checks.push(check({
      id: 'core.store.version', title: `Store format (${layout.root})`, required: true,
      ...(v === undefined ? { status: 'ok', detail: 'no store yet: created by the first build' }
        : isCurrentStoreVersion(v) ? { status: 'ok', detail: `version ${v}` }
          : { status: 'fail', detail: `version ${v}; this karapace reads version ${STORE_FORMAT_VERSION}`, fix: v > STORE_FORMAT_VERSION ? 'upgrade karapace' : 'run `karapace migrate`' }),
    }));
  } catch (err) {
    checks.push(check({ id: 'core.store.version', title: `Store format (${layout.root})`, required: true, status: 'fail', detail: (err as Error).message, fix: `write "${STORE_FORMAT_VERSION}" into ${layout.version} if this is a karapace store, or point --store elsewhere` }));
  }
  // Writable.
  const target = nearestExisting(layout.root);
  let writable = true;
  try {
    accessSync(target, constants.W_OK);
  } catch {
    writable = false;
  }
  checks.push(check({
    id: 'core.store.writable', title: 'Store is writable', required: true,
    status: writable ? 'ok' : 'fail', detail: writable ? target : `${target} is not writable by this user`,
    ...(writable ? {} : { fix: formatFix(everywhere(`sudo chown -R "$USER" ${target}`), 'Give the store back to your user, or use --store / KARAPACE_STORE:') }),
  }));
  // Lock: free now? And is it a real flock (released when a process dies)?
  if (existsSync(layout.store)) {
    try {
      const handle = await acquireStoreLock(layout, { waitMs: 0 });
      handle.release();
      checks.push(check({ id: 'core.store.lock', title: 'Store lock', required: false, status: 'ok', detail: hasNativeFlock() ? 'free (flock)' : 'free (pid-file fallback: native addon not built)' }));
    } catch (err) {
      checks.push(check({ id: 'core.store.lock', title: 'Store lock', required: false, status: 'warn', detail: (err as Error).message, fix: 'another karapace command is running; it is released when that process exits' }));
    }
    const pending = existsSync(layout.wal) ? readdirSync(layout.wal).filter((n) => n.endsWith('.json')) : [];
    checks.push(check({
      id: 'core.store.wal', title: 'Interrupted operations', required: false,
      status: pending.length ? 'warn' : 'ok',
      detail: pending.length ? `${pending.length} write-ahead log entr${pending.length === 1 ? 'y' : 'ies'} pending` : 'none',
      ...(pending.length ? { fix: 'any store command (e.g. `karapace gc --dry-run`) rolls them back; then run `karapace verify-store`' } : {}),
    }));
  }
  if (!hasNativeFlock()) {
    checks.push(check({
      id: 'core.flock', title: 'Native flock addon', required: false, status: 'warn',
      detail: 'not built: a pid-file lock is used instead',
      fix: formatFix({
        debian: 'sudo apt-get install build-essential && npm rebuild',
        fedora: 'sudo dnf install gcc make && npm rebuild',
        opensuse: 'sudo zypper install gcc make && npm rebuild',
        arch: 'sudo pacman -S base-devel && npm rebuild',
      }),
    }));
  }
  return checks;
}

export function configChecks(engine: Engine): DoctorCheck[] {
  const presets = engine.config.extends === undefined ? [] : Array.isArray(engine.config.extends) ? engine.config.extends : [engine.config.extends];
  return [
    check({
      id: 'core.config', title: 'Configuration', required: false, status: 'ok',
      detail: engine.configSources.length ? `files: ${engine.configSources.join(', ')}${presets.length ? `; presets: ${presets.join(', ')}` : ''}` : 'no config file: built-in defaults',
    }),
    check({
      id: 'core.plugins', title: 'Plugins', required: true,
      status: engine.kernel.plugins.length ? 'ok' : 'fail',
      detail: engine.kernel.plugins.length ? `${engine.kernel.plugins.join(', ')}; backends: ${engine.kernel.backends.join(', ') || 'none'}` : 'no plugin loaded',
      ...(engine.kernel.plugins.length ? {} : { fix: 'remove `"builtins": false` from your config, or name plugins under "plugins"' }),
    }),
  ];
}
