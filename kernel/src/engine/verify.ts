/**
 * verify-store: re-hashes every object (loose, and in packs: their index too), checks every layer record — a tree layer by
 * producing its tar from the tree and comparing it with the recorded hash and size — every
 * environment's metadata checksum and references, and every image-cache digest. Reports
 * each bad item by path; never repairs (that is gc's and pull's job).
 */
import { closeSync, existsSync, lstatSync, openSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KarapaceError } from '../errors.js';
import { hashBytes, hashFile, isHash } from '../hash.js';
import { readFully } from '../store/objects.js';
import { openPack, packEntry, packsDir } from '../store/packs.js';
import { hasTree, layerTar, readLayer } from '../layers/layer.js';
import { listMetadata } from '../store/metadata.js';
import { indexRow, metadataStamp, writeIndex } from '../store/env-index.js';
import { envDir, objectPath } from '../store/layout.js';
import { digestTree } from '../tree-digest.js';
import type { Engine } from './engine.js';
import { withLock } from './with-lock.js';
import { listDir } from '../store/list-dir.js';
import { listPackagesLayers, packagesLayerDir, readPackagesLayer } from '../store/packages-layer.js';
import { treeTar } from '../store/tree-tar.js';

export interface VerifyProblem {
  kind: 'object' | 'layer' | 'metadata' | 'env' | 'image' | 'wal' | 'permissions';
  id: string;
  path: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: { objects: number; layers: number; trees: number; metadata: number; images: number };
  problems: VerifyProblem[];
}


export async function verifyStore(engine: Engine): Promise<VerifyReport> {
  // Seen before the lock is taken: taking it narrows a store root other users can reach.
  const rootMode = lstatSync(engine.layout.root, { throwIfNoEntry: false })?.mode;
  // Under the lock: a consistent view, and interrupted operations are recovered first.
  return withLock(engine, async () => {
    const layout = engine.layout;
    const problems: VerifyProblem[] = [];
    if (rootMode !== undefined && (rootMode & 0o077) !== 0) {
      problems.push({
        kind: 'permissions', id: 'store-root', path: layout.root,
        message: `the store root was mode ${(rootMode & 0o777).toString(8)}: other users could reach its setuid binaries, file capabilities and device nodes (now 700)`,
      });
    }
    const checked = { objects: 0, layers: 0, trees: 0, metadata: 0, images: 0 };

    for (const shard of await listDir(layout.objects)) {
      for (const rest of await listDir(join(layout.objects, shard))) {
        const path = join(layout.objects, shard, rest);
        const id = shard + rest;
        checked.objects++;
        if (!isHash(id)) {
          problems.push({ kind: 'object', id, path, message: 'not named by a blake3 hash' });
          continue;
        }
        const { hash } = await hashFile(path);
        if (hash !== id) problems.push({ kind: 'object', id, path, message: `content hashes to ${hash}` });
      }
    }

    // Packs: the frame and index (named by its hash), then every object against its hash.
    for (const name of await listDir(packsDir(layout))) {
      const path = join(packsDir(layout), name);
      const id = name.replace(/\.pack$/, '');
      if (!name.endsWith('.pack') || !isHash(id)) {
        problems.push({ kind: 'object', id: name, path, message: 'not a pack named by the blake3 of its index' });
        continue;
      }
      let pack;
      try {
        pack = openPack(path, id);
      } catch (err) {
        problems.push({ kind: 'object', id, path, message: err instanceof KarapaceError ? err.message : String(err) });
        continue;
      }
      const fd = openSync(path, 'r');
      try {
        for (let i = 0; i < pack.count; i++) {
          const e = packEntry(pack, i);
          checked.objects++;
          const bytes = Buffer.allocUnsafe(e.size);
          const n = readFully(fd, bytes, 0, e.size, e.offset);
          const hash = hashBytes(bytes.subarray(0, n));
          if (hash !== e.hash) problems.push({ kind: 'object', id: e.hash, path, message: `packed object (at ${e.offset}, ${e.size} bytes) hashes to ${hash}` });
        }
      } finally {
        closeSync(fd);
      }
    }

    for (const name of await listDir(layout.layers)) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const hash = name.slice(0, -5);
      const path = join(layout.layers, name);
      checked.layers++;
      try {
        const record = await readLayer(layout, hash);
        if (await hasTree(layout, record)) {
          checked.trees++;
          // Every content object, and the whole tar against the record (treeTar checks both).
          for await (const _ of await layerTar(layout, record));
          continue;
        }
        const obj = objectPath(layout, record.object);
        const st = await stat(obj).catch(() => undefined);
        if (!st) problems.push({ kind: 'layer', id: hash, path, message: record.tree ? `its tree ${record.tree} and its tar object ${record.object} are missing` : `its tar object ${record.object} is missing` });
        else if (st.size !== record.size) problems.push({ kind: 'layer', id: hash, path, message: `its tar object has ${st.size} bytes, the record says ${record.size}` });
      } catch (err) {
        problems.push({ kind: 'layer', id: hash, path, message: err instanceof KarapaceError ? err.message : String(err) });
      }
    }

    // A packages layer with a tree: its content objects (its files, mostly) give back its tar.
    for (const record of await listPackagesLayers(layout)) {
      if (!record.tree || !record.tar) continue;
      checked.trees++;
      try {
        for await (const _ of treeTar(layout, record.tree, record.tar));
      } catch (err) {
        problems.push({ kind: 'layer', id: record.name, path: packagesLayerDir(layout, record.name), message: `packages layer: ${err instanceof KarapaceError ? err.message : String(err)}` });
      }
    }

    const stamp = metadataStamp(layout);
    const { envs, corrupt } = await listMetadata(layout);
    // The name/id index is rebuilt from what was read (verify-store is the repair tool).
    if (stamp) writeIndex(layout, envs.map(indexRow), stamp);
    checked.metadata = envs.length + corrupt.length;
    for (const c of corrupt) problems.push({ kind: 'metadata', id: c.path.split('/').pop()!.replace(/\.json$/, ''), path: c.path, message: c.error.message });
    for (const m of envs) {
      const path = join(layout.metadata, `${m.env_id}.json`);
      if (!existsSync(envDir(layout, m.env_id))) problems.push({ kind: 'env', id: m.env_id, path: envDir(layout, m.env_id), message: 'environment directory is missing' });
      for (const layer of [...m.layers, ...m.snapshots.map((s) => s.layer)]) {
        if (!existsSync(join(layout.layers, `${layer}.json`))) problems.push({ kind: 'metadata', id: m.env_id, path, message: `references missing layer ${layer}` });
      }
      if (!existsSync(m.base.rootfs)) problems.push({ kind: 'metadata', id: m.env_id, path, message: `its base rootfs ${m.base.rootfs} is missing` });
      if (m.packages_layer !== undefined && !(await readPackagesLayer(layout, m.packages_layer))) {
        problems.push({ kind: 'metadata', id: m.env_id, path, message: `its packages layer ${m.packages_layer} is missing or has no readable record` });
      }
    }

    for (const key of await listDir(layout.images)) {
      const digestFile = join(layout.images, key, 'digest');
      if (!existsSync(digestFile)) continue;
      checked.images++;
      // An image's identity (`digest`) comes from its source; what lies on this disk is
      // recorded separately (`disk-digest`, image-sources) — compare with that when present.
      const diskFile = join(layout.images, key, 'disk-digest');
      const recorded = (await readFile(existsSync(diskFile) ? diskFile : digestFile, 'utf8')).trim();
      const rootfs = join(layout.images, key, 'rootfs');
      if (!existsSync(rootfs)) {
        problems.push({ kind: 'image', id: key, path: rootfs, message: 'rootfs is missing' });
        continue;
      }
      const { digest } = await digestTree(rootfs);
      if (digest !== recorded) problems.push({ kind: 'image', id: key, path: join(layout.images, key), message: `rootfs digest is ${digest}, recorded ${recorded}` });
    }

    for (const name of await listDir(layout.wal)) {
      if (name.endsWith('.json')) problems.push({ kind: 'wal', id: name, path: join(layout.wal, name), message: 'unrecovered write-ahead log entry' });
    }
    return { ok: problems.length === 0, checked, problems };
  });
}
