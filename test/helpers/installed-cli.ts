/**
 * Karapace as a user installs it: every workspace packed with `npm pack`, the tarballs
 * installed with `npm install -g --prefix` by an unprivileged user whose PATH has no C
 * compiler and whose module paths hold nothing of the repository.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO } from './cli.js';
import { TEST_CACHE_DIR } from './debian-rootfs.js';

/** Names of compilers and build tools left out of the PATH (a machine without a C toolchain). */
const TOOLCHAIN = /^(?:cc|c\+\+|c89|c99|gcc|g\+\+|cpp|make|gmake|ld|ld\..*|as|clang.*|tcc|.*-linux-gnu-.*|(?:gcc|g\+\+|cpp)-\d+)$/;

/** A directory of links to the host's commands without any compiler or make; returns it. */
export function pathWithoutCompiler(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const from of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (!existsSync(from)) continue;
    for (const name of readdirSync(from)) {
      if (TOOLCHAIN.test(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return dir;
}

/**
 * Serialises what writes native/prebuilt (`make prebuilt`, npm pack's prepack of
 * @karapace/native): test files run in parallel and two makes must not share object files.
 */
export function withNativeLock(argv: string[]): string[] {
  mkdirSync(TEST_CACHE_DIR, { recursive: true });
  return ['flock', join(TEST_CACHE_DIR, '.native-prebuilt.lock'), ...argv];
}

/** Packs every workspace, or the given package directories, into `dest`; returns the tarballs. */
export function pack(dest: string, dirs?: string[]): string[] {
  mkdirSync(dest, { recursive: true });
  const [cmd, ...args] = withNativeLock(['npm', 'pack', ...(dirs ?? ['--workspaces']), '--pack-destination', dest, '--json']);
  const r = spawnSync(cmd!, args, { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { filename: string }[]).map((p) => join(dest, basename(p.filename)));
}

/** The npm settings (CA file, registry) of the test's own npm, for the user's npm. */
function npmSettings(): string[] {
  const out: string[] = [];
  for (const key of ['cafile', 'registry']) {
    const value = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout.trim();
    if (value && value !== 'null' && value !== 'undefined') out.push(`--${key}=${value}`);
  }
  return out;
}

export interface UserEnv {
  user: string;
  home: string;
  /** PATH of the user's commands (no compiler), without the prefix's bin. */
  path: string;
}

/** argv running `argv` as the user with exactly `env` (env -i). */
export function asUser(who: UserEnv, env: Record<string, string>, argv: string[]): string[] {
  return ['runuser', '-u', who.user, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
}

/**
 * `npm install -g --prefix PREFIX TARBALLS` as the user, with an npm cache of its own kept
 * in the test cache (later runs read the registry's packages from it). Returns the
 * install's wall time in ms.
 */
export function installGlobal(who: UserEnv & { uid: number; gid: number }, prefix: string, tarballs: string[], cwd: string): number {
  return npmInstall(who, ['-g', '--prefix', prefix, ...tarballs], cwd);
}

/** `npm install ARGS` as the user in `cwd` (a project: its node_modules); returns the wall time in ms. */
export function npmInstall(who: UserEnv & { uid: number; gid: number }, args: string[], cwd: string): number {
  const cache = join(TEST_CACHE_DIR, `npm-cache-${who.user}`);
  mkdirSync(cache, { recursive: true });
  chownSync(cache, who.uid, who.gid);
  const env: Record<string, string> = { PATH: who.path, HOME: who.home, LANG: 'C.UTF-8' };
  if (process.env.NODE_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
  const argv = ['npm', 'install', ...args, `--cache=${cache}`, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...npmSettings()];
  const started = Date.now();
  const [cmd, ...rest] = asUser(who, env, argv);
  const r = spawnSync(cmd!, rest, { cwd, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`npm install ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Date.now() - started;
}
