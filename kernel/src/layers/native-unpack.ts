/**
 * The native unpacker (native/untar.c, karapace_untar.node) for unpackTarFile: the whole
 * archive is parsed, hashed and written by C threads, with none of the per-entry
 * JavaScript, worker isolates and compiling that the TypeScript unpacker costs.
 *
 * It handles what a rootfs tarball holds (files, directories, symlinks, hard links, device
 * nodes; ustar, GNU long names, PAX paths, ids and sizes) into an empty directory, exactly
 * as unpacker.ts would. On anything else it stops and hands over
 * ("bail"): the directory is emptied and unpacker.ts unpacks from the start, making the
 * decisions and the error messages for that case. Entries are reported to `onEntry`
 * afterwards, in archive order, so only callers that allow it get this path.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAddon } from '../native-addon.js';
import { badTar, SOURCE_SHRANK, type TarEntryType } from './tar-format.js';
import { availableParallelism } from 'node:os';
import type { DiskStat } from './disk-stat.js';
import type { UnpackFileStats, UnpackOptions } from './unpack.js';

interface UntarAddon {
  untar(fd: number, target: string, flags: number, umask: number, threads: number, progress: Buffer): Promise<Buffer>;
}

const Flag = { Owners: 1, AsRoot: 2, BornRoot: 4, Hash: 8, TreeDigests: 16 } as const;
const Status = { Done: 0, Bail: 1, Shrank: 2 } as const;
const TYPES: TarEntryType[] = ['file', 'link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo', 'contiguous-file'];
const HEADER = 236;
const RECORD = 56;
/** The native unpacker's writer threads. */
const WRITERS = Math.min(availableParallelism(), 4);

/** The addon, unless it is missing or switched off (KARAPACE_UNPACK_NATIVE=0). */
export function nativeUntar(): UntarAddon | null {
  return process.env.KARAPACE_UNPACK_NATIVE === '0' ? null : nativeAddon<UntarAddon>('karapace_untar');
}

/** Whether unpackTarFile can use the native unpacker here (the addon is built and not switched off). */
export function nativeUnpackerAvailable(): boolean {
  return nativeUntar() !== null;
}

/** The target made if need be; undefined unless it is empty (what the native unpacker unpacks into). */
export function emptyTarget(targetDir: string): { bornRoot: boolean } | undefined {
  mkdirSync(targetDir, { recursive: true });
  if (readdirSync(targetDir).length) return undefined;
  return { bornRoot: (lstatSync(targetDir).mode & 0o2000) === 0 };
}

/** What the C side needs to decide owners and modes as unpacker.ts does. */
export function unpackFlags(options: UnpackOptions, bornRoot: boolean, hash: boolean): number {
  const asRoot = process.geteuid?.() === 0 && process.getegid?.() === 0;
  const owners = options.owners ?? process.geteuid?.() === 0;
  return (owners ? Flag.Owners : 0) | (asRoot ? Flag.AsRoot : 0) | (asRoot && bornRoot ? Flag.BornRoot : 0) | (hash ? Flag.Hash : 0)
    | (options.treeDigests ? Flag.TreeDigests : 0);
}

/**
 * Unpacks the tar file open at `fd` into the empty `targetDir` natively; undefined when the
 * native unpacker handed over (the directory is empty again). `bornRoot`: the target has no
 * setgid bit (what root creates in it is root:root).
 */
export async function unpackNative(addon: UntarAddon, fd: number, targetDir: string, options: UnpackOptions, bornRoot: boolean, hash: boolean): Promise<UnpackFileStats | undefined> {
  const progress = Buffer.alloc(8);
  const report = options.onProgress;
  const timer = report ? setInterval(() => report(progress.readDoubleLE(0)), 100) : undefined;
  let result: Buffer;
  try {
    result = await addon.untar(fd, targetDir, unpackFlags(options, bornRoot, hash), process.umask(), WRITERS, progress);
  } finally {
    clearInterval(timer);
  }
  const status = result.readUInt32LE(0);
  if (status === Status.Shrank) throw badTar(`archive is truncated: ${SOURCE_SHRANK}`);
  if (status === Status.Bail) {
    emptyDir(targetDir);
    return undefined;
  }
  report?.(progress.readDoubleLE(0));
  return decode(result, options, hash);
}

/** Empties what a handed-over unpack made (directories it made read-only opened up first, for a user who is not root). */
export function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      openUp(path);
      rmSync(path, { recursive: true, force: true });
    }
  }
}

function openUp(path: string): void {
  if (!lstatSync(path).isDirectory()) return;
  chmodSync(path, 0o700);
  for (const name of readdirSync(path)) openUp(join(path, name));
}

/** The result's layout is described at the top of native/untar.c. */
function decode(b: Buffer, options: UnpackOptions, hash: boolean): UnpackFileStats {
  const records = b.readUInt32LE(88);
  const diskRecords = b.readUInt32LE(92);
  const warningCount = b.readUInt32LE(96);
  let at = HEADER + b.readUInt32LE(100);
  const treeDigests = b.readUInt32LE(104) === 1 ? { tree: b.toString('latin1', 108, 172), disk: b.toString('latin1', 172, 236) } : undefined;
  // With the digests computed, nothing needs the entries one by one.
  const onEntry = treeDigests ? undefined : options.onEntry;
  for (let i = 0; i < records; i++) {
    const hasHash = b[at + 1] === 1;
    const pathLen = b.readUInt16LE(at + 2);
    const linkLen = b.readUInt16LE(at + 4);
    const path = b.toString('utf8', at + RECORD, at + RECORD + pathLen);
    const linkAt = at + RECORD + pathLen;
    if (onEntry) {
      const tap = onEntry({
        path, type: TYPES[b[at]!]!, mode: b.readDoubleLE(at + 8), uid: b.readDoubleLE(at + 16), gid: b.readDoubleLE(at + 24),
        size: b.readDoubleLE(at + 32), linkname: linkLen ? b.toString('utf8', linkAt, linkAt + linkLen) : '',
        devmajor: b.readDoubleLE(at + 40), devminor: b.readDoubleLE(at + 48),
      });
      if (typeof tap === 'function') throw new Error('onEntry returned a content tap, which entriesAfterUnpack rules out');
      if (tap && hasHash) tap.onHash(b.toString('latin1', linkAt + linkLen, linkAt + linkLen + 64));
    }
    at = linkAt + linkLen + (hasHash ? 64 : 0);
  }
  const disk = options.recordDisk ? new Map<string, DiskStat>() : undefined;
  for (let i = 0; i < diskRecords; i++) {
    const len = b.readUInt16LE(at);
    disk?.set(b.toString('utf8', at + 2, at + 2 + len), readStat(b, at + 2 + len));
    at += 2 + len + 64;
  }
  const warnings: string[] = [];
  for (let i = 0; i < warningCount; i++) {
    const len = b.readUInt16LE(at);
    warnings.push(b.toString('utf8', at + 2, at + 2 + len));
    at += 2 + len;
  }
  return {
    entries: b.readUInt32LE(4),
    bytes: b.readDoubleLE(8),
    warnings,
    ...(disk ? { disk } : {}),
    ...(hash ? { archive: { blake3: b.toString('latin1', 24, 88), size: b.readDoubleLE(16) } } : {}),
    ...(treeDigests ? { treeDigests } : {}),
  };
}

/** A stat record written by native/untar.c: mode, uid, gid, size, ino, mtimeMs, ctimeMs, rdev as float64s. */
function readStat(b: Buffer, at: number): DiskStat {
  const f = (i: number) => b.readDoubleLE(at + 8 * i);
  return { mode: f(0), uid: f(1), gid: f(2), size: f(3), ino: f(4), mtimeMs: f(5), ctimeMs: f(6), rdev: f(7) };
}
