/**
 * All output goes through here: human text, or exactly one JSON document on stdout with
 * `--json` (errors as one JSON document on stderr). Progress is lines on stderr (bars on a
 * TTY), and JSON lines on stderr with `--json`.
 */
import type { Writable } from 'node:stream';
import type { KarapaceError, Logger, ProgressEvent } from '@karapace/kernel';
import { ProgressRenderer } from './progress-bar.js';

export class Reporter {
  constructor(
    private readonly stdout: Writable,
    private readonly stderr: Writable,
    readonly json: boolean,
  ) {}

  /** The command's result: `text` for humans, `data` for --json. */
  result(data: unknown, text: () => string): void {
    if (this.json) this.stdout.write(JSON.stringify(data, null, 2) + '\n');
    else {
      const out = text();
      if (out) this.stdout.write(out.endsWith('\n') ? out : out + '\n');
    }
  }

  info(message: string): void {
    if (!this.json) this.stderr.write(message + '\n');
  }

  error(err: KarapaceError, trace: boolean): void {
    if (this.json) {
      this.stderr.write(JSON.stringify(err.toJSON()) + '\n');
      return;
    }
    let text = `error: ${err.message}\n`;
    if (err.hint) text += `hint: ${err.hint}\n`;
    if (trace && err.stack) text += `${err.stack}\n`;
    if (trace && err.cause instanceof Error && err.cause.stack) text += `caused by: ${err.cause.stack}\n`;
    this.stderr.write(text);
  }

  progress(event: ProgressEvent, logger: Logger): void {
    if (this.json) {
      this.stderr.write(JSON.stringify({ progress: event }) + '\n');
      return;
    }
    this.bars ??= new ProgressRenderer(this.stderr, (this.stderr as Writable & { isTTY?: boolean }).isTTY === true);
    if (event.kind === 'log') {
      // Keep log lines from tearing a live progress bar.
      this.bars.clear();
      logger[event.level](event.message);
      this.bars.redraw(true);
      return;
    }
    this.bars.handle(event);
  }

  private bars?: ProgressRenderer;
}

/** A plain text table (no dependencies). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}
