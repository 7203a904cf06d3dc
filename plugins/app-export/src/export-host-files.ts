/**
 * Host files karapace writes for app export, and the proof that it wrote them. Next to the
 * files, each export directory holds a ledger `.karapace-exports/` (0700, owned by the user):
 * one record per file karapace wrote there, naming the environment and the blake3 of the
 * content. A file counts as karapace's only when its record is there and its content still
 * matches; only such a file is replaced without --force, and only such a file, recorded for
 * the environment at hand, is ever deleted — whatever the environment's metadata lists.
 *
 * Names are checked before use (no separator, no `..`, no control character), so every path
 * written is `<export dir>/<name>`; writes go through a new temp file renamed over the target
 * (a symlink planted there is replaced, never followed), and reads open with O_NOFOLLOW.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { hashBytes, UsageError, writeFileAtomic } from '@karapace/kernel';

const LEDGER = '.karapace-exports';
/** A file name we generate: starts with a letter or digit, then a plain set; never `.`/`..`, never a separator. */
export const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+@-]{0,200}$/;
const MAX_OWNED_BYTES = 16 * 1024 * 1024;

interface LedgerRecord {
  env_id: string;
  app: string;
  blake3: string;
}

function assertSafeName(name: string): void {
  if (!SAFE_FILE_NAME.test(name)) {
    throw new UsageError('KP_EXPORT_NAME', `refusing to write host file "${name}": not a plain file name`, {
      hint: 'app names use letters, digits, ".", "_", "+" and "-"',
    });
  }
}

export interface HostFileOptions {
  envId: string;
  app: string;
  force?: boolean;
  mode?: number;
}

/**
 * Checks that `<dir>/<name>` may be written for an environment's app and returns its path:
 * a file already there that karapace did not write (or that was changed since) is kept,
 * unless `force`. Callers writing several files check them all first, so a refusal writes nothing.
 */
export async function checkHostFile(dir: string, name: string, options: HostFileOptions): Promise<string> {
  assertSafeName(name);
  const target = join(dir, name);
  await mkdir(dir, { recursive: true });
  await openLedger(dir);
  const existing = await lstatOrUndefined(target);
  if (existing) {
    if (existing.isDirectory()) throw new UsageError('KP_EXPORT_EXISTS', `${target} is a directory`, { hint: 'remove or rename it, then export again' });
    if (!options.force && !(await ownership(dir, name, options.envId))) {
      throw new UsageError('KP_EXPORT_EXISTS', `${target} exists and was not written by karapace`, { hint: 'remove it, or pass --force to replace it' });
    }
  }
  return target;
}

/** Writes `<dir>/<name>` (after checkHostFile's checks) and records it in the directory's ledger. */
export async function writeHostFile(dir: string, name: string, content: string | Uint8Array, options: HostFileOptions): Promise<string> {
  const target = await checkHostFile(dir, name, options);
  // writeFileAtomic: a fresh temp file (O_EXCL) renamed over the target, so a symlink there is replaced, not followed.
  await writeFileAtomic(target, content, options.mode ?? 0o644);
  const record: LedgerRecord = { env_id: options.envId, app: options.app, blake3: hashBytes(content) };
  await writeFileAtomic(join(dir, LEDGER, `${name}.json`), JSON.stringify(record) + '\n', 0o600);
  return target;
}

export type RemoveOutcome = 'removed' | 'absent' | 'kept';

/**
 * Deletes a host file an environment's export record names, only if it lies in an export
 * directory's ledger as written by karapace for `envId` with its content unchanged.
 */
export async function removeHostFile(path: unknown, envId: string): Promise<RemoveOutcome> {
  if (typeof path !== 'string' || !isAbsolute(path) || resolve(path) !== path) return 'kept';
  const dir = dirname(path);
  const name = basename(path);
  if (!SAFE_FILE_NAME.test(name)) return 'kept';
  const existing = await lstatOrUndefined(path);
  if (!existing) return 'absent';
  const owner = await ownership(dir, name, envId);
  if (owner !== envId) return 'kept';
  await unlink(path);
  await unlink(join(dir, LEDGER, `${name}.json`)).catch(() => undefined);
  return 'removed';
}

/**
 * Which environment karapace wrote `<dir>/<name>` for, or undefined when it did not (no
 * record in a private ledger, not a regular file of ours, or content changed since).
 * Files written before the ledger existed carry a marker naming their environment: accepted
 * for `legacyEnvId` only.
 */
async function ownership(dir: string, name: string, legacyEnvId: string): Promise<string | undefined> {
  const file = join(dir, name);
  const st = await lstatOrUndefined(file);
  if (!st?.isFile() || st.uid !== process.geteuid?.() || st.size > MAX_OWNED_BYTES) return undefined;
  const bytes = await readNoFollow(file, MAX_OWNED_BYTES);
  if (!bytes) return undefined;
  const record = await readRecord(dir, name);
  if (record) return record.blake3 === hashBytes(bytes) ? record.env_id : undefined;
  const text = bytes.toString('utf8');
  const legacy = text.includes(`\nX-Karapace-Env=${legacyEnvId}\n`) || (text.startsWith('#!/bin/sh\n# karapace-export: ') && text.includes(`(${legacyEnvId})\n`));
  return legacy ? legacyEnvId : undefined;
}

async function readRecord(dir: string, name: string): Promise<LedgerRecord | undefined> {
  const ledger = join(dir, LEDGER);
  if (!(await isPrivateDir(ledger))) return undefined;
  const bytes = await readNoFollow(join(ledger, `${name}.json`), 4096);
  if (!bytes) return undefined;
  try {
    const r = JSON.parse(bytes.toString('utf8')) as Partial<LedgerRecord>;
    return typeof r.env_id === 'string' && typeof r.blake3 === 'string' && typeof r.app === 'string' ? (r as LedgerRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** The ledger of an export directory, created private; one that is not ours (a symlink, another owner, writable by others) is refused. */
async function openLedger(dir: string): Promise<string> {
  const ledger = join(dir, LEDGER);
  await mkdir(ledger, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  if (!(await isPrivateDir(ledger))) {
    throw new UsageError('KP_EXPORT_LEDGER', `${ledger} is not a private directory of this user, so karapace cannot keep track of what it writes in ${dir}`, {
      hint: `remove ${ledger} (karapace recreates it), or export into another directory`,
    });
  }
  return ledger;
}

async function isPrivateDir(path: string): Promise<boolean> {
  const st = await lstatOrUndefined(path);
  return !!st && st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function readNoFollow(path: string, maxBytes: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
