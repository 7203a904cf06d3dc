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
import type { StoreLayout } from './layout.js';
import { locateObject } from './objects.js';
import { tarPartsOf, type TreeEntry, type TreeEntryType } from './tree.js';
import { readTree } from './tree-tar.js';

/** What restoreTree needs besides where: the entries in tar order and the tar's bytes other than contents. */
export interface TreePlan {
  plan: Buffer;
  skeleton: Buffer;
  /** The layer's recorded tar (blake3, size): what the restored bytes must hash to. */
  expect: { hash: string; size: number };
  /** Entries left out of the plan as unpacker.ts leaves them out (device nodes of untrusted content), and what it says of them. */
  skipped?: { entries: number; warnings: string[] };
}

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

function encodeXattrs(e: TreeEntry, options: UnpackOptions): { count: number; bytes: Buffer } {
  // unpacker.ts sets none on symlinks and hard links.
  if (!e.xattrs?.length || e.type === 'symlink' || e.type === 'hardlink') return { count: 0, bytes: Buffer.alloc(0) };
  const parts: Buffer[] = [];
  let count = 0;
  for (const [name, base64] of e.xattrs) {
    if (options.untrusted && !untrustedXattrAllowed(name)) continue;
    const n = Buffer.from(name);
    const v = Buffer.from(base64, 'base64');
    const head = Buffer.alloc(6);
    head.writeUInt16LE(n.length, 0);
    head.writeUInt32LE(v.length, 2);
    parts.push(head, n, v);
    count++;
  }
  return { count, bytes: Buffer.concat(parts) };
}

/**
 * The plan of a tree's entries, each content where `locate` finds its object (a path
 * relative to the store's directory, an offset); undefined when one is for the tar path to
 * decide (an object missing or of another size than its entry: the tar path names it).
 */
export function planTreeRestore(
  entries: TreeEntry[], expect: TreePlan['expect'], options: UnpackOptions, locate: (hash: string) => { path: string; offset: number; size: number } | undefined,
): TreePlan | undefined {
  const plan: Buffer[] = [];
  const files = new Map<string, { index: number; uses: number }>();
  const skeleton: Buffer[] = [];
  let skelLength = 0;
  const put = (b: Buffer) => {
    skeleton.push(b);
    skelLength += b.length;
  };
  const skipped = { entries: 0, warnings: [] as string[] };
  for (const e of entries) {
    if ((e.type === 'whiteout' || e.type === 'opaque') && options.whiteouts !== 'overlay') return undefined;
    for (const part of encodeEntry(tarPartsOf(e))) put(part);
    if (refusedDevice(e, options)) {
      // unpacker.ts's words; a hard link to it is not in the tree as made, so the C side hands over.
      skipped.entries++;
      skipped.warnings.push(`${e.path}: ${e.type} ${e.device?.[0] ?? 0}:${e.device?.[1] ?? 0} not created (pulled content never creates device nodes)`);
      continue;
    }
    const size = e.type === 'file' ? e.size ?? 0 : 0;
    const skelAt = skelLength;
    if (e.content) put(Buffer.alloc(padding(size)));
    const path = Buffer.from(e.path);
    const link = Buffer.from(e.type === 'symlink' || e.type === 'hardlink' ? e.target ?? '' : '');
    const where = e.content ? locate(e.content) : undefined;
    if (path.length > 0xffff || link.length > 0xffff || (e.content && where?.size !== size)) return undefined;
    let object: Buffer | undefined;
    if (where) {
      const file = files.get(where.path) ?? files.set(where.path, { index: files.size, uses: 0 }).get(where.path)!;
      file.uses++;
      object = Buffer.alloc(16);
      object.writeUInt32LE(file.index, 0);
      object.writeDoubleLE(where.offset, 8);
    }
    const xattrs = encodeXattrs(e, options);
    const fixed = Buffer.alloc(FIXED);
    fixed[0] = KIND[e.type];
    fixed[1] = object ? 1 : 0;
    fixed.writeUInt16LE(path.length, 2);
    fixed.writeUInt16LE(link.length, 4);
    fixed.writeUInt16LE(xattrs.count, 6);
    fixed.writeUInt32LE(xattrs.bytes.length, 8);
    const marker = e.type === 'whiteout' || e.type === 'opaque';
    // chown(2) takes 2^32-1 as "leave it": unpacker.ts makes it root's.
    const id = (v: number) => (v === UNCHANGED_ID ? 0 : v);
    [marker ? 0 : e.mode, id(e.uid), id(e.gid), size, e.device?.[0] ?? 0, e.device?.[1] ?? 0, skelAt].forEach((v, i) => fixed.writeDoubleLE(v, 16 + 8 * i));
    plan.push(fixed, path, link, ...(object ? [object] : []), xattrs.bytes);
  }
  put(END_OF_ARCHIVE);
  const head = [Buffer.alloc(4)];
  head[0]!.writeUInt32LE(files.size, 0);
  for (const [path, { uses }] of files) {
    const name = Buffer.from(path);
    const fixed = Buffer.alloc(3);
    fixed[0] = uses > 1 ? 1 : 0;
    fixed.writeUInt16LE(name.length, 1);
    head.push(fixed, name);
  }
  return { plan: Buffer.concat([...head, ...plan]), skeleton: Buffer.concat(skeleton, skelLength), expect, skipped };
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
  const locate = (hash: string) => {
    const where = locateObject(layout, hash, true);
    return where && { ...where, path: relative(layout.store, where.path) };
  };
  return planTreeRestore(entries, { hash: record.object, size: record.size }, options, locate);
}

/** A plan as the mapped worker sends it (stdin): its length (u32 LE), the plan, the skeleton. */
export function planBytes(planned: TreePlan): Buffer[] {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(planned.plan.length, 0);
  return [head, planned.plan, planned.skeleton];
}

/** The plan planBytes wrote, read whole from `source`. */
export async function readPlanned(source: AsyncIterable<Uint8Array>, expect: TreePlan['expect']): Promise<TreePlan> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  const all = Buffer.concat(parts);
  const n = all.length >= 4 ? all.readUInt32LE(0) : -1;
  if (n < 0 || 4 + n > all.length) throw new Error('a truncated restore plan');
  return { plan: all.subarray(4, 4 + n), skeleton: all.subarray(4 + n), expect };
}
