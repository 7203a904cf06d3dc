/**
 * Progress rendering for the reporter. On a TTY: one live line per running task with a
 * bar, bytes (or items), rate and ETA, redrawn at most ~10 times a second and finished with
 * a summary line. Not a TTY: a line when a task starts and one when it ends, and between
 * them a line when it enters a new stage or passes a tenth of its total (never a flood).
 */
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '@karapace/kernel';
import { printable } from './printable.js';

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

export interface TaskState {
  label: string;
  unit: 'bytes' | 'items';
  total?: number;
  done: number;
  startedAt: number;
  /** The step it is in (shown after the label). */
  stage?: string;
  /** Off a TTY: the last tenth of the total written as a line. */
  tenth?: number;
}

/** Terminal width to draw for: a pty reporting 0 (or nothing) columns counts as 80. */
export function effectiveWidth(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns > 0 ? Math.floor(columns) : 80;
}

const MIN_BAR = 10;
const MAX_BAR = 30;
/** A label is shortened to no fewer characters than this before parts are dropped. */
const MIN_LABEL = 12;

/** Shortens `text` to `max` characters, ending in an ellipsis when cut. */
export function ellipsize(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return max === 1 ? '…' : '';
  return `${text.slice(0, max - 1)}…`;
}

/**
 * The text of one live line (pure, for tests). It never exceeds `width - 1` characters (a
 * line as wide as the terminal wraps on some of them): the label is shortened with an
 * ellipsis first, then the ETA (or elapsed time) is dropped, then the rate, then the bar.
 */
export function renderLine(t: TaskState, now: number, columns: number | undefined): string {
  const max = effectiveWidth(columns) - 1;
  const elapsed = Math.max((now - t.startedAt) / 1000, 0.001);
  const rate = t.done / elapsed;
  const amount = (n: number) => (t.unit === 'bytes' ? formatBytes(n) : String(n));
  const rateText = t.unit === 'bytes' ? `${formatBytes(rate)}/s` : undefined;
  const known = t.total !== undefined && t.total > 0;
  const ratio = known ? Math.min(t.done / t.total!, 1) : 0;
  // The parts after the label, most important first; `time` goes first, then `rate`, then the bar.
  const core = known ? [`${String(Math.floor(ratio * 100)).padStart(3)}%`, `${amount(t.done)}/${amount(t.total!)}`] : [amount(t.done)];
  const time = known ? `ETA ${rate > 0 ? formatDuration((t.total! - t.done) / rate) : '--:--'}` : formatDuration(elapsed);
  const candidates: { bar: boolean; parts: string[] }[] = [
    { bar: known, parts: [...core, ...(rateText ? [rateText] : []), time] },
    { bar: known, parts: [...core, ...(rateText ? [rateText] : [])] },
    { bar: known, parts: core },
    { bar: false, parts: core },
  ];
  const bar = (w: number) => {
    const filled = Math.round(ratio * w);
    return `[${'#'.repeat(filled)}${'-'.repeat(w - filled)}]`;
  };
  const text = t.stage ? `${t.label}: ${t.stage}` : t.label;
  const minLabel = Math.min(text.length, MIN_LABEL);
  for (const c of candidates) {
    // Width of everything but the label, with the narrowest bar; +2 for its brackets.
    const rest = c.parts.join('  ').length + (c.bar ? MIN_BAR + 2 + 2 : 0);
    if (minLabel + 1 + rest > max) continue;
    const label = ellipsize(text, max - 1 - rest);
    // Room left once the label is whole goes to the bar.
    const barWidth = c.bar ? Math.min(MAX_BAR, MIN_BAR + (max - 1 - rest - label.length)) : 0;
    return `${label} ${[...(c.bar ? [bar(barWidth)] : []), ...c.parts].join('  ')}`;
  }
  return ellipsize(`${text} ${core.join('  ')}`, Math.max(max, 1));
}

export class ProgressRenderer {
  private readonly tasks = new Map<string, TaskState>();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly out: Writable, private readonly tty: boolean, private readonly now: () => number = Date.now) {}

  private get width(): number {
    return effectiveWidth((this.out as Writable & { columns?: number }).columns);
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
        this.tasks.set(event.task, { label: printable(event.label), unit: event.unit ?? 'items', done: 0, startedAt: this.now(), ...(event.total !== undefined ? { total: event.total } : {}) });
        if (this.tty) this.redraw(true);
        else this.out.write(`${event.label}…\n`);
        break;
      case 'advance': {
        const t = this.tasks.get(event.task);
        if (!t) return;
        t.done = event.done;
        if (event.total !== undefined) t.total = event.total;
        const newStage = event.stage !== undefined && event.stage !== t.stage;
        if (event.stage !== undefined) t.stage = printable(event.stage);
        if (this.tty) {
          this.redraw(newStage);
          break;
        }
        const tenth = t.total ? Math.floor((Math.min(t.done, t.total) / t.total) * 10) : undefined;
        const newTenth = tenth !== undefined && tenth > (t.tenth ?? 0);
        if (tenth !== undefined) t.tenth = Math.max(tenth, t.tenth ?? 0);
        if (!newStage && !newTenth) break;
        const where = t.unit === 'items' && t.total && t.total <= 20 ? `[${t.done}/${t.total}]` : t.total ? `${Math.floor((Math.min(t.done, t.total) / t.total) * 100)}%` : undefined;
        this.out.write(`${t.label}: ${[where, t.stage].filter(Boolean).join(' ')}\n`);
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
