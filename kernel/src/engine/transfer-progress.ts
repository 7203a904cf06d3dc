/** Transfer progress through `kernel.progress`: bytes as they move, and the rate at the end. */
import type { Kernel } from '../kernel.js';

export interface TransferProgress {
  add(bytes: number): void;
  /** Sets the total when it was not known at the start (a pull learns it from the bundle). */
  total(bytes: number): void;
  end(ok: boolean): { bytes: number; seconds: number; rate: number };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** `total` undefined: the bar starts when `total()` is called. */
export function transferProgress(kernel: Kernel, task: string, label: string, total?: number): TransferProgress {
  const started = Date.now();
  let done = 0;
  let last = 0;
  let size = total;
  let running = false;
  const start = () => {
    running = true;
    kernel.progress({ kind: 'start', task, label, total: size ?? 0, unit: 'bytes' });
  };
  if (size !== undefined) start();
  return {
    add(bytes) {
      done += bytes;
      if (!running) return;
      const now = Date.now();
      if (now - last >= 100 || done === size) {
        last = now;
        // An estimated total (push packs a tar whose headers it did not count) may be
        // passed: the bar stops at 100% rather than showing more than its total.
        kernel.progress({ kind: 'advance', task, done: Math.min(done, size!), total: size! });
      }
    },
    total(bytes) {
      size = bytes;
      if (!running) start();
    },
    end(ok) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const rate = done / seconds;
      if (!running) start();
      kernel.progress({ kind: 'end', task, ok, message: `${formatBytes(done)} in ${seconds.toFixed(2)} s (${formatBytes(rate)}/s)` });
      return { bytes: done, seconds, rate };
    },
  };
}
