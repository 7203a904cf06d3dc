/**
 * process.stdout / process.stderr made on first use: creating them loads Node's streams,
 * which a fast path with nothing to print (`exec`, `enter`) never needs. Every property is
 * the real stream's, read when it is used.
 */
import type { Writable } from 'node:stream';

export function lazyStdio(name: 'stdout' | 'stderr'): Writable {
  return new Proxy({} as Writable, {
    get(_, key) {
      const stream = process[name];
      const value = Reflect.get(stream, key, stream) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(stream) : value;
    },
  });
}
