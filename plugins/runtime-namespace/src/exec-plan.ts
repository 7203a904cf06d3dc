/**
 * Exec plans for the native front door (native/front-door.c): when the front door handed a
 * fresh `exec`/`enter` over to Node (no plan yet, or a stale one), this run records what the
 * Node path consulted and, once the backend has built the launcher argv for a new sandbox,
 * writes it down: the argv minus the user's command, and every input with what it was —
 * each file or directory any code on the way stat'ed, read or listed (through the `fs`
 * module, recorded while armed: config discovery, the store's index and metadata, the
 * user database, subordinate ranges, the env's layers, the launcher), every environment
 * variable read (or the set of names, when something listed them), plus what Node reads
 * without `fs` (getpwuid's files, the code itself). The front door runs the plan only while
 * all of it is unchanged, so a plan says nothing the Node path would not do.
 *
 * Fingerprints (the front door computes the same strings): a file by device, inode, mode,
 * owner, size, mtime and ctime in ns; a directory that was stat'ed by device, inode, mode,
 * owner and birth time (its ctime moves with every entry: each sandbox makes and removes
 * mount points in the upper dir); a directory that was listed by its mtime and ctime too.
 */
import type * as Fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_PLUGIN_NAME, runningMark, storeLayout, type EnvHandle, type Kernel, type SpawnRequest } from '@karapace/kernel';

/**
 * The `fs` module object itself (not an ES namespace copy of it): what every other module
 * calls into, so the recording wrappers see their calls; syncBuiltinESMExports() carries the
 * wrappers to ES-module importers too.
 */
const fs = createRequire(import.meta.url)('node:fs') as typeof Fs;

/** Environment variables of the front door itself: never inputs (front-door.c skips them too). */
export const FRONT_DOOR_PREFIX = 'KARAPACE_FRONT_DOOR';
const MAGIC = 'karapace-exec-plan-1';
/** Plugins whose effect on exec is what this module records; any other could do anything. */
const KNOWN_PLUGINS = new Set([CORE_PLUGIN_NAME, 'runtime-namespace', 'runtime-mock', 'runtime-oci']);

type Kind = 'S' | 'L' | 'D';

interface Armed {
  file: string;
  key: string;
  /** How many trailing launcher arguments are the user's command (not part of the plan). */
  commandLength: number;
  paths: Map<string, Set<Kind>>;
  envNames: Set<string>;
  envListed: boolean;
  restore: () => void;
}

let armed: Armed | undefined;

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof URL) return arg.protocol === 'file:' ? fileURLToPath(arg) : undefined;
  if (Buffer.isBuffer(arg)) return arg.toString();
  return undefined;
}

function note(kind: Kind, arg: unknown): void {
  const a = armed;
  const p = pathOf(arg);
  if (!a || p === undefined || p === '') return;
  const abs = isAbsolute(p) ? p : resolve(p);
  let kinds = a.paths.get(abs);
  if (!kinds) a.paths.set(abs, (kinds = new Set()));
  kinds.add(kind);
}

/** Every ancestor's own entry: realpath's answer depends on each symlink on the way. */
function noteAncestors(arg: unknown): void {
  const p = pathOf(arg);
  if (p === undefined) return;
  for (let dir = isAbsolute(p) ? p : resolve(p); dirname(dir) !== dir; dir = dirname(dir)) note('L', dir);
}

const SYNC: Record<string, Kind> = {
  // A directory the run made (an env's own home) must still be there for the plan to hold.
  existsSync: 'S', statSync: 'S', accessSync: 'S', readFileSync: 'S', openSync: 'S', realpathSync: 'S', mkdirSync: 'S',
  lstatSync: 'L', readlinkSync: 'L', readdirSync: 'D', opendirSync: 'D',
};
const ASYNC: Record<string, Kind> = {
  stat: 'S', access: 'S', readFile: 'S', open: 'S', realpath: 'S', mkdir: 'S', lstat: 'L', readlink: 'L', readdir: 'D', opendir: 'D',
};

function wrap(target: Record<string, unknown>, names: Record<string, Kind>, undo: (() => void)[]): void {
  for (const [name, kind] of Object.entries(names)) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    const fn = original as (...a: unknown[]) => unknown;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      note(kind, args[0]);
      if (name.startsWith('realpath')) noteAncestors(args[0]);
      return fn.apply(this, args);
    };
    Object.assign(wrapped, fn); // realpathSync.native and the like
    // realpath's native variant answers the same question: recorded the same way.
    const native = (fn as { native?: unknown }).native;
    if (typeof native === 'function') {
      const nativeFn = native as (...a: unknown[]) => unknown;
      (wrapped as unknown as { native: unknown }).native = function (this: unknown, ...args: unknown[]) {
        note(kind, args[0]);
        noteAncestors(args[0]);
        return nativeFn.apply(this, args);
      };
    }
    target[name] = wrapped;
    undo.push(() => (target[name] = original));
  }
}

/**
 * Starts recording for a plan at `file` (the front door's path and key, from
 * $KARAPACE_FRONT_DOOR_PLAN/_KEY). Call before anything reads the configuration.
 */
export function armExecPlan(file: string, key: string, commandLength: number): void {
  if (armed) return;
  const undo: (() => void)[] = [];
  const paths = new Map<string, Set<Kind>>();
  const envNames = new Set<string>();
  const state: Armed = { file, key, commandLength, paths, envNames, envListed: false, restore: () => undo.forEach((u) => u()) };
  wrap(fs as unknown as Record<string, unknown>, SYNC, undo);
  wrap(fs.promises as unknown as Record<string, unknown>, ASYNC, undo);
  syncBuiltinESMExports();
  const env = process.env;
  process.env = new Proxy(env, {
    get(t, name) {
      if (typeof name === 'string') envNames.add(name);
      return Reflect.get(t, name);
    },
    has(t, name) {
      if (typeof name === 'string') envNames.add(name);
      return Reflect.has(t, name);
    },
    getOwnPropertyDescriptor(t, name) {
      if (typeof name === 'string') envNames.add(name);
      return Reflect.getOwnPropertyDescriptor(t, name);
    },
    ownKeys(t) {
      state.envListed = true;
      return Reflect.ownKeys(t);
    },
    // Writes go to the real environment as plain assignments: without these traps an
    // assignment to an existing variable reaches process.env as a partial property
    // descriptor, which it refuses (TypeError), failing the run.
    set(t, name, value) {
      if (typeof name !== 'string') return Reflect.set(t, name, value);
      t[name] = value as string;
      return true;
    },
    deleteProperty(t, name) {
      if (typeof name === 'string') delete t[name];
      return true;
    },
  });
  undo.push(() => {
    process.env = env;
    syncBuiltinESMExports();
  });
  armed = state;
}

/** Stops recording without writing a plan (the run went another way). */
export function disarmExecPlan(): void {
  armed?.restore();
  armed = undefined;
}

/** The front door's fingerprint of a path (see the module comment); undefined when unreadable. */
export function fingerprint(path: string, kind: Kind): string | undefined {
  let st: Fs.BigIntStats | undefined;
  try {
    st = kind === 'L' ? fs.lstatSync(path, { bigint: true }) : fs.statSync(path, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Absent, or behind a directory we may not search (another user's PATH entry): states too.
    return code === 'ENOENT' || code === 'ENOTDIR' ? '-' : code === 'EACCES' ? '!' : undefined;
  }
  const mode = st.mode.toString(8);
  if (st.isDirectory() && kind !== 'D') return `d:${st.dev}:${st.ino}:${mode}:${st.uid}:${st.gid}:${st.birthtimeNs}`;
  return `${st.isDirectory() ? 'l' : 'f'}:${st.dev}:${st.ino}:${mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** Files the launch depends on that no `fs` call names: getpwuid's, the code, the launcher's neighbours. */
function implicitInputs(launcher: string): string[] {
  const own = fileURLToPath(import.meta.url);
  return [
    '/etc/passwd', '/etc/group', '/etc/nsswitch.conf',
    process.execPath, ...(process.argv[1] ? [resolve(process.argv[1])] : []), own,
    launcher, join(dirname(launcher), 'karapace_flock.node'),
  ];
}

/** State the front door handles itself, as the Node path does: never an input. */
function isRunState(path: string, runtime: string): boolean {
  if (path.startsWith('/proc/')) return true;
  if (!path.startsWith(`${runtime}/`)) return false;
  const rest = path.slice(runtime.length + 1);
  return rest === 'lock' || rest === 'lock.pid' || rest.startsWith('sandbox.json') || rest === 'pids' || rest.startsWith('pids/');
}

export interface PlanOffer {
  kernel: Kernel;
  launcher: string;
  /** The launcher argv for a fresh sandbox (without `--json-status-fd`). */
  argv: string[];
  env: EnvHandle;
  request: Pick<SpawnRequest, 'purpose' | 'stdio' | 'argv'>;
  /** False when the sandbox needs what the front door does not do (a cgroup). */
  plain: boolean;
  /** The env lock is a flock (the front door takes the same one). */
  flock: boolean;
}

/**
 * Called by the backend when it is about to start a fresh sandbox: writes the plan if this
 * run was armed and the front door can do the same thing. Never throws: a plan we cannot
 * write only means the next exec goes through Node again.
 */
export function offerExecPlan(o: PlanOffer): void {
  const a = armed;
  if (!a) return;
  disarmExecPlan();
  try {
    if (!o.plain || !o.flock || o.request.stdio !== 'inherit') return;
    if (o.request.purpose !== 'exec' && o.request.purpose !== 'enter') return;
    if (!o.kernel.plugins.every((p) => KNOWN_PLUGINS.has(p))) return;
    const n = a.commandLength;
    if (n > o.request.argv.length) return;
    const tail = o.argv.slice(o.argv.length - n);
    if (tail.some((arg, i) => arg !== o.request.argv[o.request.argv.length - n + i])) return;
    const fields: string[] = [MAGIC, 'K', a.key, 'X', o.launcher];
    const prefix = o.argv.slice(0, o.argv.length - n);
    fields.push('A', String(prefix.length), ...prefix);
    // The launcher's environment (process.ts): PATH alone.
    a.envNames.add('PATH');
    fields.push('P', process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin');
    fields.push('R', o.env.paths.runtime, 'W', o.request.purpose);
    // The running index: marked after the pid record, as the backend does (Kernel.markRunning).
    fields.push('M', runningMark(storeLayout(o.kernel.storeRoot), o.env.envId));
    for (const path of implicitInputs(o.launcher)) note('S', path);
    for (const [path, kinds] of a.paths) {
      if (isRunState(path, o.env.paths.runtime)) continue;
      for (const kind of kinds) {
        const fp = fingerprint(path, kind);
        if (fp === undefined) return;
        fields.push(kind, path, fp);
      }
    }
    const env = process.env;
    for (const name of a.envNames) {
      if (name.startsWith(FRONT_DOOR_PREFIX)) continue;
      const value = env[name];
      if (value === undefined) fields.push('U', name);
      else fields.push('V', name, value);
    }
    if (a.envListed) {
      const names = Object.keys(env).filter((k) => !k.startsWith(FRONT_DOOR_PREFIX)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      fields.push('N', names.join('\n'));
    }
    fields.push('Z');
    if (fields.some((f) => f.includes('\0'))) return;
    fs.mkdirSync(dirname(a.file), { recursive: true, mode: 0o700 });
    const tmp = `${a.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, fields.map((f) => `${f}\0`).join(''), { mode: 0o600 });
    fs.renameSync(tmp, a.file);
  } catch {
    // The next exec goes through Node again.
  }
}
