/**
 * A thread of the unpacker's pool (unpack-pool.ts): it makes the file-system calls for
 * batches of entries the main thread has parsed and checked, and hashes the contents it
 * writes. Creating files costs the kernel far more than parsing their headers, and two
 * threads create files in parallel where tar(1) creates them one after another.
 *
 * Every path it gets is inside the target under a directory the main thread made, and
 * every create is exclusive (O_EXCL, no following of symlinks), so a batch can never write
 * through something planted meanwhile. Paths stay bytes (Node takes Buffer paths).
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { StreamHasher, hashBytes } from '../hash.js';
import { CTRL, HASH_BYTES, RECORD_HEADER, RecordFlag, RecordKind, STAT_BYTES, STOP, WORKER, perWorker, writeStat, type PoolFailure, type PoolWorkerData } from './unpack-protocol.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const data = workerData as PoolWorkerData;
const ctrl = new Int32Array(data.ctrl);
const used = new Int32Array(data.used);
const slots = data.slots.map((s) => Buffer.from(s));
const base = perWorker(data.index);

/** The file whose content continues in the next Data record, and its hasher when it is hashed. */
let open = -1;
let hasher: StreamHasher | undefined;

/** A complete file's owner, mode and (into the batch at `end`) stat; returns the end after them. */
function finishFile(b: Buffer, at: number, flags: number, fd: number, end: number): number {
  if (flags & RecordFlag.Chown) fchownSync(fd, b.readUInt32LE(at + 12), b.readUInt32LE(at + 16));
  if (flags & RecordFlag.Chmod) fchmodSync(fd, b.readUInt32LE(at + 8));
  if (!(flags & RecordFlag.Stat)) return end;
  writeStat(b, end, fstatSync(fd));
  return end + STAT_BYTES;
}

/** Applies the record at `at`; returns where the next one starts. */
function apply(b: Buffer, at: number): number {
  const kind = b[at]!;
  const flags = b[at + 1]!;
  const pathEnd = at + RECORD_HEADER + b.readUInt16LE(at + 2);
  const path = b.subarray(at + RECORD_HEADER, pathEnd);
  let end = pathEnd + b.readUInt32LE(at + 20);
  if (kind === RecordKind.File || kind === RecordKind.Data) {
    let fd = open;
    if (kind === RecordKind.File) fd = openSync(path, CREATE, b.readUInt32LE(at + 4));
    else if (fd < 0) throw new Error('unpack worker: file data without an open file');
    open = -1;
    try {
      for (let off = pathEnd; off < end;) off += writeSync(fd, b, off, end - off);
      if (flags & RecordFlag.Hash) {
        if (kind === RecordKind.File) hasher = undefined;
        if (flags & RecordFlag.More || hasher) (hasher ??= new StreamHasher()).update(b.subarray(pathEnd, end));
        if (!(flags & RecordFlag.More)) {
          // The digest goes into the bytes reserved after the last piece.
          b.write(hasher ? hasher.digest() : hashBytes(b.subarray(pathEnd, end)), end, HASH_BYTES, 'latin1');
          hasher = undefined;
          end += HASH_BYTES;
        }
      }
      if (flags & RecordFlag.More) {
        open = fd;
        fd = -1;
      } else {
        // The owner and mode travel in a file's last record.
        end = finishFile(b, at, flags, fd, end);
      }
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  } else if (kind === RecordKind.Symlink) {
    symlinkSync(b.subarray(pathEnd, end), path);
    if (flags & RecordFlag.Chown) lchownSync(path, b.readUInt32LE(at + 12), b.readUInt32LE(at + 16));
    if (flags & RecordFlag.Stat) {
      writeStat(b, end, lstatSync(path));
      end += STAT_BYTES;
    }
  } else if (kind === RecordKind.HardLink) {
    linkSync(b.subarray(pathEnd, end), path);
  } else if (kind === RecordKind.Mkdir) {
    mkdirSync(path, b.readUInt32LE(at + 4));
  } else {
    throw new Error(`unpack worker: unknown record kind ${kind}`);
  }
  return end;
}

function applyBatch(slot: number): void {
  const b = slots[slot]!;
  const n = used[slot]!;
  for (let at = 0; at < n;) at = apply(b, at);
}

for (let head = 0; ;) {
  const queued = Atomics.load(ctrl, base + WORKER.queued);
  if (head === queued) {
    // Say so before sleeping, then look again: the main thread only wakes sleepers.
    Atomics.store(ctrl, base + WORKER.sleeping, 1);
    if (Atomics.load(ctrl, base + WORKER.queued) === queued) Atomics.wait(ctrl, base + WORKER.queued, queued);
    Atomics.store(ctrl, base + WORKER.sleeping, 0);
    continue;
  }
  const slot = ctrl[base + WORKER.ring + (head % data.ring)]!;
  if (slot === STOP) {
    // Stopped in the middle of a file (the archive failed): close it.
    if (open >= 0) closeSync(open);
    // Acknowledged like a batch: from here on this thread touches nothing, and the main
    // thread need not wait for it to exit.
    Atomics.store(ctrl, base + WORKER.done, head + 1);
    Atomics.add(ctrl, CTRL.completed, 1);
    Atomics.notify(ctrl, CTRL.completed);
    break;
  }
  try {
    applyBatch(slot);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const failure: PoolFailure = { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path === undefined ? undefined : String(e.path) };
    if (open >= 0) closeSync(open);
    open = -1;
    parentPort!.postMessage(failure);
    Atomics.store(ctrl, CTRL.failed, 1);
    Atomics.add(ctrl, CTRL.completed, 1);
    Atomics.notify(ctrl, CTRL.completed);
    // The main thread stops the pool; this thread applies nothing more.
    break;
  }
  head++;
  Atomics.store(ctrl, base + WORKER.done, head);
  Atomics.add(ctrl, CTRL.completed, 1);
  Atomics.notify(ctrl, CTRL.completed);
}
