/**
 * Progress rendering for the reporter. On a TTY: one live line per running task with a
 * bar, bytes (or items), rate and ETA, redrawn at most ~10 times a second and finished with
 * a summary line. Not a TTY: a line when a task starts and one when it ends.
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '@karapace/kernel';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

interface TaskState {
  label: string;
  unit: 'bytes' | 'items';
  total?: number;
  done: number;
  startedAt: number;
}

/** The text of one live line (pure, for tests). */
export function renderLine(t: TaskState, now: number, width: number): string {
  const elapsed = Math.max((now - t.startedAt) / 1000, 0.001);
  const rate = t.done / elapsed;
  const amount = (n: number) => (t.unit === 'bytes' ? formatBytes(n) : String(n));
  const parts: string[] = [];
  if (t.total && t.total > 0) {
    const ratio = Math.min(t.done / t.total, 1);
    const barWidth = Math.max(10, Math.min(30, width - t.label.length - 50));
    const filled = Math.round(ratio * barWidth);
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`, `${String(Math.floor(ratio * 100)).padStart(3)}%`, `${amount(t.done)}/${amount(t.total)}`);
    if (t.unit === 'bytes') parts.push(`${formatBytes(rate)}/s`);
    parts.push(`ETA ${rate > 0 ? formatDuration((t.total - t.done) / rate) : '--:--'}`);
  } else {
    parts.push(amount(t.done));
    if (t.unit === 'bytes') parts.push(`${formatBytes(rate)}/s`);
    parts.push(formatDuration(elapsed));
  }
  const line = `${t.label} ${parts.join('  ')}`;
  return line.length > width ? line.slice(0, Math.max(width - 1, 10)) : line;
}

export class ProgressRenderer {
  private readonly tasks = new Map<string, TaskState>();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly out: Writable, private readonly tty: boolean, private readonly now: () => number = Date.now) {}

  private get width(): number {
    return (this.out as Writable & { columns?: number }).columns ?? 80;
  }

  /** Removes the live line (before other output is written). */
  clear(): void {
    if (this.tty && this.drawn) {
      this.out.write('\r\x1b[2K');
      this.drawn = false;
    }
  }

  /** Draws the newest running task's line again (after other output). */
  redraw(force = false): void {
    if (!this.tty) return;
    const t = [...this.tasks.values()].pop();
    if (!t) return;
    const now = this.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.out.write(`\r\x1b[2K${renderLine(t, now, this.width)}`);
    this.drawn = true;
  }

  handle(event: Exclude<ProgressEvent, { kind: 'log' }>): void {
    switch (event.kind) {
      case 'start':
        this.clear();
        this.tasks.set(event.task, { label: event.label, unit: event.unit ?? 'items', done: 0, startedAt: this.now(), ...(event.total !== undefined ? { total: event.total } : {}) });
        if (this.tty) this.redraw(true);
        else this.out.write(`${event.label}…\n`);
        break;
      case 'advance': {
        const t = this.tasks.get(event.task);
        if (!t) return;
        t.done = event.done;
        if (event.total !== undefined) t.total = event.total;
        this.redraw();
        break;
      }
      case 'end': {
        const t = this.tasks.get(event.task);
        this.tasks.delete(event.task);
        this.clear();
        if (!t) {
          if (!event.ok && event.message) this.out.write(`failed: ${event.message}\n`);
          return;
        }
        const secs = (this.now() - t.startedAt) / 1000;
        if (!event.ok) this.out.write(`${t.label}: failed${event.message ? `: ${event.message}` : ''}\n`);
        else if (this.tty || secs >= 1) {
          const size = t.unit === 'bytes' && t.done ? ` ${formatBytes(t.done)} in ${secs.toFixed(1)}s (${formatBytes(t.done / Math.max(secs, 0.001))}/s)` : ` in ${secs.toFixed(1)}s`;
          this.out.write(`${t.label}: done${size}\n`);
        }
        this.redraw(true);
        break;
      }
    }
  }
}
