/**
 * What the unpacker's pool (unpack-pool.ts) and its threads (unpack-worker.ts) share: the
 * record format of a batch, the results threads write back into it, and the control words
 * through which batches are handed over.
 */

/**
 * Each record: a 24-byte header, the path (UTF-8), then the payload (file content or link
 * target). Header, little-endian: kind u8, flags u8, path length u16, mode u32, chmod u32,
 * uid u32, gid u32, payload length u32. A `Data` record continues the file its worker has
 * open (no path).
 */
export const RECORD_HEADER = 24;
export const RecordKind = { File: 1, Data: 2, Symlink: 3, HardLink: 4, Mkdir: 5 } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];
/**
 * Chown/Chmod: apply the header's owner/mode (a file's last record carries them). More: the
 * file continues in a Data record. Hash: blake3 the file's content (set on all its records);
 * its last record is followed by HASH_BYTES where the worker writes the hex digest. Stat:
 * the entry's last record is followed (after any hash) by STAT_BYTES where the worker
 * writes what fstat/lstat says once it is complete.
 */
export const RecordFlag = { Chown: 1, Chmod: 2, More: 4, Hash: 8, Stat: 16 } as const;
export const HASH_BYTES = 64;
/** mode, uid, gid, size, ino, mtimeMs, ctimeMs, rdev as float64s. */
export const STAT_BYTES = 64;

/** An entry as lstat(2) describes it (the fields the image digests and fingerprints use). */
export interface DiskStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  rdev: number;
}

export function writeStat(b: Buffer, at: number, st: DiskStat): void {
  const fields = [st.mode, st.uid, st.gid, st.size, st.ino, st.mtimeMs, st.ctimeMs, st.rdev];
  for (let i = 0; i < fields.length; i++) b.writeDoubleLE(fields[i]!, at + 8 * i);
}

export function readStat(b: Buffer, at: number): DiskStat {
  const f = (i: number) => b.readDoubleLE(at + 8 * i);
  return { mode: f(0), uid: f(1), gid: f(2), size: f(3), ino: f(4), mtimeMs: f(5), ctimeMs: f(6), rdev: f(7) };
}

export const SLOT_BYTES = 2 << 20;
/** Slots in all: bytes queued and not yet applied are at most SLOTS × SLOT_BYTES. */
export const SLOTS = 16;

/** Control words (Int32, shared). */
export const CTRL = {
  /** Batches completed by all workers (main waits on it). */
  completed: 0,
  /** Set when a worker failed (details follow as a message). */
  failed: 1,
  /** Per worker w, at perWorker(w): [queued, done, sleeping, ring of SLOTS slot numbers]. */
  first: 2,
} as const;
export const perWorker = (w: number): number => CTRL.first + w * (3 + RING);
/** Ring entries per worker: every slot, plus the STOP that ends it. */
export const RING = SLOTS + 1;
/** Offsets in a worker's control words. */
export const WORKER = { queued: 0, done: 1, sleeping: 2, ring: 3 } as const;
/** A slot number that tells a worker to stop. */
export const STOP = -1;

export interface PoolWorkerData {
  index: number;
  ctrl: SharedArrayBuffer;
  /** Bytes used in each slot. */
  used: SharedArrayBuffer;
  slots: SharedArrayBuffer[];
  ring: number;
}

export interface PoolFailure {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

