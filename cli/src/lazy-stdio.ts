/**
 * process.stdout / process.stderr made on first use: creating them loads Node's streams,
 * which a fast path with nothing to print (`exec`, `enter`) never needs, and which cost
 * `list` more than formatting a thousand rows. Until a stream exists, a plain string write
 * goes to the fd with writeSync (the streams write synchronously too, so order is kept);
 * anything else — a callback, an encoding, an fd that would block, an error such as EPIPE —
 * goes to the real stream, which does what it always does. Every other property is the
 * real stream's, read when it is used.
 */
import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

export function lazyStdio(name: 'stdout' | 'stderr'): Writable {
  const fd = name === 'stdout' ? 1 : 2;
  let created = false;
  const stream = () => {
    created = true;
    return process[name];
  };
  const write = (chunk: unknown, ...rest: unknown[]): boolean => {
    if (created || typeof chunk !== 'string' || rest.length > 0) return (stream().write as (...a: unknown[]) => boolean)(chunk, ...rest);
    let buf = Buffer.from(chunk);
    try {
      while (buf.length > 0) buf = buf.subarray(writeSync(fd, buf));
      return true;
    } catch {
      return stream().write(buf);
    }
  };
  return new Proxy({} as Writable, {
    get(_, key) {
      if (key === 'write') return write;
      const s = stream();
      const value = Reflect.get(s, key, s) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(s) : value;
    },
  });
}
