/**
 * Garbage collection (DESIGN §6): removes layers, objects, image-cache entries, leftover
 * environment directories and staging debris that no environment references. Every
 * environment with metadata — running, frozen and archived ones included — is a root,
 * with everything it references; objects are counted per reference from live layers
 * (store/references.ts: trees and their contents, or tar objects); plugins add roots
 * through the `gc` hook and veto single deletions through `keep`. A dry run computes the
 * same report without deleting. SIGINT/SIGTERM stop it between two deletions, each of
 * which is atomic.
 */
import { CLAIMED_STAGING } from '../store/staging-claim.js';
import { lstatSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { randomHex } from '../random.js';
import { StoreError } from '../errors.js';
import { isHash } from '../hash.js';
import { crashPoint, delayPoint } from '../store/crash.js';
import { listMetadata } from '../store/metadata.js';
import { addPackagesLayerReferences, liveLayers, livePackagesLayers, objectReferences } from '../store/references.js';

import { WalTransaction } from '../store/wal.js';
import type { GcCandidate, GcContext } from '../types.js';
import type { Engine } from './engine.js';
import { withLock } from './with-lock.js';
import { removeTree } from '../store/remove-tree.js';
import { listDir } from '../store/list-dir.js';
import { dropStaleContentCaches } from '../store/content-cache.js';
import { dropStalePushCaches } from '../bundle/push-caches.js';
import { listPackagesLayers, packagesDir, packagesLayerDir } from '../store/packages-layer.js';
import { mappedOwner, removeEnvTree } from '../mapped/run.js';
import { dropFromPack, packedObjects, type PackedObject } from '../store/pack-prune.js';
import type { Pack } from '../store/packs.js';

export interface GcReport {
  dry_run: boolean;
  interrupted: boolean;
  /** The signal that stopped it (null: it ran to the end). */
  signal: 'SIGINT' | 'SIGTERM' | null;
  /** Candidates left for the next run (non-zero only when interrupted). */
  remaining: number;
  /** What was removed (or would be, in a dry run). */
  removed: GcCandidate[];
  /** Candidates a plugin's `keep` tap vetoed. */
  kept: GcCandidate[];
  /** Bytes of objects removed (or that would be). */
  freed_bytes: number;
}



/** Staging entries a lock-free reader may be using right now (diff) are left alone for an hour. */
function busyStaging(name: string, path: string): boolean {
  if (!name.startsWith('diff-')) return false;
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st !== undefined && Date.now() - st.mtimeMs < 3_600_000;
}

export async function gcStore(engine: Engine, options: { dryRun?: boolean } = {}): Promise<GcReport> {
  const dryRun = options.dryRun === true;
  return withLock(engine, async () => {
    const layout = engine.layout;
    const { envs, corrupt } = await listMetadata(layout);
    if (corrupt.length) {
      throw new StoreError('KP_GC_CORRUPT_METADATA', `gc refuses to run: ${corrupt.length} environment metadata file(s) are corrupt (${corrupt.map((c) => c.path).join(', ')})`, {
        hint: 'their references are unknown, so gc could delete what they use; run `karapace verify-store` and repair or remove them first',
      });
    }
    // Installed for the whole locked run: a signal is noted and acted on at the next point
    // between two deletions, never in the middle of one (the default would kill us there).
    let stop: 'SIGINT' | 'SIGTERM' | null = null;
    const onInt = () => { stop ??= 'SIGINT'; };
    const onTerm = () => { stop ??= 'SIGTERM'; };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      const ctx: GcContext = { dryRun, roots: new Set(), removed: [], imagesDir: layout.images, interrupted: () => stop !== null };
      await engine.kernel.hooks.gc.promise(ctx);

      const layers = liveLayers(envs, ctx.roots);
      const references = await objectReferences(layout, layers);
      await addPackagesLayerReferences(layout, livePackagesLayers(envs), references);
      const objects = new Set<string>([...ctx.roots].filter(isHash));
      const imageKeys = new Set<string>([...ctx.roots]);
      for (const m of envs) {
        const rel = relative(layout.images, m.base.rootfs);
        if (rel && !rel.startsWith('..')) imageKeys.add(rel.split('/')[0]!);
      }
      const envIds = new Set(envs.map((m) => m.env_id));

      const candidates: GcCandidate[] = [];
      for (const name of await listDir(layout.layers)) {
        const hash = name.replace(/\.json$/, '');
        if (name.endsWith('.json') && !layers.has(hash)) candidates.push({ kind: 'layer', id: hash, path: join(layout.layers, name) });
      }
      // Packages layers before objects: an interrupted run never leaves a layer whose objects are gone.
      const packagesLayers = livePackagesLayers(envs);
      const records = new Map((await listPackagesLayers(layout)).map((r) => [r.name, r]));
      for (const name of await listDir(packagesDir(layout))) {
        if (!packagesLayers.has(name)) candidates.push({ kind: 'packages', id: name, path: packagesLayerDir(layout, name) });
      }
      for (const shard of await listDir(layout.objects)) {
        for (const rest of await listDir(join(layout.objects, shard))) {
          const hash = shard + rest;
          if (!objects.has(hash) && !references.has(hash)) candidates.push({ kind: 'object', id: hash, path: join(layout.objects, shard, rest) });
        }
      }
      // Objects in packs: candidates as loose ones are; a pack is rewritten without them after (store/pack-prune.ts).
      const packed = new Map<GcCandidate, PackedObject>();
      for (const o of packedObjects(layout)) {
        if (objects.has(o.hash) || references.has(o.hash)) continue;
        const c: GcCandidate = { kind: 'object', id: o.hash, path: o.pack.path };
        packed.set(c, o);
        candidates.push(c);
      }
      for (const id of await listDir(layout.envs)) if (!envIds.has(id)) candidates.push({ kind: 'env', id, path: join(layout.envs, id) });
      for (const key of await listDir(layout.images)) if (!imageKeys.has(key)) candidates.push({ kind: 'image', id: key, path: join(layout.images, key) });
      for (const name of await listDir(layout.staging)) {
        const path = join(layout.staging, name);
        // Claimed directories (a pull downloading) are swept by withLock once their owner is gone.
        if (!busyStaging(name, path) && !CLAIMED_STAGING.test(name)) candidates.push({ kind: 'staging', id: name, path });
      }

      const report: GcReport = { dry_run: dryRun, interrupted: false, signal: null, remaining: 0, removed: [], kept: [], freed_bytes: 0 };
      const doomed: GcCandidate[] = [];
      for (const c of candidates) (engine.kernel.hooks.keep.call(c) === true ? report.kept : doomed).push(c);
      // A packages layer a plugin keeps keeps its objects (its files are most of them).
      const keptLayers = report.kept.filter((c) => c.kind === 'packages').map((c) => c.id);
      if (keptLayers.length) {
        const kept = new Map<string, number>();
        await addPackagesLayerReferences(layout, keptLayers, kept);
        for (let i = doomed.length - 1; i >= 0; i--) if (doomed[i]!.kind === 'object' && kept.has(doomed[i]!.id)) report.kept.push(...doomed.splice(i, 1));
      }

      const wal = dryRun ? undefined : await WalTransaction.begin(layout, 'gc');
      const deadInPacks = new Map<Pack, Set<string>>();
      for (const [i, c] of doomed.entries()) {
        if (!dryRun) await delayPoint('gc:removing');
        if (stop) {
          report.interrupted = true;
          report.signal = stop;
          report.remaining = doomed.length - i;
          break;
        }
        const inPack = packed.get(c);
        const size = inPack ? inPack.size : c.kind === 'object' ? (await stat(c.path).catch(() => undefined))?.size ?? 0 : 0;
        if (wal && inPack) {
          const dead = deadInPacks.get(inPack.pack) ?? new Set<string>();
          dead.add(inPack.hash);
          deadInPacks.set(inPack.pack, dead);
        } else if (wal) {
          if (c.kind === 'layer' || c.kind === 'object') {
            await rm(c.path, { force: true });
          } else {
            // Directories go in one rename, so a half-deleted one never looks live.
            const trash = join(layout.staging, `.gc-${Date.now().toString(36)}-${randomHex(4)}`);
            await wal.record({ kind: 'remove', path: wal.rel(trash) });
            await rename(c.path, trash);
            const record = c.kind === 'packages' ? records.get(c.id) : undefined;
            // A packages layer's files belong to the ids its install ran as: removed through that backend's mapping.
            if (record) await removeEnvTree(engine.kernel, mappedOwner(record.backend, trash), trash);
            else await removeTree(trash);
          }
          crashPoint('gc:removed-one');
        }
        report.removed.push(c);
        report.freed_bytes += size;
      }
      // Packs last: a pack holding a dead object is rewritten without it (or deleted when all are).
      for (const [pack, dead] of deadInPacks) {
        await dropFromPack(layout, pack, dead);
        crashPoint('gc:pack-rewritten');
      }
      report.removed.push(...ctx.removed);
      await wal?.finish();
      // Content-hash caches of directories that are gone (destroyed envs) are only caches.
      if (!dryRun && !report.interrupted) await dropStaleContentCaches(layout, false);
      // So are the push caches of environments that are gone.
      if (!dryRun && !report.interrupted) await dropStalePushCaches(layout);
      // A signal during the plugins' part (or after the last deletion) still counts.
      if (stop && !report.interrupted) {
        report.interrupted = true;
        report.signal = stop;
      }
      return report;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  });
}


