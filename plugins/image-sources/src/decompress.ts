/**
 * Opens an archive file as a stream of tar bytes, whatever its compression. The format is
 * sniffed from the magic bytes, not the file name (servers and registries lie). gzip uses
 * node:zlib; xz, zstd and bzip2 use the system tools (multithreaded, faster than any
 * JavaScript decoder on Node 20).
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { RuntimeFailure } from '@karapace/kernel';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd' | 'bzip2';

export async function sniffCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(6);
    const { bytesRead } = await fh.read(buf, 0, 6, 0);
    const b = buf.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    return 'none';
  } finally {
    await fh.close();
  }
}

const TOOLS: Record<Exclude<Compression, 'none'>, { cmd: string; args: string[]; pkg: string }> = {
  // Only for decompressToFile; streams use node:zlib.
  gzip: { cmd: 'gzip', args: ['-dc'], pkg: 'gzip' },
  xz: { cmd: 'xz', args: ['-dc', '-T0'], pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', args: ['-dc', '-q'], pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', args: ['-dc'], pkg: 'bzip2' },
};

export interface TarSource {
  /** The uncompressed tar bytes. Plain tars reuse their read buffers: consume each chunk before asking for the next. */
  chunks: AsyncIterable<Buffer>;
  compression: Compression;
  /** Stops reading (and any decompressor) early, after a failure. */
  destroy(): void;
}

/**
 * Plain tars: big reads into two alternating buffers (fresh memory per chunk costs page
 * faults), each read started while the consumer still works on the previous chunk.
 */
async function* readReusing(path: string, onChunk?: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  const pool = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  const fh = await open(path, 'r');
  let next: ReturnType<typeof fh.read> | undefined;
  try {
    let position = 0;
    next = fh.read(pool[0]!, 0, READ_CHUNK, 0);
    for (let i = 0; ; i++) {
      const { bytesRead } = await next;
      next = undefined;
      if (bytesRead === 0) return;
      position += bytesRead;
      // The consumer has let go of the other buffer by asking for this chunk.
      next = fh.read(pool[(i + 1) % 2]!, 0, READ_CHUNK, position);
      const chunk = pool[i % 2]!.subarray(0, bytesRead);
      onChunk?.(chunk);
      yield chunk;
    }
  } finally {
    // A read still in flight must end before its file is closed.
    await next?.catch(() => undefined);
    await fh.close();
  }
}

const READ_CHUNK = 4 << 20;

/**
 * The uncompressed tar inside `path`. The file is read by Node (also for the external
 * decompressors, through their stdin) so `onChunk` sees every archive byte: callers hash
 * the archive and report progress without a second read.
 */
export async function openTar(path: string, onChunk?: (chunk: Buffer) => void): Promise<TarSource> {
  const compression = await sniffCompression(path);
  if (compression === 'none') {
    const chunks = readReusing(path, onChunk);
    // return() runs the generator's finally (closing the file) when the consumer gave up.
    return { chunks, compression, destroy: () => void chunks.return(undefined).catch(() => {}) };
  }
  // node:zlib on first use (before the stream flows): a build from a cached image never decompresses anything.
  const zlib = compression === 'gzip' ? await import('node:zlib') : undefined;
  const src = createReadStream(path, { highWaterMark: 1 << 20 });
  if (onChunk) src.on('data', (c) => onChunk(c as Buffer));
  if (zlib) {
    const gunzip = zlib.createGunzip({ chunkSize: 1 << 18 });
    src.on('error', (e) => gunzip.destroy(e));
    const out = src.pipe(gunzip);
    return { chunks: out, compression, destroy: () => { src.destroy(); out.destroy(); } };
  }
  const tool = TOOLS[compression];
  const child = spawn(tool.cmd, tool.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  src.on('error', (e) => out.destroy(e));
  // EPIPE when the consumer stops early is expected; the consumer reports its own error.
  child.stdin.on('error', () => {});
  src.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('error', (e: NodeJS.ErrnoException) => {
    src.destroy();
    out.destroy(
      e.code === 'ENOENT'
        ? toolMissing(tool, path)
        : e,
    );
  });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else if (!out.destroyed) out.destroy(new Error(`${tool.cmd} failed (exit ${code}): ${stderr.trim()}`));
  });
  out.on('close', () => {
    src.destroy();
    if (child.exitCode === null) child.kill();
  });
  return { chunks: out, compression, destroy: () => out.destroy() };
}

function toolMissing(tool: { cmd: string; pkg: string }, path: string): RuntimeFailure {
  return new RuntimeFailure('KP_TOOL_MISSING', `\`${tool.cmd}\` is needed to decompress ${path} but is not installed`, {
    hint: `install it (apt-get install ${tool.pkg}) — \`karapace doctor\` lists what is missing`,
  });
}

/**
 * Decompresses `path` into the new file `out` with the system tool, its stdout the file
 * itself; Node reads the compressed bytes (for `onChunk`: hashes, progress) and feeds the
 * tool. For the native unpacker, which unpacks a plain tar file much faster than the
 * TypeScript unpacker takes a stream (image-sources/sources/archive.ts).
 */
export async function decompressToFile(path: string, compression: Exclude<Compression, 'none'>, out: string, onChunk?: (chunk: Buffer) => void): Promise<void> {
  const tool = TOOLS[compression];
  const fd = openSync(out, 'wx', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(tool.cmd, tool.args, { stdio: ['pipe', fd, 'pipe'] });
  } finally {
    // The child has its own copy.
    closeSync(fd);
  }
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const src = createReadStream(path, { highWaterMark: 1 << 20 });
  if (onChunk) src.on('data', (c) => onChunk(c as Buffer));
  // A failed read stops the tool, which would otherwise wait for the rest of its input.
  let readError: Error | undefined;
  src.on('error', (e) => {
    readError = e;
    child.kill();
  });
  // EPIPE when the tool stops early is expected: its exit status says why.
  child.stdin!.on('error', () => {});
  src.pipe(child.stdin!);
  try {
    // Its exit is the end: a tool that succeeded read all of its input (every chunk seen by
    // onChunk); one that failed early leaves the rest unread (and src, without an onChunk
    // listener, paused for good: waiting for its end would hang).
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? toolMissing(tool, path) : e));
      child.on('close', resolve);
    });
    if (readError) throw readError;
    if (code !== 0) throw new Error(`${tool.cmd} failed (exit ${code}): ${stderr.trim()}`);
  } finally {
    src.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}
