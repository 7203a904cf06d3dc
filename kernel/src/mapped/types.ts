/**
 * Store work on an environment's files inside the environment's id mapping (the `mapped`
 * hook). With full subordinate-id mapping, files an environment's container root created
 * belong to subordinate ids on the host: the user can neither read the private ones nor
 * delete directories they don't own, and a packer running on the host would record host
 * ids instead of the ids the environment sees. The backend that runs the environment can
 * run the kernel's own packer, unpacker and remover inside the same mapping.
 */
import type { PackStats } from '../layers/pack.js';
import type { UnpackStats } from '../layers/unpack.js';
import type { EnvHandle } from '../types.js';
import type { TreePlan } from '../store/tree-plan.js';

export type MappedOperation =
  /** Pack `dir` (packTree) and hand the tar stream to `consume`, which stores it. */
  | { kind: 'pack'; dir: string; consume(tar: AsyncIterable<Uint8Array>): Promise<void> }
  /**
   * Unpack the tar read from `source` into `dir` (unpackTarStream, owners set as inside).
   * `untrusted`: the tar is a remote's (UnpackOptions.untrusted: no devices, no privileged xattrs).
   */
  | { kind: 'unpack'; dir: string; source: AsyncIterable<Uint8Array>; whiteouts: 'apply' | 'overlay'; untrusted?: boolean }
  /**
   * Restore a planned tree into the empty `dir` natively (store/tree-restore.ts restorePlanned),
   * contents from the store's directory `objects` (holding objects/ and packs/); `stats` null when it handed over.
   */
  | { kind: 'restore-tree'; dir: string; objects: string; planned: TreePlan; whiteouts: 'apply' | 'overlay'; untrusted?: boolean }
  /** Remove a tree (removeTree). */
  | { kind: 'remove'; path: string }
  /** Signatures of every entry of an upper dir (diff), `null` for a whiteout. */
  | { kind: 'scan'; dir: string };

export interface MappedRequest {
  /** The environment whose mapping to use. */
  env: EnvHandle;
  op: MappedOperation;
}

export type MappedResult =
  | { kind: 'pack'; stats: PackStats }
  | { kind: 'unpack'; stats: UnpackStats }
  | { kind: 'restore-tree'; stats: UnpackStats | null }
  | { kind: 'remove' }
  /** With the mapping's uid_map/gid_map (as /proc/self/*_map inside shows them), so the caller can show host ids as inside ids. */
  | { kind: 'scan'; entries: [string, string | null][]; uidMap?: [number, number, number][]; gidMap?: [number, number, number][] };

/** What the worker script is given (argv[2], JSON): an operation without its streams, paths as seen inside. */
export type WorkerJob =
  | { kind: 'pack'; dir: string }
  | { kind: 'unpack'; dir: string; whiteouts: 'apply' | 'overlay'; untrusted?: boolean }
  | { kind: 'remove'; path: string }
  | { kind: 'scan'; dir: string }
  /** The plan comes on stdin: its length (u32 LE), the plan, the skeleton (store/tree-restore.ts readPlanned). */
  | { kind: 'restore-tree'; dir: string; objects: string; expect: TreePlan['expect']; whiteouts: 'apply' | 'overlay'; untrusted?: boolean };

/** The worker's answer, one JSON document on fd 3. */
export type WorkerReply =
  | { ok: true; result: MappedResult }
  | { ok: false; error: { code?: string; message: string; hint?: string } };
