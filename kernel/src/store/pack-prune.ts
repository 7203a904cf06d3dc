/**
 * Dead objects in packs (issue 18). A pack is never changed in place, so the rule for gc
 * and `snapshots rm` is: a pack none of whose objects is live is deleted; a pack with any
 * dead object is rewritten with only its live ones (a new pack, durable and named before the
 * old one goes), so what is freed is exactly the dead objects — a removed snapshot frees its
 * unique objects wherever they lie, at the cost of copying the live rest of their packs.
 * A crash leaves both packs (the same objects twice, harmless) or a temp file in staging.
 */
import { closeSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hashBytes } from '../hash.js';
import { fsyncDir } from './atomic.js';
import { crashPoint } from './crash.js';
import type { StoreLayout } from './layout.js';
import { forgetPacks, readFully, storePacks } from './objects.js';
import { PackWriter } from './pack-writer.js';
import { corruptPack, packEntry, packsDir, type Pack } from './packs.js';

export interface PackedObject {
  hash: string;
  size: number;
  pack: Pack;
}

/** Every object in the store's readable packs (an object in two packs is listed twice). */
export function packedObjects(layout: StoreLayout): PackedObject[] {
  const out: PackedObject[] = [];
  for (const pack of storePacks(layout)) {
    for (let i = 0; i < pack.count; i++) {
      const e = packEntry(pack, i);
      out.push({ hash: e.hash, size: e.size, pack });
    }
  }
  return out;
}

/**
 * Drops `dead` objects from `pack`: deletes it when nothing else is in it, else rewrites it
 * with the rest (each verified as it is copied: a damaged live object stops the rewrite, and
 * the old pack stays for verify-store to report). Returns the bytes of the objects dropped.
 */
export async function dropFromPack(layout: StoreLayout, pack: Pack, dead: ReadonlySet<string>): Promise<number> {
  const entries = Array.from({ length: pack.count }, (_, i) => packEntry(pack, i));
  const live = entries.filter((e) => !dead.has(e.hash)).sort((a, b) => a.offset - b.offset);
  const freed = entries.filter((e) => dead.has(e.hash)).reduce((n, e) => n + e.size, 0);
  if (live.length === entries.length) return 0;
  if (live.length > 0) {
    const writer = new PackWriter(layout);
    const fd = openSync(pack.path, 'r');
    try {
      for (const e of live) {
        const bytes = Buffer.allocUnsafe(e.size);
        if (readFully(fd, bytes, 0, e.size, e.offset) !== e.size || hashBytes(bytes) !== e.hash) throw corruptPack(pack.path, `object ${e.hash} does not match its hash`);
        await writer.add(e.hash, bytes);
      }
      await writer.finish();
    } catch (err) {
      await writer.abandon();
      throw err;
    } finally {
      closeSync(fd);
    }
  }
  crashPoint('pack-rewrite:written');
  await rm(pack.path, { force: true });
  await fsyncDir(packsDir(layout));
  forgetPacks(layout);
  return freed;
}
