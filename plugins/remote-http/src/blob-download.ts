/**
 * Large blob downloads over plain http:// without node:http: one connection per blob,
 * read up to 1 MiB per read(2) instead of node:http's 64 KiB. On loopback and
 * fast links the per-read cost dominated a pull (bench/remote.mjs; figures in bench/RESULTS.md).
 *
 * Only the answer this is for is handled here: `200` with a Content-Length and no
 * Transfer-Encoding. Anything else (an error status, chunked framing, a refused
 * connection) resolves to undefined and the caller asks again through node:http, so
 * errors are reported exactly as for every other request.
 */
import { connect, type Socket } from 'node:net';
import type { KarapaceError } from '@karapace/kernel';
import { DEFAULT_TIMEOUTS, deadline, timeoutError, watchProgress, type TimeoutContext } from './timeouts.js';

/**
 * A blob body: its chunks, in order, each valid until the chunk after next is asked for
 * (its memory may then be reused); destroy() drops the connection early.
 */
export interface BlobBody extends AsyncIterable<Buffer> {
  destroy(): void;
}

/** Largest status line + headers accepted before falling back. */
const MAX_HEAD = 64 << 10;
const SLAB = 4 << 20;
/**
 * At most this much per read, and so per chunk and per write(2) of the unpacker: with
 * 4 MiB writes, page-cache writes on the bench VM (ext4, free page reporting) were much
 * slower in about half the runs — likely large folios taken from memory handed back to the
 * host — while 1 MiB writes never were (bench/RESULTS.md).
 */
const MAX_READ = 1 << 20;
/** A slab with less room than this is retired (the next read gets a fresh one). */
const MIN_READ = 256 << 10;
/** Reading pauses while this much is received but not yet consumed. */
const MAX_QUEUED = 16 << 20;
/** Slabs kept between downloads (Slabs.recycle). */
const SHARED_SLABS = 8;
const shared: Slab[] = [];

interface Slab {
  buf: Buffer;
  used: number;
  /** Chunks cut from it that the consumer has not moved past yet. */
  pending: number;
  retired: boolean;
}

/**
 * The memory socket reads land in: each read goes into the unused tail of the current
 * slab. A retired slab is reused once every chunk cut from it was consumed and one more
 * slab after it too, so a 200 MiB download does not fault in 200 MiB of fresh memory (a
 * third of a pull's system time) and a consumer may still look at the chunk before the
 * one it asked for last.
 */
export class Slabs {
  private readonly free: Slab[] = [];
  private readonly cooling: Slab[] = [];
  current: Slab = this.fresh();

  private fresh(): Slab {
    const slab = this.free.pop() ?? shared.pop() ?? { buf: Buffer.allocUnsafe(SLAB), used: 0, pending: 0, retired: false };
    slab.used = 0;
    slab.retired = false;
    return slab;
  }

  /**
   * A download whose every chunk the consumer has moved past: its slabs go to the shared
   * pool, so the next download (a pull of many large objects makes one per object) reuses
   * memory already faulted in instead of taking fresh slabs — and external-memory GCs.
   */
  recycle(): void {
    for (const slab of [...this.free, ...this.cooling, this.current]) {
      if (slab.pending === 0 && shared.length < SHARED_SLABS) shared.push(slab);
    }
    this.free.length = 0;
    this.cooling.length = 0;
  }

  /** Where the next read goes. */
  next(): Buffer {
    if (SLAB - this.current.used < MIN_READ) {
      this.current.retired = true;
      this.settle(this.current);
      this.current = this.fresh();
    }
    return this.current.buf.subarray(this.current.used, this.current.used + MAX_READ);
  }

  /** The n bytes just read into the current slab. */
  took(n: number): Buffer {
    const c = this.current;
    const chunk = c.buf.subarray(c.used, c.used + n);
    c.used += n;
    return chunk;
  }

  hold(slab: Slab): void {
    slab.pending++;
  }

  release(slab: Slab): void {
    slab.pending--;
    this.settle(slab);
  }

  private settle(slab: Slab): void {
    if (!slab.retired || slab.pending > 0) return;
    this.cooling.push(slab);
    if (this.cooling.length > 1) {
      const reusable = this.cooling.shift()!;
      reusable.used = 0;
      reusable.retired = false;
      this.free.push(reusable);
    }
  }
}

export class RawBody implements BlobBody {
  private readonly queue: { chunk: Buffer; slab?: Slab }[] = [];
  private queued = 0;
  private received = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private paused = false;

  constructor(private readonly socket: Socket, readonly size: number, private readonly slabs: Slabs) {}

  /** Bytes taken from the socket so far. */
  get bytes(): number {
    return this.received;
  }

  /** True while reading is paused because the consumer is behind (not the remote's fault). */
  get heldBack(): boolean {
    return this.paused;
  }

  get finished(): boolean {
    return this.ended || this.failure !== undefined;
  }

  /** Takes a body chunk from the socket (from `slab`, if any); false asks the socket to stop reading for now. */
  push(chunk: Buffer, slab?: Slab): boolean {
    const want = this.size - this.received;
    if (chunk.length > want) chunk = chunk.subarray(0, want);
    if (chunk.length) {
      if (slab) this.slabs.hold(slab);
      this.queue.push({ chunk, slab });
      this.queued += chunk.length;
      this.received += chunk.length;
    }
    if (this.received === this.size) {
      this.ended = true;
      this.socket.destroy();
    }
    this.notify();
    this.paused = this.queued > MAX_QUEUED && !this.ended;
    return !this.paused;
  }

  fail(err: Error): void {
    if (this.ended || this.failure) return;
    this.failure = err;
    this.socket.destroy();
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  destroy(): void {
    this.ended = true;
    this.queue.length = 0;
    this.socket.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let last: Slab | undefined;
    let completed = false;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          this.queued -= next.chunk.length;
          if (this.paused && this.queued <= MAX_QUEUED / 2) {
            this.paused = false;
            this.socket.resume();
          }
          if (this.ended && !this.queue.length && !this.failure && next.slab) {
            // The last chunk goes out as a copy (at most MAX_READ bytes): no chunk the
            // consumer may still hold is then left in a slab, and they can all be recycled.
            const copy = Buffer.from(next.chunk);
            this.slabs.release(next.slab);
            yield copy;
            if (last) this.slabs.release(last);
            last = undefined;
            completed = true;
            this.slabs.recycle();
            return;
          }
          yield next.chunk;
          // Asked for the next one: the consumer is done with the one before this.
          if (last) this.slabs.release(last);
          last = next.slab;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.ended) return;
        await new Promise<void>((resolve) => { this.wake = resolve; });
      }
    } finally {
      if (!this.ended && !completed) this.destroy();
    }
  }
}

/** The framing this reader handles, from a response head; undefined for anything else. */
export function plainLength(head: string): number | undefined {
  const lines = head.split('\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(lines[0] + ' ')) return undefined;
  let length: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // Folded or malformed header lines: leave them to node:http.
    if (colon <= 0 || /^[ \t]/.test(line)) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'transfer-encoding') return undefined;
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
      length = Number(value);
    }
  }
  return length;
}

export interface RawGetOptions {
  /** Limits and who they are for; default: DEFAULT_TIMEOUTS, the URL's origin. */
  context?: TimeoutContext;
  /** What is being fetched, for messages. */
  what?: string;
  /** The body's size as the caller knows it: an answer declaring another size is refused before its body is read. */
  expectedSize?: number;
  /** The error for such an answer. */
  wrongSize?: (declared: number) => KarapaceError;
}

/**
 * GETs `target` (an http: URL) with `headers`; resolves with the body of a plain 200
 * answer, or undefined when the caller must use node:http instead. Rejects when a limit
 * fires before the answer's headers (asking again would only wait as long again) or the
 * answer declares a size other than the expected one.
 */
export function rawGet(target: URL, headers: Record<string, string>, options: RawGetOptions = {}): Promise<BlobBody | undefined> {
  // node:http refuses header values it cannot send; let it say so.
  if (target.protocol !== 'http:' || Object.values(headers).some((v) => /[\r\n\0]/.test(v))) return Promise.resolve(undefined);
  const context = options.context ?? { remote: target.origin, timeouts: DEFAULT_TIMEOUTS };
  const what = options.what ?? `GET ${target.pathname}`;
  return new Promise((resolve, reject) => {
    const slabs = new Slabs();
    let head: Buffer | undefined = Buffer.alloc(0);
    let body: RawBody | undefined;
    let settled = false;
    let stopTimer: (() => void) | undefined;
    const settle = (value: RawBody | undefined) => {
      stopTimer?.();
      if (settled) return;
      settled = true;
      if (value === undefined) socket.destroy();
      resolve(value);
    };
    const refuse = (err: Error) => {
      stopTimer?.();
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    const socket: Socket = connect({
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(target.port || 80),
      onread: {
        buffer: () => slabs.next(),
        callback: (n: number): boolean => {
          const slab = slabs.current;
          const chunk = slabs.took(n);
          if (body) return body.push(chunk, slab);
          if (settled) return false;
          head = Buffer.concat([head!, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > MAX_HEAD) settle(undefined);
            return true;
          }
          const size = plainLength(head.subarray(0, end).toString('latin1'));
          if (size === undefined) {
            settle(undefined);
            return false;
          }
          if (options.expectedSize !== undefined && size !== options.expectedSize) {
            refuse(options.wrongSize?.(size) ?? new Error(`${what}: the answer declares ${size} bytes, expected ${options.expectedSize}`));
            return false;
          }
          const rest = head.subarray(end + 4);
          head = undefined;
          const received = new RawBody(socket, size, slabs);
          body = received;
          settle(received);
          const stop = watchProgress(context.timeouts, {
            bytes: () => received.bytes,
            heldBack: () => received.heldBack,
            done: () => received.finished,
          }, () => received.fail(timeoutError(context, 'idle', what)));
          socket.once('close', stop);
          return received.push(rest);
        },
      },
    });
    stopTimer = deadline(context.timeouts.connectMs, () => refuse(timeoutError(context, 'connect', what)));
    socket.once('connect', () => {
      stopTimer?.();
      stopTimer = deadline(context.timeouts.firstByteMs, () => refuse(timeoutError(context, 'firstByte', what)));
    });
    socket.setNoDelay(true);
    socket.on('error', (err: Error) => {
      if (body) body.fail(err);
      else settle(undefined);
    });
    socket.on('close', () => {
      if (body) body.fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      else settle(undefined);
    });
    const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    lines.push('Connection: close', '', '');
    socket.write(lines.join('\r\n'));
  });
}
