/**
 * A thread of the unpacker's pool (unpack-pool.ts): it makes the file-system calls for
 * batches of entries the main thread has parsed and checked, hashes the contents it
 * writes, and, for a tar file, reads those contents from the file itself (a file of up to
 * 1 MiB in one call to native/unpack.c when it is built). Creating files costs the kernel
 * far more than parsing their headers, and two threads create files in parallel where
 * tar(1) creates them one after another.
 *
 * Every path it gets is inside the target under a directory the main thread made, and
 * every create is exclusive (O_EXCL, no following of symlinks), so a batch can never write
 * through something planted meanwhile. Paths stay bytes (Node takes Buffer paths).
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, readSync, symlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { StreamHasher, hashBytes } from '../hash.js';
import { nativeAddon } from '../native-addon.js';
import { CTRL, HASH_BYTES, RECORD_HEADER, RecordFlag, RecordKind, SOURCE_SHRANK, STAT_BYTES, STOP, WORKER, perWorker, writeStat, type PoolFailure, type PoolWorkerData } from './unpack-protocol.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const data = workerData as PoolWorkerData;
const ctrl = new Int32Array(data.ctrl);
const used = new Int32Array(data.used);
const slots = data.slots.map((s) => Buffer.from(s));
const base = perWorker(data.index);

/** The file whose content continues in the next Data record, and its hasher when it is hashed. */
let open = -1;
let hasher: StreamHasher | undefined;

/** Where FileAt content is read into (allocated on first use, reused). */
let readBuf: Buffer | undefined;
const READ_BYTES = 1 << 20;

/** native/unpack.c: a file of at most READ_BYTES made in one call (see there). */
interface UnpackAddon {
  writeFile(path: Buffer, mode: number, src: number, offset: number, size: number, buf: Buffer, uid: number, gid: number, chmod: number, out: Buffer | null, outAt: number): void;
}
// KARAPACE_UNPACK_NATIVE=0 takes Node's fs calls instead (the fallback where the addon could not be built).
const addon = process.env.KARAPACE_UNPACK_NATIVE === '0' ? null : nativeAddon<UnpackAddon>('karapace_unpack');

/**
 * Reads `size` bytes at `offset` of the source archive, passing each piece to `use`. A short
 * read means the archive shrank under us: an error, never a short file.
 */
function readSource(src: number, offset: number, size: number, use: (piece: Buffer) => void): void {
  const buf = (readBuf ??= Buffer.allocUnsafeSlow(READ_BYTES));
  for (let done = 0; done < size;) {
    const want = Math.min(size - done, READ_BYTES);
    let got = 0;
    while (got < want) {
      const n = readSync(src, buf, got, want - got, offset + done + got);
      if (n === 0) throw new Error(SOURCE_SHRANK);
      got += n;
    }
    use(buf.subarray(0, want));
    done += want;
  }
}

/** Copies a range of the source archive into `fd`; returns the content's hash when asked. */
function copyFromSource(src: number, offset: number, size: number, fd: number, hash: boolean): string | undefined {
  const h = hash && size > READ_BYTES ? new StreamHasher() : undefined;
  let last: Buffer | undefined;
  readSource(src, offset, size, (piece) => {
    last = piece;
    h?.update(piece);
    for (let off = 0; off < piece.length;) off += writeSync(fd, piece, off, piece.length - off);
  });
  if (!hash) return undefined;
  return h ? h.digest() : hashBytes(last ?? Buffer.alloc(0));
}

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
  const size = kind === RecordKind.FileAt ? b.readDoubleLE(pathEnd + 16) : 0;
  if (kind === RecordKind.FileAt && addon && size <= READ_BYTES && b.readUInt32LE(at + 12) <= 0x7fffffff && b.readUInt32LE(at + 16) <= 0x7fffffff) {
    const buf = (readBuf ??= Buffer.allocUnsafeSlow(READ_BYTES));
    const hashAt = end;
    const statAt = end + (flags & RecordFlag.Hash ? HASH_BYTES : 0);
    addon.writeFile(
      path, b.readUInt32LE(at + 4), b.readUInt32LE(pathEnd), b.readDoubleLE(pathEnd + 8), size, buf,
      flags & RecordFlag.Chown ? b.readUInt32LE(at + 12) : -1, flags & RecordFlag.Chown ? b.readUInt32LE(at + 16) : -1,
      flags & RecordFlag.Chmod ? b.readUInt32LE(at + 8) : -1, flags & RecordFlag.Stat ? b : null, statAt,
    );
    if (flags & RecordFlag.Hash) b.write(hashBytes(buf.subarray(0, size)), hashAt, HASH_BYTES, 'latin1');
    end = statAt + (flags & RecordFlag.Stat ? STAT_BYTES : 0);
  } else if (kind === RecordKind.FileAt) {
    const fd = openSync(path, CREATE, b.readUInt32LE(at + 4));
    try {
      const hash = copyFromSource(b.readUInt32LE(pathEnd), b.readDoubleLE(pathEnd + 8), b.readDoubleLE(pathEnd + 16), fd, (flags & RecordFlag.Hash) !== 0);
      if (hash !== undefined) {
        b.write(hash, end, HASH_BYTES, 'latin1');
        end += HASH_BYTES;
      }
      end = finishFile(b, at, flags, fd, end);
    } finally {
      closeSync(fd);
    }
  } else if (kind === RecordKind.File || kind === RecordKind.Data) {
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
