/**
 * All output goes through here: human text, or exactly one JSON document on stdout with
 * `--json` (errors as one JSON document on stderr). Progress is lines on stderr (bars on a
 * TTY), and JSON lines on stderr with `--json`. Text from metadata (names, references,
 * labels — possibly pulled from a remote) cannot drive the terminal: control characters
 * are shown as escapes (`printable`).
 */
import type { Writable } from 'node:stream';
import type { KarapaceError, Logger, ProgressEvent } from '@karapace/kernel';
import { ProgressRenderer } from './progress-bar.js';
import { jsonText, printable } from './printable.js';

export { printable };

export class Reporter {
  constructor(
    private readonly stdout: Writable,
    private readonly stderr: Writable,
    readonly json: boolean,
  ) {}

  /** The command's result: `text` for humans, `data` for --json. */
  result(data: unknown, text: () => string): void {
    if (this.json) this.stdout.write(jsonText(data, 2) + '\n');
    else {
      const out = printable(text(), true);
      if (out) this.stdout.write(out.endsWith('\n') ? out : out + '\n');
    }
  }

  /**
   * A long text result written as it is made (not with --json): `chunks` are already
   * printable (made of printable() cells, as table() makes them), each ending in a newline.
   */
  resultText(chunks: Iterable<string>): void {
    for (const chunk of chunks) this.stdout.write(chunk);
  }

  info(message: string): void {
    if (!this.json) this.stderr.write(printable(message, true) + '\n');
  }

  error(err: KarapaceError, trace: boolean): void {
    if (this.json) {
      this.stderr.write(jsonText(err.toJSON()) + '\n');
      return;
    }
    let text = `error: ${printable(err.message, true)}\n`;
    if (err.hint) text += `hint: ${printable(err.hint, true)}\n`;
    if (trace && err.stack) text += `${err.stack}\n`;
    if (trace && err.cause instanceof Error && err.cause.stack) text += `caused by: ${err.cause.stack}\n`;
    this.stderr.write(text);
  }

  progress(event: ProgressEvent, logger: Logger): void {
    if (this.json) {
      this.stderr.write(jsonText({ progress: event }) + '\n');
      return;
    }
    this.bars ??= new ProgressRenderer(this.stderr, (this.stderr as Writable & { isTTY?: boolean }).isTTY === true);
    if (event.kind === 'log') {
      // Keep log lines from tearing a live progress bar.
      this.bars.clear();
      logger[event.level](printable(event.message, true));
      this.bars.redraw(true);
      return;
    }
    this.bars.handle(event);
  }

  private bars?: ProgressRenderer;
}

/** A plain text table (no dependencies); cells are `printable`, so a cell is one line. */
export function table(headers: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map((c) => printable(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}
