/**
 * A stored tree restored natively, without making its tar (issue 18: restore):
 * native/untar-tree.c applies the tree's entries as the native unpacker applies a tar's,
 * its writer threads copying each file's content from its object and checking it against
 * the object's blake3, while another thread hashes the tar the tree stands for, which is
 * compared here with the layer's recorded tar hash (what treeTar checks). Nothing is
 * trusted that the tar path would check.
 *
 * The plan is made here, from the same tree and the same header encoding as treeTar, so
 * the C side decides nothing about the format. On anything it does not do exactly as
 * unpacker.ts would (an xattr it cannot set, a whiteout it cannot mknod, a damaged object)
 * it bails: the directory is emptied and the caller restores through the tar, which
 * decides that case and words its errors. TypeScript stays the reference; a test holds
 * the two to the same result.
 */
import { availableParallelism } from 'node:os';
import { encodeEntry } from '../layers/pack.js';
import { END_OF_ARCHIVE, padding } from '../layers/tar-format.js';
import { emptyDir, emptyTarget, nativeUntar, unpackFlags } from '../layers/native-unpack.js';
import { untrustedXattrAllowed, type UnpackOptions, type UnpackStats } from '../layers/unpack.js';
import type { LayerRecord } from '../types.js';
import { relative } from 'node:path';
import { objectPath, type StoreLayout } from './layout.js';
import { locatePacked } from './objects.js';
import type { TreePlan } from './tree-plan.js';
import { tarPartsOf, type TreeEntry, type TreeEntryType } from './tree.js';
import { readTree } from './tree-tar.js';

interface TreeAddon {
  restoreTree(objects: string, target: string, plan: Buffer, skeleton: Buffer, flags: number, umask: number, threads: number, progress: Buffer): Promise<Buffer>;
}

const KIND: Record<TreeEntryType, number> = {
  file: 0, hardlink: 1, symlink: 2, 'character-device': 3, 'block-device': 4, directory: 5, fifo: 6, whiteout: 100, opaque: 101,
};
const Flag = { Overlay: 64 } as const;
const FIXED = 72;
const UNCHANGED_ID = 0xffffffff;
const WRITERS = Math.min(availableParallelism(), 4);
const HEADER = 236;

/** The addon's restoreTree, unless it is missing, older than it, or switched off (KARAPACE_RESTORE_NATIVE=0). */
export function nativeTreeRestorer(): TreeAddon | null {
  if (process.env.KARAPACE_RESTORE_NATIVE === '0') return null;
  const addon = nativeUntar() as (ReturnType<typeof nativeUntar> & Partial<TreeAddon>) | null;
  return typeof addon?.restoreTree === 'function' ? (addon as unknown as TreeAddon) : null;
}

/** Options the native restore does exactly as unpackTarStream: no per-entry callbacks, nothing recorded. */
export function treeRestoreApplies(options: UnpackOptions): boolean {
  return !options.onEntry && !options.recordDisk && !options.treeDigests && !options.onProgress;
}

/** A device untrusted content may not create (unpacker.ts warns instead; it takes that case). */
function refusedDevice(e: TreeEntry, options: UnpackOptions): boolean {
  if (e.type !== 'character-device' && e.type !== 'block-device') return false;
  return !!options.untrusted && !(e.type === 'character-device' && e.device?.[0] === 0 && e.device?.[1] === 0);
}

/** Bytes appended to one buffer that grows (thousands of small Buffers cost more in allocation and GC than the work). */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 20);
  length = 0;
  /** Makes room for n bytes at the end; their offset. `buf` may be a new Buffer afterwards: read it after this. */
  room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  put(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  zeros(n: number): void {
    const at = this.room(n);
    this.buf.fill(0, at, at + n);
  }
  text(s: string): number {
    const n = Buffer.byteLength(s);
    const at = this.room(n);
    this.buf.write(s, at, n, 'utf8');
    return n;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** The xattrs unpacker.ts would set, appended to `out`; their count. */
function putXattrs(out: Bytes, e: TreeEntry, options: UnpackOptions): number {
  // unpacker.ts sets none on symlinks and hard links.
  if (!e.xattrs?.length || e.type === 'symlink' || e.type === 'hardlink') return 0;
  let count = 0;
  for (const [name, base64] of e.xattrs) {
    if (options.untrusted && !untrustedXattrAllowed(name)) continue;
    const v = Buffer.from(base64, 'base64');
    const head = out.room(6);
    const nameLen = out.text(name);
    out.buf.writeUInt16LE(nameLen, head);
    out.buf.writeUInt32LE(v.length, head + 2);
    out.put(v);
    count++;
  }
  return count;
}

/**
 * Where an object's bytes are: a path relative to the store's directory and an offset, with
 * its size when known (a pack's index); undefined size: the whole file (a loose object,
 * whose size the C side checks when it opens it).
 */
export interface ObjectPlace {
  path: string;
  offset: number;
  size: number | undefined;
}

/**
 * The plan of a tree's entries, each content where `locate` puts its object; undefined when
 * one is for the tar path to decide (an object missing or of another size than its entry:
 * the tar path names it).
 */
export function planTreeRestore(entries: TreeEntry[], expect: TreePlan['expect'], options: UnpackOptions, locate: (hash: string) => ObjectPlace | undefined): TreePlan | undefined {
  const plan = new Bytes();
  const skeleton = new Bytes();
  const files = new Map<string, { index: number; uses: number; whole: boolean }>();
  const skipped = { entries: 0, warnings: [] as string[] };
  // chown(2) takes 2^32-1 as "leave it": unpacker.ts makes it root's.
  const id = (v: number) => (v === UNCHANGED_ID ? 0 : v);
  for (const e of entries) {
    if ((e.type === 'whiteout' || e.type === 'opaque') && options.whiteouts !== 'overlay') return undefined;
    for (const part of encodeEntry(tarPartsOf(e))) skeleton.put(part);
    if (refusedDevice(e, options)) {
      // unpacker.ts's words; a hard link to it is not in the tree as made, so the C side hands over.
      skipped.entries++;
      skipped.warnings.push(`${e.path}: ${e.type} ${e.device?.[0] ?? 0}:${e.device?.[1] ?? 0} not created (pulled content never creates device nodes)`);
      continue;
    }
    const size = e.type === 'file' ? e.size ?? 0 : 0;
    const skelAt = skeleton.length;
    if (e.content) skeleton.zeros(padding(size));
    const where = e.content ? locate(e.content) : undefined;
    if (e.content && (!where || (where.size !== undefined && where.size !== size))) return undefined;
    const marker = e.type === 'whiteout' || e.type === 'opaque';
    const at = plan.room(FIXED);
    const b = plan.buf;
    b.fill(0, at, at + 16);
    b[at] = KIND[e.type];
    b[at + 1] = where ? 1 : 0;
    [marker ? 0 : e.mode, id(e.uid), id(e.gid), size, e.device?.[0] ?? 0, e.device?.[1] ?? 0, skelAt].forEach((v, k) => plan.buf.writeDoubleLE(v, at + 16 + 8 * k));
    const pathLen = plan.text(e.path);
    const linkLen = plan.text(e.type === 'symlink' || e.type === 'hardlink' ? e.target ?? '' : '');
    if (pathLen > 0xffff || linkLen > 0xffff) return undefined;
    plan.buf.writeUInt16LE(pathLen, at + 2);
    plan.buf.writeUInt16LE(linkLen, at + 4);
    if (where) {
      const file = files.get(where.path) ?? files.set(where.path, { index: files.size, uses: 0, whole: where.size === undefined }).get(where.path)!;
      file.uses++;
      const o = plan.room(16);
      plan.buf.writeUInt32LE(file.index, o);
      plan.buf.writeUInt32LE(0, o + 4);
      plan.buf.writeDoubleLE(where.offset, o + 8);
    }
    const before = plan.length;
    const xattrs = putXattrs(plan, e, options);
    plan.buf.writeUInt16LE(xattrs, at + 6);
    plan.buf.writeUInt32LE(plan.length - before, at + 8);
  }
  skeleton.put(END_OF_ARCHIVE);
  const head = new Bytes();
  head.buf.writeUInt32LE(files.size, head.room(4));
  for (const [path, { uses, whole }] of files) {
    const at = head.room(3);
    const len = head.text(path);
    head.buf[at] = (uses > 1 ? 1 : 0) | (whole ? 2 : 0);
    head.buf.writeUInt16LE(len, at + 1);
  }
  return { plan: Buffer.concat([head.done(), plan.done()]), skeleton: skeleton.done(), expect, skipped };
}

/**
 * Applies `planned` into the empty `targetDir`, contents from `objects` (the store's
 * directory holding objects/ and packs/, as seen where this runs). Undefined when it handed over or what it wrote does
 * not hash to the layer's tar (the directory is empty again: the tar path then finds and
 * names what is wrong), or when it cannot run here.
 */
export async function restorePlanned(objects: string, targetDir: string, planned: TreePlan, options: UnpackOptions): Promise<UnpackStats | undefined> {
  const addon = nativeTreeRestorer();
  const target = addon ? emptyTarget(targetDir) : undefined;
  if (!addon || !target) return undefined;
  const flags = unpackFlags(options, target.bornRoot, false) | (options.whiteouts === 'overlay' ? Flag.Overlay : 0);
  const b = await addon.restoreTree(objects, targetDir, planned.plan, planned.skeleton, flags, process.umask(), WRITERS, Buffer.alloc(8));
  const tar = { hash: b.toString('latin1', 24, 88), size: b.readDoubleLE(16) };
  const ok = b.readUInt32LE(0) === 0;
  if (!ok || tar.hash !== planned.expect.hash || tar.size !== planned.expect.size) {
    if (process.env.KARAPACE_DEBUG_NATIVE) process.stderr.write(`native restore handed over: ${ok ? 'the tar hash differs' : b.toString('utf8', HEADER, HEADER + b.readUInt32LE(100))}\n`);
    emptyDir(targetDir);
    return undefined;
  }
  const warnings: string[] = [];
  let at = HEADER + b.readUInt32LE(100);
  for (let i = b.readUInt32LE(96); i > 0; i--) {
    const len = b.readUInt16LE(at);
    warnings.push(b.toString('utf8', at + 2, at + 2 + len));
    at += 2 + len;
  }
  return withSkipped(planned, { entries: b.readUInt32LE(4), bytes: b.readDoubleLE(8), warnings });
}

/** The stats of a restore with the plan's left-out entries counted and their warnings first (a mapped restore's plan travels without them). */
export function withSkipped(planned: TreePlan, stats: UnpackStats): UnpackStats {
  if (!planned.skipped) return stats;
  return { ...stats, entries: stats.entries + planned.skipped.entries, warnings: [...planned.skipped.warnings, ...stats.warnings] };
}

/** The plan of a stored layer's tree (read and verified), or undefined when the tar path must do it. */
export async function planLayerRestore(layout: StoreLayout, record: LayerRecord, options: UnpackOptions): Promise<TreePlan | undefined> {
  if (!record.tree || !treeRestoreApplies(options) || !nativeTreeRestorer()) return undefined;
  const entries = await readTree(layout, record.tree);
  const contents = entries.filter((e) => e.content).map((e) => e.content!);
  const packed = locatePacked(layout, contents);
  const places = new Map<string, ObjectPlace>();
  const packNames = new Map<string, string>();
  contents.forEach((hash, i) => {
    const p = packed[i];
    // Not in a pack: its loose file, whose size the C side checks as it opens it.
    const path = p ? packNames.get(p.path) ?? packNames.set(p.path, relative(layout.store, p.path)).get(p.path)! : objectPath(layout, hash).slice(layout.store.length + 1);
    places.set(hash, p ? { path, offset: p.offset, size: p.size } : { path, offset: 0, size: undefined });
  });
  return planTreeRestore(entries, { hash: record.object, size: record.size }, options, (hash) => places.get(hash));
}
