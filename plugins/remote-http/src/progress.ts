/** Transfer progress through `kernel.progress`: bytes as they move, and the rate at the end. */
import type { Kernel } from '@karapace/kernel';

export interface TransferProgress {
  add(bytes: number): void;
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

export function transferProgress(kernel: Kernel, task: string, label: string, total: number): TransferProgress {
  const started = Date.now();
  let done = 0;
  let last = 0;
  kernel.progress({ kind: 'start', task, label, total, unit: 'bytes' });
  return {
    add(bytes) {
      done += bytes;
      const now = Date.now();
      if (now - last >= 100 || done === total) {
        last = now;
        // An estimated total (push packs a tar whose headers it did not count) may be
        // passed: the bar stops at 100% rather than showing more than its total.
        kernel.progress({ kind: 'advance', task, done: Math.min(done, total), total });
      }
    },
    end(ok) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const rate = done / seconds;
      kernel.progress({ kind: 'end', task, ok, message: `${formatBytes(done)} in ${seconds.toFixed(2)} s (${formatBytes(rate)}/s)` });
      return { bytes: done, seconds, rate };
    },
  };
}
