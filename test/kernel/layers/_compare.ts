/**
 * Comparing what the unpacker writes with what GNU tar writes from the same bytes: every
 * path (as raw bytes), its type, permission bits, owner, size, content hash,
 * link target, device number, which paths share an inode, and where a file has holes
 * (compared as root: owners and device nodes are made).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface TreeLine {
  path: string;
  line: string;
}

function contentHash(abs: Buffer): string {
  const h = createHash('sha256');
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex').slice(0, 16);
}

/** The tree under `root`, one line per path (raw names shown as escaped bytes), sorted. */
export function describeTree(root: string): string[] {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: Buffer): void => {
    const absDir = rel.length ? Buffer.concat([Buffer.from(`${root}/`), rel]) : Buffer.from(root);
    for (const name of readdirSync(absDir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const childRel = rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const abs = Buffer.concat([Buffer.from(`${root}/`), childRel]);
      const st = lstatSync(abs);
      const shown = JSON.stringify(childRel.toString('latin1'));
      const head = `${shown} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        lines.push(`d ${head}`);
        walk(childRel);
      } else if (st.isSymbolicLink()) {
        lines.push(`l ${head} -> ${JSON.stringify(readlinkSync(abs, { encoding: 'buffer' }).toString('latin1'))}`);
      } else if (st.isFile()) {
        // Hard links: the first path of an inode names the rest.
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1 && !first) inodes.set(st.ino, shown);
        // Holes: a file with fewer blocks than its size needs (both writers on the same file system).
        const holes = st.blocks * 512 < st.size ? ' holes' : '';
        lines.push(`f ${head} ${st.size} ${contentHash(abs)}${holes}${first ? ` = ${first}` : ''}`);
      } else {
        const kind = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
        lines.push(`${kind} ${head} ${st.rdev}`);
      }
    }
  };
  walk(Buffer.alloc(0));
  return lines;
}

/** GNU tar's extraction of `tarFile` into the empty `dir` (numeric owners, as root does by default otherwise). */
export function gnuExtract(tarFile: string, dir: string): { ok: boolean; stderr: string } {
  const r = spawnSync('tar', ['--numeric-owner', '-xf', tarFile, '-C', dir], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr };
}

export { join };
