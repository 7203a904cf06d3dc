/**
 * The command line of a desktop entry's `Exec` key (Desktop Entry Specification, "The Exec
 * key"), read as GLib's GDesktopAppInfo runs it: field codes are expanded first, anywhere in
 * the line, then the line is split as g_shell_parse_argv splits it (quotes and backslashes,
 * never a shell: `$(…)`, backticks, `;` and `|` are plain characters). We keep the argument
 * list and the file/URL field codes, and write each argument back quoted, so a desktop reads
 * exactly the arguments we meant.
 */

/** A field code that stays a field code: a desktop replaces it with the files or URLs it opens. */
export type FieldCode = '%f' | '%F' | '%u' | '%U';
/** An argument: literal text and field codes, concatenated. */
export type ExecArg = (string | { field: FieldCode })[];

export class ExecLineError extends Error {}

const KEPT_CODES = new Set(['f', 'F', 'u', 'U']);

/** Splits an (already unescaped) Exec value into arguments; throws where GLib would not launch it. */
export function parseExecLine(line: string): ExecArg[] {
  const args: ExecArg[] = [];
  let arg: ExecArg | undefined;
  const text = (s: string) => {
    arg ??= [];
    const last = arg[arg.length - 1];
    if (typeof last === 'string') arg[arg.length - 1] = last + s;
    else arg.push(s);
  };
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '%') {
      const code = line[++i];
      if (code === '%') text('%');
      // Inside quotes a file code's expansion is undefined (the spec); outside, it is kept.
      else if (code !== undefined && KEPT_CODES.has(code) && !quote) (arg ??= []).push({ field: `%${code}` as FieldCode });
      // %i, %c, %k name host-side things; %d %D %n %N %v %m are deprecated: dropped, as GLib drops unknown codes.
      continue;
    }
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else text(c);
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && '$`"\\\n'.includes(line[i + 1] ?? '')) {
        if (line[++i] !== '\n') text(line[i]!);
      } else text(c);
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n') {
      if (arg) args.push(arg);
      arg = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      arg ??= [];
    } else if (c === '\\') {
      const next = line[++i];
      if (next === undefined) text('\\');
      else if (next !== '\n') text(next);
    } else if (c === '#' && !arg) {
      // g_shell_parse_argv: a word starting with # comments out the rest of the line.
      const nl = line.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else text(c);
  }
  if (quote) throw new ExecLineError(`an unmatched ${quote}`);
  if (arg) args.push(arg);
  if (args.length === 0 || args[0]!.every((p) => typeof p !== 'string' || p === '')) throw new ExecLineError('no program');
  return args;
}

/** Characters the spec reserves (they need quoting), plus anything outside this plain set. */
const PLAIN = /^[A-Za-z0-9_@+=:,./-]+$/;

/** One argument as the spec quotes it; `%` doubled everywhere (GLib expands codes inside quotes too). */
export function quoteExecArg(arg: ExecArg | string): string {
  const parts = typeof arg === 'string' ? [arg] : arg;
  if (parts.length === 0) return '""';
  return parts.map((p) => {
    if (typeof p !== 'string') return p.field;
    const body = PLAIN.test(p) ? p : `"${p.replace(/["`$\\]/g, '\\$&')}"`;
    return body.replace(/%/g, '%%');
  }).join('');
}

/** The literal text of an argument (field codes left out), for checks and messages. */
export function argText(arg: ExecArg): string {
  return arg.map((p) => (typeof p === 'string' ? p : '')).join('');
}
