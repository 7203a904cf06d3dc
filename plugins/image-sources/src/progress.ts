/** Progress events for long work (downloads, extraction, installs), throttled for the reporter. */
import type { Kernel } from '@karapace/kernel';

export interface Task {
  /** A new `stage` is always emitted; otherwise at most ~10 events a second. */
  advance(done: number, total?: number, stage?: string): void;
  end(ok: boolean, message?: string): void;
}

let counter = 0;

/** Starts a task; `advance` emits at most ~10 events a second, plus the final one. */
export function startTask(kernel: Kernel | undefined, label: string, total?: number, unit: 'bytes' | 'items' = 'bytes'): Task {
  const task = `image-sources:${process.pid}:${++counter}`;
  kernel?.progress({ kind: 'start', task, label, ...(total !== undefined ? { total } : {}), unit });
  let last = 0;
  let lastDone = 0;
  let lastTotal = total;
  let lastStage: string | undefined;
  return {
    advance(done, t, stage) {
      lastDone = done;
      if (t !== undefined) lastTotal = t;
      const now = Date.now();
      const newStage = stage !== undefined && stage !== lastStage;
      if (!newStage && now - last < 100) return;
      last = now;
      if (stage !== undefined) lastStage = stage;
      kernel?.progress({ kind: 'advance', task, done, ...(lastTotal !== undefined ? { total: lastTotal } : {}), ...(lastStage !== undefined ? { stage: lastStage } : {}) });
    },
    end(ok, message) {
      if (ok && lastDone) kernel?.progress({ kind: 'advance', task, done: lastDone, ...(lastTotal !== undefined ? { total: lastTotal } : {}), ...(lastStage !== undefined ? { stage: lastStage } : {}) });
      kernel?.progress({ kind: 'end', task, ok, ...(message ? { message } : {}) });
    },
  };
}

export function log(kernel: Kernel | undefined, level: 'debug' | 'info' | 'warn', message: string): void {
  kernel?.progress({ kind: 'log', level, message });
}
