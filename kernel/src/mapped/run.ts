/**
 * Store work on an environment's files, done by its backend inside the env's id mapping
 * when the backend answers the `mapped` hook, else in-process (root, single-id, mock, oci:
 * the host sees the same ids as the environment, or the user owns everything).
 */
import { mkdir } from 'node:fs/promises';
import type { Kernel } from '../kernel.js';
import { packTree, type PackStats } from '../layers/pack.js';
import { packTreeForIngest } from '../layers/pack-tree-thread.js';
import { unpackTarStream, type UnpackOptions, type UnpackStats } from '../layers/unpack.js';
import type { TarProducer, Unpacker } from '../layers/layer.js';
import type { StoreLayout } from '../store/layout.js';
import { restorePlanned, withSkipped } from '../store/tree-restore.js';
import { removeTree } from '../store/remove-tree.js';
import { scanSignatures, type IdMap, type TreeSignatures } from '../engine/diff-scan.js';
import { StoreError } from '../errors.js';
import type { EnvHandle } from '../types.js';
import type { MappedOperation, MappedResult } from './types.js';

export { mappedWorkerPath } from './worker-path.js';

async function ask<K extends MappedOperation['kind']>(kernel: Kernel, env: EnvHandle, op: MappedOperation & { kind: K }): Promise<(MappedResult & { kind: K }) | undefined> {
  const result = await kernel.hooks.mapped.promise({ env, op });
  if (result === undefined) return undefined;
  if (result.kind !== op.kind) {
    throw new StoreError('KP_MAPPED_BAD_ANSWER', `the "${env.backend}" backend answered a mapped ${op.kind} with a ${result.kind} result`, {
      hint: 'this is a bug in the backend plugin; report it with `karapace doctor` output',
      data: { taps: kernel.tapNames('mapped') },
    });
  }
  return result as MappedResult & { kind: K };
}

/** A tar producer for packLayer: the env's backend packs `dir` inside the mapping, or packTree here. */
export function envTar(kernel: Kernel, env: EnvHandle, dir: string): TarProducer {
  return async (consume, options) => {
    const answered = await ask(kernel, env, { kind: 'pack', dir, consume });
    if (answered) return answered.stats;
    const stats: PackStats = { entries: 0, contentBytes: 0 };
    // A large tree is packed on another thread while this one ingests it (layers/pack-tree-thread.ts).
    await consume(packTreeForIngest(dir, stats, options?.hashContents));
    return stats;
  };
}

/**
 * The tar of `dir` as chunks (a generator, for consumers that pull: push), packed inside the
 * env's mapping when its backend answers (owners as the env sees them, private files
 * readable), else packTree here with `options`.
 */
export async function* envTarChunks(kernel: Kernel, env: EnvHandle, dir: string, options: { chunkSize?: number; reuseBuffers?: boolean } = {}): AsyncGenerator<Buffer> {
  let handoff!: (tar: AsyncIterable<Uint8Array>) => void;
  const handed = new Promise<AsyncIterable<Uint8Array>>((resolve) => { handoff = resolve; });
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  const answered = ask(kernel, env, { kind: 'pack', dir, consume: async (tar) => { handoff(tar); await released; } });
  const first = await Promise.race([handed.then((tar) => ({ tar })), answered.then((result) => ({ result }))]);
  if (!('tar' in first)) {
    if (first.result) throw new StoreError('KP_MAPPED_BAD_ANSWER', `the "${env.backend}" backend answered a mapped pack without handing over its tar`, { hint: 'this is a bug in the backend plugin' });
    yield* packTree(dir, options);
    return;
  }
  let complete = false;
  try {
    for await (const c of first.tar) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    complete = true;
  } finally {
    if (!complete) {
      // Stopped early: close the pipe so the worker ends; its complaint about that is expected.
      (first.tar as { destroy?: () => void }).destroy?.();
      answered.catch(() => undefined);
    }
    release();
  }
  await answered;
}

/**
 * Unpacks into `dir` inside the env's mapping (owners as the env sees them) when its backend
 * answers, else in-process with `options` as given. `mapped` says which: a mapped unpack
 * calls no `onEntry`, and its files may be unreadable to the user on the host.
 */
export async function unpackForEnv(kernel: Kernel, env: EnvHandle, source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions): Promise<{ stats: UnpackStats; mapped: boolean }> {
  // Made here, so the root of the tree is the user's as in-process (the tar has no root entry).
  await mkdir(dir, { recursive: true });
  const answered = await ask(kernel, env, { kind: 'unpack', dir, source, whiteouts: options.whiteouts, ...(options.untrusted ? { untrusted: true } : {}) });
  return answered ? { stats: answered.stats, mapped: true } : { stats: await unpackTarStream(source, dir, options), mapped: false };
}

/**
 * An unpacker for unpackLayer that writes inside the env's mapping (owners as the env sees
 * them), and restores a stored tree natively there (store/tree-restore.ts) when it can.
 */
export function envUnpacker(kernel: Kernel, env: EnvHandle, layout: StoreLayout): Unpacker {
  const unpack: Unpacker = async (source, dir, options) => (await unpackForEnv(kernel, env, source, dir, options)).stats;
  unpack.tree = async (planned, dir, options) => {
    await mkdir(dir, { recursive: true });
    const op = { kind: 'restore-tree' as const, dir, objects: layout.store, planned, whiteouts: options.whiteouts, ...(options.untrusted ? { untrusted: true } : {}) };
    const answered = await ask(kernel, env, op);
    if (!answered) return restorePlanned(layout.store, dir, planned, options);
    return answered.stats ? withSkipped(planned, answered.stats) : undefined;
  };
  return unpack;
}

/** The handle a mapped operation needs for files no environment owns (any more): whose backend wrote them. */
export function mappedOwner(backend: string, dir: string): EnvHandle {
  return { envId: 'store', shortId: 'store', backend, paths: { dir, upper: dir, work: dir, runtime: dir }, lowerDirs: [], manifest: undefined as never, lock: undefined as never, manifestDir: dir };
}

/**
 * Removes a tree of the store whose files may belong to subordinate ids (a pull or restore
 * unpacked inside a full id mapping, then failed or was killed): as the user, else through
 * the mapping of whichever backend answers. The engine installs it as the layout's remover.
 */
export async function removeStoreTree(kernel: Kernel, path: string, loadBackends: () => Promise<void>): Promise<void> {
  try {
    await removeTree(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw err;
    await loadBackends();
    for (const backend of kernel.backends) if (await ask(kernel, mappedOwner(backend, path), { kind: 'remove', path })) return;
    throw err;
  }
}

export async function removeEnvTree(kernel: Kernel, env: EnvHandle, path: string): Promise<void> {
  if (!(await ask(kernel, env, { kind: 'remove', path }))) await removeTree(path);
}

/** Signatures of an upper dir's entries, and the id maps to show host ids (of the base) as the env sees them. */
export async function scanEnvTree(kernel: Kernel, env: EnvHandle, dir: string): Promise<{ entries: TreeSignatures; maps?: { uid: IdMap; gid: IdMap } }> {
  const answered = await ask(kernel, env, { kind: 'scan', dir });
  if (!answered) return { entries: await scanSignatures(dir) };
  const maps = answered.uidMap && answered.gidMap ? { uid: answered.uidMap, gid: answered.gidMap } : undefined;
  return { entries: new Map(answered.entries), ...(maps ? { maps } : {}) };
}
