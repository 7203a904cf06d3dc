/**
 * Client-side limits on a remote that stops answering: every request gets a connect
 * timeout, a first-byte timeout (request sent → answer's headers) and an idle timeout
 * while a body moves, either way. "Idle" is a window in which fewer bytes moved than the
 * slowest transfer allowed, so a remote that trickles is cut off like one that went
 * silent. Time the client itself is not reading (backpressure) never counts.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RuntimeFailure, UsageError, type KarapaceConfig, type KarapaceError, type RemoteTimeoutConfig } from '@karapace/kernel';

export interface RemoteTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
  minBytesPerSecond: number;
}

export const DEFAULT_TIMEOUTS: Readonly<RemoteTimeouts> = Object.freeze({
  connectMs: 10_000,
  firstByteMs: 30_000,
  idleMs: 30_000,
  minBytesPerSecond: 1024,
});

export type TimeoutKind = 'connect' | 'firstByte' | 'idle';

const FIELD: Record<TimeoutKind, keyof RemoteTimeouts> = { connect: 'connectMs', firstByte: 'firstByteMs', idle: 'idleMs' };

/** Checks a config's `timeouts` entry; `where` names it in the error. */
export function checkTimeouts(value: unknown, where: string): RemoteTimeoutConfig | undefined {
  if (value === undefined) return undefined;
  const bad = (why: string) => new UsageError('KP_REMOTE_BAD_TIMEOUT', `${where}: ${why}`, {
    hint: 'give positive whole numbers, e.g. {"connectMs": 10000, "firstByteMs": 30000, "idleMs": 30000, "minBytesPerSecond": 1024}',
  });
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad('expected an object');
  for (const [key, v] of Object.entries(value)) {
    if (!(key in DEFAULT_TIMEOUTS)) throw bad(`unknown field "${key}" (known: ${Object.keys(DEFAULT_TIMEOUTS).join(', ')})`);
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw bad(`${key} must be a positive whole number, got ${JSON.stringify(v)}`);
  }
  return value as RemoteTimeoutConfig;
}

/**
 * The name and limits configured for the remote at `url`: the entry of config `remotes`
 * with that URL (the one chosen by name, or one naming the URL given), if any.
 */
export function configuredLimits(config: KarapaceConfig, url: string): { name?: string; timeouts?: RemoteTimeoutConfig } {
  const bare = (u: string) => u.replace(/\/+$/, '');
  for (const [name, remote] of Object.entries(config.remotes ?? {})) {
    if (remote && typeof remote.url === 'string' && bare(remote.url) === bare(url)) {
      return { name, timeouts: checkTimeouts(remote.timeouts, `config remotes.${name}.timeouts`) };
    }
  }
  return {};
}

/** A remote's limits: the configured fields over the defaults. */
export function resolveTimeouts(config: RemoteTimeoutConfig | undefined): RemoteTimeouts {
  return { ...DEFAULT_TIMEOUTS, ...Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== undefined)) };
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** Who is being waited for, so that the error can say which remote and how to wait longer. */
export interface TimeoutContext {
  /** The remote as it may be printed. */
  remote: string;
  /** Its name in config `remotes`, when chosen by name. */
  name?: string;
  timeouts: RemoteTimeouts;
}

export function timeoutError(ctx: TimeoutContext, kind: TimeoutKind, what: string): KarapaceError {
  const t = ctx.timeouts;
  const ms = t[FIELD[kind]];
  const message = kind === 'connect' ? `cannot connect to the remote ${ctx.remote} within ${seconds(ms)} (connect timeout)`
    : kind === 'firstByte' ? `the remote ${ctx.remote} sent no answer to ${what} within ${seconds(ms)} (first-byte timeout)`
    : `the remote ${ctx.remote} stalled during ${what}: less than ${t.minBytesPerSecond} bytes/s for ${seconds(ms)} (idle timeout)`;
  const key = kind === 'idle' ? `${FIELD[kind]}\` or \`minBytesPerSecond` : FIELD[kind];
  const hint = ctx.name
    ? `if the remote is just slow, raise \`remotes.${ctx.name}.timeouts.${key}\` in the config (now ${kind === 'idle' ? `${ms} ms, ${t.minBytesPerSecond} bytes/s` : `${ms} ms`})`
    : `if the remote is just slow, give it longer limits in the config, e.g. {"remotes": {"origin": {"url": "${ctx.remote}", "timeouts": {"${FIELD[kind]}": ${ms * 4}}}}}`;
  return new RuntimeFailure('KP_REMOTE_TIMEOUT', message, { hint, data: { remote: ctx.remote, timeout: kind, ms } });
}

/**
 * Calls `tick(elapsed)` every `every` ms with the time this process was able to wait: a gap
 * much longer than `every` means the event loop was busy (the remote's bytes may be sitting
 * unread in the socket), so only two intervals of it count. A busy client never blames the
 * remote. Returns the function that stops it.
 */
function ticker(every: number, tick: (elapsed: number, stop: () => void) => void): () => void {
  let last = Date.now();
  let elapsed = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    elapsed += Math.min(now - last, 2 * every);
    last = now;
    tick(elapsed, stop);
  }, every);
  // The socket keeps the process alive while there is something to wait for.
  timer.unref();
  function stop(): void {
    clearInterval(timer);
  }
  return stop;
}

const tickFor = (ms: number) => Math.max(10, Math.min(1000, Math.floor(ms / 5)));

/**
 * Watches bytes moving on a connection: calls `stalled` once when, over a window of
 * `idleMs` in which the client was not holding the transfer back itself, fewer than
 * `minBytesPerSecond` moved on average. Returns the function that stops watching.
 */
export function watchProgress(timeouts: RemoteTimeouts, probe: { bytes(): number; heldBack(): boolean; done(): boolean }, stalled: () => void): () => void {
  const window = timeouts.idleMs;
  const floor = Math.max(1, Math.ceil((timeouts.minBytesPerSecond * window) / 1000));
  let samples: { at: number; bytes: number }[] = [{ at: 0, bytes: probe.bytes() }];
  return ticker(tickFor(window), (now, stop) => {
    if (probe.done()) return stop();
    const bytes = probe.bytes();
    if (probe.heldBack()) {
      samples = [{ at: now, bytes }];
      return;
    }
    samples.push({ at: now, bytes });
    // Keep the newest sample at least a window old: the window is measured from it.
    while (samples.length > 1 && samples[1]!.at <= now - window) samples.shift();
    const first = samples[0]!;
    if (now - first.at >= window && bytes - first.bytes < floor) {
      stop();
      stalled();
    }
  });
}

/** Calls `fire` once `ms` of waiting have passed (counted as in ticker); returns the function that cancels it. */
export function deadline(ms: number, fire: () => void): () => void {
  return ticker(tickFor(ms), (elapsed, stop) => {
    if (elapsed < ms) return;
    stop();
    fire();
  });
}

/**
 * Puts the three limits on a node:http request: connect (from when it gets a socket of its
 * own, so waiting for a pooled one does not count), sending (idle), first byte (body sent →
 * response headers) and receiving (idle, until the body is complete). A limit that fires
 * destroys the request or the response with the timeout error.
 */
export function guardRequest(req: ClientRequest, ctx: TimeoutContext, what: string): void {
  const t = ctx.timeouts;
  let stopPhase: (() => void) | undefined;
  let connected = false;
  let sent = false;
  let answered = false;
  const phase = (stop: (() => void) | undefined) => {
    stopPhase?.();
    stopPhase = stop;
  };
  const fail = (kind: TimeoutKind) => req.destroy(timeoutError(ctx, kind, what));
  const waitForAnswer = () => phase(deadline(t.firstByteMs, () => fail('firstByte')));
  const onConnected = (socket: Socket) => {
    connected = true;
    if (answered) return;
    if (sent) return waitForAnswer();
    phase(watchProgress(t, { bytes: () => socket.bytesWritten, heldBack: () => false, done: () => sent || answered }, () => fail('idle')));
  };
  req.once('socket', (socket: Socket) => {
    if (!socket.connecting) return onConnected(socket);
    phase(deadline(t.connectMs, () => fail('connect')));
    socket.once('connect', () => onConnected(socket));
  });
  req.once('finish', () => {
    sent = true;
    if (connected && !answered) waitForAnswer();
  });
  req.once('response', (res: IncomingMessage) => {
    answered = true;
    const socket = res.socket;
    if (!socket) return phase(undefined);
    // Destroyed with the error: whoever reads the body gets it. The listener keeps an
    // answer nobody reads yet from taking the process down.
    res.on('error', () => {});
    phase(watchProgress(t, {
      bytes: () => socket.bytesRead,
      heldBack: () => socket.isPaused(),
      done: () => res.complete || res.destroyed,
    }, () => res.destroy(timeoutError(ctx, 'idle', what))));
  });
  req.once('close', () => {
    // The response may still be arriving after the request object closed: keep watching it.
    if (!answered) phase(undefined);
  });
}
