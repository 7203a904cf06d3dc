/**
 * Reading files out of an environment for export (desktop entries, icons). The environment
 * is untrusted: its paths are resolved inside its own root (a symlink to `/etc/passwd` means
 * the environment's `/etc/passwd`, as it would inside it), across its layers as overlayfs
 * merges them (a whiteout hides what is below), and only a regular file of bounded size is
 * read — never a device, a FIFO, or a file outside the environment's directories.
 */
import { constants } from 'node:fs';
import { lstat, open, readlink, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';

const MAX_LINKS = 40;

export interface EnvFile {
  /** The path inside the environment, after symlinks. */
  path: string;
  bytes: Buffer;
}

/**
 * Resolves `path` (absolute inside the environment) over `roots` (the upper dir first) and
 * reads it; undefined when it does not exist, is not a regular file, or is larger than `maxBytes`.
 */
export async function readEnvFile(roots: string[], path: string, maxBytes: number): Promise<EnvFile | undefined> {
  const found = await resolveInEnv(roots, path);
  if (!found) return undefined;
  let handle;
  try {
    // O_NOFOLLOW: the last component is not a symlink (resolveInEnv saw a file); O_NONBLOCK: a FIFO swapped in cannot hang us.
    handle = await open(found.host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > maxBytes) return undefined;
    // Whatever changed since the walk, the file we hold lies inside the root we looked in.
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    const root = await realpath(found.root);
    if (!real.startsWith(`${root}/`)) return undefined;
    const bytes = Buffer.alloc(st.size);
    const { bytesRead } = await handle.read(bytes, 0, st.size, 0);
    return { path: found.path, bytes: bytes.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}

interface Found {
  root: string;
  host: string;
  path: string;
}

/** The overlay lookup, one component at a time, with the environment's `/` as the root for symlinks. */
async function resolveInEnv(roots: string[], path: string): Promise<Found | undefined> {
  let pending = posix.normalize(path).split('/').filter((c) => c && c !== '.');
  let done: string[] = [];
  let links = 0;
  while (pending.length) {
    const name = pending.shift()!;
    if (name === '..') {
      done.pop(); // `/..` is `/`, as in the environment
      continue;
    }
    const rel = [...done, name].join('/');
    const hit = await lookup(roots, rel);
    if (!hit) return undefined;
    if (hit.kind === 'link') {
      if (++links > MAX_LINKS) return undefined;
      const target = await readlink(join(hit.root, rel));
      pending = [...target.split('/').filter((c) => c && c !== '.'), ...pending];
      if (target.startsWith('/')) done = [];
      continue;
    }
    if (pending.length === 0) return hit.kind === 'file' ? { root: hit.root, host: join(hit.root, rel), path: `/${rel}` } : undefined;
    if (hit.kind !== 'dir') return undefined;
    done.push(name);
  }
  return undefined;
}

/** The first layer that has the entry; a whiteout (a 0:0 character device) or anything odd hides it. */
async function lookup(roots: string[], rel: string): Promise<{ root: string; kind: 'file' | 'dir' | 'link' | 'other' } | undefined> {
  for (const root of roots) {
    let st;
    try {
      st = await lstat(join(root, rel));
    } catch {
      continue;
    }
    const kind = st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
    if (kind === 'other') return undefined;
    return { root, kind };
  }
  return undefined;
}

/** The path inside the environment when `path` resolves to a regular file there. */
export async function envFileExists(roots: string[], path: string): Promise<boolean> {
  return (await resolveInEnv(roots, path)) !== undefined;
}
