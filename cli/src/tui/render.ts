/** Draws the TUI with plain ANSI escapes (no dependencies): a header, the table, a status line. */
import { printable } from '../printable.js';
import { current, HELP, visible, type TuiState } from './model.js';

const ESC = '\x1b[';
export const ENTER_SCREEN = `${ESC}?1049h${ESC}?25l`;
export const LEAVE_SCREEN = `${ESC}?25h${ESC}?1049l`;
const CLEAR = `${ESC}H${ESC}2J`;
const INVERSE = `${ESC}7m`;
const BOLD = `${ESC}1m`;
const DIM = `${ESC}2m`;
const RESET = `${ESC}0m`;

/** One screen line: metadata in it cannot move the cursor or end the line (`printable`). */
function fit(raw: string, width: number): string {
  const text = printable(raw);
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width);
}

export function render(state: TuiState, width: number, height: number): string {
  const lines: string[] = [];
  const rows = visible(state);
  lines.push(`${BOLD}${fit(`karapace — ${rows.length}/${state.envs.length} environments · sort: ${state.sort}${state.filter ? ` · filter: ${state.filter}` : ''}`, width)}${RESET}`);
  const header = `${'SHORT_ID'.padEnd(13)}${'NAME'.padEnd(20)}${'STATE'.padEnd(10)}${'BACKEND'.padEnd(11)}${'PKGS'.padEnd(6)}BASE`;
  lines.push(`${DIM}${fit(header, width)}${RESET}`);
  const body = Math.max(1, height - 5);
  const mode = state.mode;
  if (mode.kind === 'help') lines.push(...HELP.map((l) => fit(l, width)));
  else if (mode.kind === 'details') lines.push(...mode.text.split('\n').slice(0, body).map((l) => fit(l, width)));
  else {
    const start = Math.max(0, Math.min(state.selected - body + 1, rows.length - body));
    rows.slice(Math.max(0, start), Math.max(0, start) + body).forEach((e, i) => {
      const line = fit(`${e.short_id.padEnd(13)}${(e.name ?? '-').padEnd(20)}${e.state.padEnd(10)}${e.backend.padEnd(11)}${String(e.packages).padEnd(6)}${e.base}`, width);
      lines.push(Math.max(0, start) + i === state.selected ? `${INVERSE}${line}${RESET}` : line);
    });
    if (rows.length === 0) lines.push(state.envs.length ? 'no environment matches the filter (Esc clears it)' : 'no environments (build one with `karapace build`)');
  }
  while (lines.length < height - 2) lines.push('');
  lines.length = Math.min(lines.length, height - 2);
  lines.push(fit(prompt(state), width));
  lines.push(`${DIM}${fit(state.busy ? 'working…' : state.message, width)}${RESET}`);
  return CLEAR + lines.join('\r\n');
}

function prompt(state: TuiState): string {
  const mode = state.mode;
  const env = current(state);
  switch (mode.kind) {
    case 'filter': return `filter: ${mode.draft}▏  (Enter apply, Esc clear)`;
    case 'rename': return `rename ${mode.env.name ?? mode.env.short_id} to: ${mode.draft}▏  (Enter save, Esc cancel)`;
    case 'confirm': return `${mode.action} ${mode.env.name ?? mode.env.short_id}? (y/n)`;
    case 'details': return 'details — Esc or q to go back';
    case 'help': return 'help — Esc or q to go back';
    default: return env ? `${env.name ?? env.short_id}: Enter details · r rename · d destroy · f freeze · a archive · / filter · ? help · q quit` : '/ filter · R refresh · ? help · q quit';
  }
}
