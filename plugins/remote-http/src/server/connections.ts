/**
 * The connection cap. At most `max` connections are kept. A connection over the cap takes
 * the place of the oldest one that is not in the middle of a request (one that never sent
 * a complete request head, or a keep-alive connection between requests): holding sockets
 * open cannot lock legitimate clients out. When every kept connection is inside a
 * request, the new one gets a `503` with `Retry-After` and is closed.
 */
import type { Socket } from 'node:net';

/** How long a refused connection is read from after its 503 before it is closed (so the client sees the answer, not a reset). */
const REFUSED_LINGER_MS = 1000;

export class ConnectionGate {
  /** Connections outside any request, oldest first (a Set keeps insertion order). */
  private readonly idle = new Set<Socket>();
  /** Connections inside a request → requests in flight on them. */
  private readonly busy = new Map<Socket, number>();
  private readonly refused = new WeakSet<Socket>();
  evicted = 0;
  refusedCount = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.idle.size + this.busy.size;
  }

  /** A new connection: kept (false when it was refused with a 503). */
  admit(socket: Socket): boolean {
    if (this.size >= this.max) {
      const oldest = this.idle.values().next().value as Socket | undefined;
      if (oldest) {
        this.idle.delete(oldest);
        this.evicted++;
        oldest.destroy();
      } else {
        this.refuse(socket);
        return false;
      }
    }
    this.idle.add(socket);
    socket.once('close', () => {
      this.idle.delete(socket);
      this.busy.delete(socket);
    });
    return true;
  }

  isRefused(socket: Socket): boolean {
    return this.refused.has(socket);
  }

  requestStarted(socket: Socket): void {
    if (this.refused.has(socket) || socket.destroyed) return;
    this.idle.delete(socket);
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
  }

  requestEnded(socket: Socket): void {
    const n = this.busy.get(socket);
    if (n === undefined) return;
    if (n > 1) {
      this.busy.set(socket, n - 1);
      return;
    }
    this.busy.delete(socket);
    // Re-added at the end: the most recently active connection is the last to be closed.
    if (!socket.destroyed) this.idle.add(socket);
  }

  private refuse(socket: Socket): void {
    this.refused.add(socket);
    this.refusedCount++;
    const body = JSON.stringify({ error: { code: 'busy', message: `the server is at its connection limit (${this.max}, every one inside a request); try again shortly` } }) + '\n';
    socket.on('error', () => {});
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}
