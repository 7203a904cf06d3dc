/**
 * The invoking user must exist inside (so `whoami`, `id`, `ls -l` and shells work, like
 * Toolbx): /etc/passwd and /etc/group are generated from the environment's own files (read
 * from its merged root, whiteouts honoured) plus an entry for the user, written to the env's
 * runtime dir; backends bind them read-only over the image's files for exec/enter (never
 * for installs, which may add system users). Shared by the namespace and oci backends.
 */
import { existsSync, lstatSync, readFileSync, renameSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { EnvHandle } from '../types.js';
import type { InvokingUser } from './environment.js';
import { existsMerged, readMergedFile, type Visit } from './merged-root.js';

export interface PasswdOptions {
  /**
   * Put the user's entry first and keep other entries with the same uid: for a single-id
   * user namespace where the user is uid 0 inside (rootless OCI), `whoami` names the user
   * while `root` still resolves by name.
   */
  first?: boolean;
}

/** passwd content with exactly one entry for the user (same uid, gid, name and home). */
export function passwdWithUser(content: string, user: InvokingUser, shell: string, options: PasswdOptions = {}): string {
  const lines = content.split('\n').filter((l) => l.trim() !== '');
  const keep = lines.filter((l) => {
    const [name, , uid] = l.split(':');
    return name !== user.name && (options.first || uid !== String(user.uid));
  });
  const gecos = user.uid === 0 && !options.first ? 'root' : user.name;
  const entry = `${user.name}:x:${user.uid}:${user.gid}:${gecos}:${user.home}:${shell}`;
  return (options.first ? [entry, ...keep] : [...keep, entry]).join('\n') + '\n';
}

/** group content with the user's primary group present (an image's own group of that gid is kept). */
export function groupWithUser(content: string, user: InvokingUser): string {
  const lines = content.split('\n').filter((l) => l.trim() !== '');
  if (lines.some((l) => l.split(':')[2] === String(user.gid))) return lines.join('\n') + '\n';
  const keep = lines.filter((l) => l.split(':')[0] !== user.name);
  keep.push(`${user.name}:x:${user.gid}:`);
  return keep.join('\n') + '\n';
}

/** Writes `content` unless the file already holds it (generated /etc files, shared by every exec). */
export function writeIfChanged(file: string, content: string): void {
  try {
    if (readFileSync(file, 'utf8') === content) return;
  } catch {
    // not written yet
  }
  // Concurrent execs write the same bytes; rename keeps readers from seeing half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o644 });
  renameSync(tmp, file);
}

export interface IdentityFiles {
  passwd: string;
  group: string;
}

/**
 * Identity of a path's state: a changed file, symlink or xattr changes its ctime. A
 * directory counts by inode and birth time only: its ctime moves whenever any entry in it
 * changes (every sandbox creates and removes mount points in the upper dir), which would
 * defeat the cache, and overlayfs makes a directory opaque only when it creates it anew
 * (`rm -r dir; mkdir dir` inside: a new directory, even if the inode number is reused).
 */
function fingerprint(st: Stats | undefined): string | null {
  if (!st) return null;
  return st.isDirectory() ? `${st.dev}:${st.ino}:${st.birthtimeMs}:dir` : `${st.dev}:${st.ino}:${st.ctimeMs}:${st.size}`;
}

interface Cache {
  key: string;
  /** Every layer path the generation looked at, with what it saw. */
  seen: Record<string, string | null>;
}

function cacheValid(file: string, key: string, outputs: string[]): boolean {
  let cache: Cache;
  try {
    cache = JSON.parse(readFileSync(file, 'utf8')) as Cache;
  } catch {
    return false;
  }
  if (cache.key !== key || !outputs.every((f) => existsSync(f))) return false;
  return Object.entries(cache.seen).every(([abs, fp]) => fingerprint(lstatSync(abs, { throwIfNoEntry: false })) === fp);
}

/**
 * Writes runtime/passwd and runtime/group for the user (the runtime dir must exist); returns
 * their paths. Skipped when nothing it read has changed since the last run (a few lstat
 * calls instead of reading xattrs on every exec: start-up matters).
 */
export function writeIdentityFiles(env: Pick<EnvHandle, 'paths' | 'lowerDirs'>, user: InvokingUser, options: PasswdOptions = {}): IdentityFiles {
  const layers = [env.paths.upper, ...env.lowerDirs];
  const files = { passwd: join(env.paths.runtime, 'passwd'), group: join(env.paths.runtime, 'group') };
  const cacheFile = join(env.paths.runtime, 'identity.json');
  const key = JSON.stringify({ v: 1, layers, user, options });
  if (cacheValid(cacheFile, key, [files.passwd, files.group])) return files;
  const seen: Record<string, string | null> = {};
  const visit: Visit = (abs, st) => {
    seen[abs] = fingerprint(st);
  };
  const shell = existsMerged(layers, 'bin/bash', visit) ? '/bin/bash' : '/bin/sh';
  writeIfChanged(files.passwd, passwdWithUser(readMergedFile(layers, 'etc/passwd', visit) ?? 'root:x:0:0:root:/root:/bin/sh\n', user, shell, options));
  writeIfChanged(files.group, groupWithUser(readMergedFile(layers, 'etc/group', visit) ?? 'root:x:0:\n', user));
  writeIfChanged(cacheFile, JSON.stringify({ key, seen } satisfies Cache) + '\n');
  return files;
}
