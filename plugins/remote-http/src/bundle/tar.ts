/**
 * Directory ⇄ tar for transfers. Deterministic (sorted entries, mtime 0, numeric owners),
 * hardlinks as tar hardlinks, overlay whiteouts (0/0 character devices) as OCI `.wh.`
 * entries. Unpacking never writes outside the target: no absolute paths, no `..`, nothing
 * through a symlink an earlier entry planted, hardlinks only to files already unpacked.
 *
 * Written with tar-stream inside this plugin because kernel/src/layers does not export a
 * pack/unpack API yet; when it does, this module is the one place to switch.
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { chmod, lchown, link, mkdir, open, symlink, utimes } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { RuntimeFailure } from '@karapace/kernel';

const WHITEOUT = '.wh.';

function rejected(why: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_BAD_ARCHIVE', `archive rejected: ${why}`, {
    hint: 'the remote sent a malformed or hostile archive; nothing was added to your store',
  });
}

/** Packs `dir` into a tar stream. */
export function packDir(dir: string): Readable {
  const pack = tar.pack();
  const links = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? join(dir, rel) : dir;
    for (const name of readdirSync(abs).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const childAbs = join(abs, name);
      const st = lstatSync(childAbs);
      const common = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(0) };
      if (st.isDirectory()) {
        await entry(pack, { ...common, name: childRel, type: 'directory' });
        await walk(childRel);
      } else if (st.isSymbolicLink()) {
        await entry(pack, { ...common, name: childRel, type: 'symlink', linkname: readlinkSync(childAbs) });
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        await entry(pack, { ...common, mode: 0, name: rel ? `${rel}/${WHITEOUT}${name}` : `${WHITEOUT}${name}`, type: 'file', size: 0 });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await entry(pack, { ...common, name: childRel, type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) links.set(key, childRel);
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...common, name: childRel, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
          const src = createReadStream(childAbs, { highWaterMark: 1 << 20 });
          src.on('error', reject);
          src.pipe(sink);
        });
      } else if (st.isFIFO()) {
        await entry(pack, { ...common, name: childRel, type: 'fifo' });
      }
      // Sockets and real device nodes are not environment content.
    }
  };
  walk('').then(() => pack.finalize(), (err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}

function entry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

function safeRel(raw: string): string {
  if (raw.includes('\0')) throw rejected('an entry name contains a NUL byte');
  if (raw.startsWith('/')) throw rejected(`absolute path "${raw}"`);
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw rejected(`path "${raw}" contains ".."`);
    parts.push(p);
  }
  if (!parts.length) throw rejected('an entry has an empty name');
  return parts.join('/');
}

export interface UnpackOptions {
  /** Turn `.wh.` entries back into overlay whiteouts (an upper dir) — needs mknod. */
  whiteouts: 'overlay' | 'keep';
}

/** Unpacks a tar stream into `target` (which must be empty or absent). */
export async function unpackTar(source: Readable, target: string, options: UnpackOptions): Promise<void> {
  const extract = tar.extract();
  // Its errors reach us through the iterator or sourceFailed; never as an unhandled event.
  extract.on('error', () => undefined);
  const symlinks = new Set<string>();
  const files = new Set<string>();
  const dirs: { path: string; mode: number }[] = [];
  const asRoot = process.getuid?.() === 0;
  const underSymlink = (rel: string) => {
    let i = rel.indexOf('/');
    while (i >= 0) {
      if (symlinks.has(rel.slice(0, i))) return true;
      i = rel.indexOf('/', i + 1);
    }
    return false;
  };
  // A source error (e.g. a failed hash check upstream) must end the unpack even when the
  // extractor has already seen the end of the archive and would wait forever.
  let onSourceError: (err: Error) => void = () => {};
  const sourceFailed = new Promise<never>((_, reject) => (onSourceError = reject));
  sourceFailed.catch(() => undefined);
  // Listen before the first await: a small source can fail while we wait on the disk.
  source.on('error', (err) => {
    onSourceError(err);
    extract.destroy(err);
  });
  if (source.errored) onSourceError(source.errored);
  await mkdir(target, { recursive: true });
  source.pipe(extract);
  await Promise.race([sourceFailed, (async () => {
  for await (const e of extract) {
    const h = e.header;
    const rel = safeRel(h.name);
    if (underSymlink(rel)) throw rejected(`"${rel}" would be written through a symlink`);
    const abs = join(target, rel);
    const parent = rel.includes('/') ? join(target, rel.slice(0, rel.lastIndexOf('/'))) : target;
    await mkdir(parent, { recursive: true });
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const owner = async () => { if (asRoot) await lchown(abs, h.uid ?? 0, h.gid ?? 0); };
    if (h.type === 'directory') {
      await mkdir(abs, { recursive: true });
      await owner();
      dirs.push({ path: abs, mode: (h.mode ?? 0o755) & 0o7777 });
      e.resume();
    } else if (h.type === 'file' && base.startsWith(WHITEOUT) && options.whiteouts === 'overlay') {
      const real = join(parent, base.slice(WHITEOUT.length));
      const made = spawnSync('mknod', [real, 'c', '0', '0']);
      if (made.status !== 0) throw new RuntimeFailure('KP_REMOTE_WHITEOUT', `cannot recreate the overlay whiteout ${rel}: ${made.stderr?.toString().trim()}`, { hint: 'pull as a user allowed to create whiteout devices (root, or in a user namespace)' });
      e.resume();
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      const handle = await open(abs, 'wx', 0o600);
      try {
        for await (const chunk of e) await handle.write(chunk as Buffer);
      } finally {
        await handle.close();
      }
      await owner();
      await chmod(abs, (h.mode ?? 0o644) & 0o7777);
      files.add(rel);
    } else if (h.type === 'symlink') {
      await symlink(h.linkname ?? '', abs);
      await owner();
      symlinks.add(rel);
      e.resume();
    } else if (h.type === 'link') {
      const to = safeRel(h.linkname ?? '');
      if (!files.has(to)) throw rejected(`hardlink "${rel}" points at "${to}", which is not a file unpacked before it`);
      await link(join(target, to), abs);
      e.resume();
    } else if (h.type === 'fifo') {
      spawnSync('mkfifo', ['-m', ((h.mode ?? 0o644) & 0o777).toString(8), abs]);
      e.resume();
    } else {
      throw rejected(`entry "${rel}" has unsupported type ${h.type}`);
    }
  }
  })()]);
  // Directory modes last (deepest first): a read-only directory must not block its children.
  for (const d of dirs.reverse()) {
    await chmod(d.path, d.mode);
    await utimes(d.path, 0, 0).catch(() => undefined);
  }
}
