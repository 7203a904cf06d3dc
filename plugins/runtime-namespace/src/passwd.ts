/**
 * The invoking user must exist inside (so `whoami`, `id`, `ls -l` and shells work, like
 * Toolbx): /etc/passwd and /etc/group are generated from the environment's own files plus
 * an entry for the user, written to the env's runtime dir and bound read-only over the
 * image's files for exec/enter (never for installs, which may add system users).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvHandle, InvokingUser } from '@karapace/kernel';

/** A file of the merged root: the upper dir wins over the lowers (topmost first). */
export function readMergedFile(env: EnvHandle, rel: string): string | undefined {
  for (const dir of [env.paths.upper, ...env.lowerDirs]) {
    const file = join(dir, rel);
    try {
      return readFileSync(file, 'utf8');
    } catch {
      // an overlay whiteout or a missing file: look further down
    }
  }
  return undefined;
}

function existsMerged(env: EnvHandle, rel: string): boolean {
  return [env.paths.upper, ...env.lowerDirs].some((d) => existsSync(join(d, rel)));
}

/** passwd content with exactly one entry for the user (same uid, gid, name and home). */
export function passwdWithUser(content: string, user: InvokingUser, shell: string): string {
  const lines = content.split('\n').filter((l) => l.trim() !== '');
  const keep = lines.filter((l) => {
    const [name, , uid] = l.split(':');
    return name !== user.name && uid !== String(user.uid);
  });
  const gecos = user.uid === 0 ? 'root' : user.name;
  keep.push(`${user.name}:x:${user.uid}:${user.gid}:${gecos}:${user.home}:${shell}`);
  return keep.join('\n') + '\n';
}

/** group content with the user's primary group present (an image's own group of that gid is kept). */
export function groupWithUser(content: string, user: InvokingUser): string {
  const lines = content.split('\n').filter((l) => l.trim() !== '');
  if (lines.some((l) => l.split(':')[2] === String(user.gid))) return lines.join('\n') + '\n';
  const keep = lines.filter((l) => l.split(':')[0] !== user.name);
  keep.push(`${user.name}:x:${user.gid}:`);
  return keep.join('\n') + '\n';
}

function writeIfChanged(file: string, content: string): void {
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

/** Writes runtime/passwd and runtime/group for the user; returns their paths. */
export function writeIdentityFiles(env: EnvHandle, user: InvokingUser): IdentityFiles {
  const shell = existsMerged(env, 'bin/bash') ? '/bin/bash' : '/bin/sh';
  const files = { passwd: join(env.paths.runtime, 'passwd'), group: join(env.paths.runtime, 'group') };
  writeIfChanged(files.passwd, passwdWithUser(readMergedFile(env, 'etc/passwd') ?? 'root:x:0:0:root:/root:/bin/sh\n', user, shell));
  writeIfChanged(files.group, groupWithUser(readMergedFile(env, 'etc/group') ?? 'root:x:0:\n', user));
  return files;
}
