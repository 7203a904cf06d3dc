/**
 * With full subordinate-id mapping the image's files must belong to root inside, as in
 * rootless Podman, where image layers are extracted inside the user namespace. Here the
 * image cache (shared by every backend, and digested as it lies on disk) was extracted by
 * the user, so every base file is the user's own uid on the host — which keep-id mapping
 * shows inside as the user: `/usr/bin/env` owned by the user, setuid `su` owned by the user.
 *
 * So the backend keeps, per image and id range, a copy of the image's rootfs made inside the
 * env's mapping: `cp -a` as root inside, then every entry owned by the user's uid/gid is
 * given to root (0) and the setuid/setgid bits chown cleared are put back. On the host the
 * copy belongs to the subordinate root; it is made once per image (`bases/<key>/rootfs`,
 * renamed into place complete) and shared by every env of this store on that image. The
 * owners the archive had besides root (e.g. group shadow) are not known any more once a
 * non-root user extracted it; they become root too (docs/runtime-namespace.md).
 */
import { spawnSync } from 'node:child_process';
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeFailure, type GcContext, type InvokingUser } from '@karapace/kernel';
import { buildHostMappingArgv, type HostBind } from './argv.js';
import type { IdFacts } from './ids.js';
import { sha256Hex } from './sha256.js';

/** node:crypto on first use (a new copy's temporary name): loading it is a visible share of an exec's start-up. */
let cryptoModule: typeof Crypto | undefined;
const crypto = (): typeof Crypto => (cryptoModule ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto);

/** Where the owned copies live, under the store root. */
export function basesDir(storeRoot: string): string {
  return join(storeRoot, 'runtime-namespace', 'bases');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Same image content (its on-disk digest), same id ranges → the same copy. */
function baseKey(rootfs: string, user: InvokingUser, facts: IdFacts): string {
  const imageDir = dirname(rootfs);
  const digest = readText(join(imageDir, 'disk-digest')) || readText(join(imageDir, 'digest'));
  // realpath(3) in one call: the JS realpathSync walks and lstats every component (a
  // visible share of a rootless exec's own work); the answer, so the key, is the same.
  const material = [realpathSync.native(rootfs), digest, user.uid, user.gid, facts.subuid?.start, facts.subuid?.count, facts.subgid?.start, facts.subgid?.count].join('\0');
  // sha256Hex, not node:crypto's: the same key, without loading node:crypto on every exec.
  return sha256Hex(material).slice(0, 32);
}

/**
 * The kernel reads the base image on the host (diff compares against it) through the id maps
 * a mapped scan returns; the env runs on the owned copy, where the user's ids became root's:
 * the same rule, for those readings.
 */
export function asOwnedBase(map: [number, number, number][], hostId: number): [number, number, number][] {
  return [[0, hostId, 1], ...map];
}

/**
 * Runs inside the mapping as root (`node -e`): entries of the user's uid/gid → 0, setuid and
 * setgid bits restored from the source (chown clears them).
 */
const FIXUP = `
const fs = require('node:fs'), path = require('node:path');
const [src, dst, uid, gid] = process.argv.slice(1);
const U = Number(uid), G = Number(gid);
const walk = (rel) => {
  const d = path.join(dst, rel), st = fs.lstatSync(d);
  if (st.uid === U || st.gid === G) fs.lchownSync(d, st.uid === U ? 0 : st.uid, st.gid === G ? 0 : st.gid);
  if (st.isFile() && (st.mode & 0o6000)) fs.chmodSync(d, fs.lstatSync(path.join(src, rel)).mode & 0o7777);
  if (st.isDirectory()) for (const n of fs.readdirSync(d)) walk(path.join(rel, n));
};
walk('.');
`;

function runInMapping(launcher: string, binds: HostBind[], argv: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(launcher, buildHostMappingArgv(binds, argv), { encoding: 'utf8', timeout: 600_000, killSignal: 'SIGKILL' });
  return { status: r.status, stderr: (r.stderr || r.error?.message || '').trim() };
}

/**
 * The rootfs to use as the env's base lower dir under full mapping: the owned copy of
 * `rootfs`, made now if missing. `onCreate` is told before the (one-time) copy starts.
 */
export function ownedBase(storeRoot: string, rootfs: string, launcher: string, user: InvokingUser, facts: IdFacts, onCreate?: () => void): string {
  const dir = basesDir(storeRoot);
  const target = join(dir, baseKey(rootfs, user, facts));
  if (existsSync(join(target, 'rootfs'))) return join(target, 'rootfs');
  onCreate?.();
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${crypto().randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'source.json'), JSON.stringify({ rootfs, created_at: new Date().toISOString() }) + '\n');
  const script = `set -e\ncp -a --reflink=auto /tmp/src /tmp/out/rootfs\nexec "$0" -e "$1" /tmp/src /tmp/out/rootfs "$2" "$3"`;
  const r = runInMapping(launcher, [{ source: rootfs, target: '/tmp/src', readOnly: true }, { source: tmp, target: '/tmp/out' }], [
    '/bin/sh', '-c', script, process.execPath, FIXUP, String(user.uid), String(user.gid),
  ]);
  if (r.status !== 0) {
    removeOwned(launcher, tmp);
    throw new RuntimeFailure('KP_NS_BASE_OWNERS', `could not prepare the image's files for full id mapping (exit ${r.status}): ${r.stderr}`, {
      hint: 'run `karapace doctor` to check the subordinate id ranges, or set the runtime-namespace option "idMapping" to "single"',
      data: { rootfs },
    });
  }
  try {
    renameSync(tmp, target);
  } catch {
    // Another exec made the same copy meanwhile: use theirs.
    removeOwned(launcher, tmp);
  }
  return join(target, 'rootfs');
}

/** Removes a tree holding subordinate-owned files, from inside the mapping. */
function removeOwned(launcher: string, path: string): void {
  if (!existsSync(path)) return;
  runInMapping(launcher, [{ source: dirname(path), target: '/tmp/parent' }], ['/bin/rm', '-rf', '--', `/tmp/parent/${path.split('/').pop()}`]);
  rmSync(path, { recursive: true, force: true });
}

/** gc: owned copies whose image is gone. */
export function collectOwnedBases(storeRoot: string, launcher: string | undefined, context: GcContext): void {
  const dir = basesDir(storeRoot);
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)) {
    const path = join(dir, name);
    // A copy being made right now (execs don't take the store lock) is left alone.
    if (name.startsWith('.tmp-') && Date.now() - statSync(path).mtimeMs < 3600_000) continue;
    let rootfs = '';
    try {
      rootfs = (JSON.parse(readFileSync(join(path, 'source.json'), 'utf8')) as { rootfs?: string }).rootfs ?? '';
    } catch {
      // an interrupted copy (.tmp-…) or a damaged record: it goes
    }
    if (rootfs && existsSync(rootfs) && !name.startsWith('.tmp-')) continue;
    context.removed.push({ kind: 'owned-base', id: name, path });
    if (!context.dryRun && launcher) removeOwned(launcher, path);
  }
}
