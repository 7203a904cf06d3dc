/**
 * Reads a path of an environment's merged root (upper dir over the lower dirs, topmost
 * first) without mounting it, with overlayfs' rules: a whiteout (character device 0/0, or
 * an empty file flagged `*.overlay.whiteout`) hides the path in every lower layer, an
 * opaque directory (`*.overlay.opaque=y`) or a non-directory hides the lower layers below
 * it, and symlinks resolve inside the merged root, never on the host.
 */
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { readXattrs } from '../layers/xattrs.js';

function isWhiteout(abs: string, st: Stats): boolean {
  if (st.isCharacterDevice()) return st.rdev === 0;
  return st.isFile() && st.size === 0 && readXattrs(abs).whiteout;
}

/** Called with every path the resolver looked at (what it saw decides the answer). */
export type Visit = (abs: string, st: Stats | undefined) => void;

/** Absolute path, in its layer, of the entry the merged root shows at `rel`; undefined when absent. */
export function resolveMerged(layers: readonly string[], rel: string, followLast = true, visit?: Visit): string | undefined {
  let pending = rel.split('/').filter((c) => c && c !== '.');
  let hops = 0;
  restart: for (;;) {
    // Layers in which the current directory exists as a directory, topmost first.
    let dirs = [...layers];
    const done: string[] = [];
    while (pending.length) {
      const name = pending.shift()!;
      if (name === '..') {
        done.pop();
        pending = [...done, ...pending];
        continue restart;
      }
      const path = [...done, name].join('/');
      let found: { abs: string; st: Stats } | undefined;
      const childDirs: string[] = [];
      for (const layer of dirs) {
        const abs = join(layer, path);
        const st = lstatSync(abs, { throwIfNoEntry: false });
        visit?.(abs, st);
        if (!st) continue;
        if (isWhiteout(abs, st)) break;
        if (!found) found = { abs, st };
        else if (!st.isDirectory()) break; // a lower non-directory under an upper directory is hidden
        if (!found.st.isDirectory()) break;
        childDirs.push(layer);
        if (readXattrs(abs).opaque) break;
      }
      if (!found) return undefined;
      const last = pending.length === 0;
      if (found.st.isSymbolicLink() && (!last || followLast)) {
        if (++hops > 40) return undefined; // ELOOP
        const target = readlinkSync(found.abs);
        const parts = target.split('/').filter((c) => c && c !== '.');
        pending = target.startsWith('/') ? [...parts, ...pending] : [...done, ...parts, ...pending];
        continue restart;
      }
      if (last) return found.abs;
      if (!found.st.isDirectory()) return undefined; // ENOTDIR
      done.push(name);
      dirs = childDirs;
    }
    return layers.length ? join(layers[0]!, '.') : undefined;
  }
}

/** A file's content in the merged root (upper first, then lowers topmost first). */
export function readMergedFile(layers: readonly string[], rel: string, visit?: Visit): string | undefined {
  const abs = resolveMerged(layers, rel, true, visit);
  if (!abs) return undefined;
  try {
    return readFileSync(abs, 'utf8');
  } catch {
    return undefined; // a directory, or unreadable
  }
}

export function existsMerged(layers: readonly string[], rel: string, visit?: Visit): boolean {
  return resolveMerged(layers, rel, true, visit) !== undefined;
}
