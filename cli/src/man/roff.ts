/** man(7) pages rendered from the command specs: one page per command plus karapace(1). */
import type { CommandSpec, OptionSpec } from '../introspect.js';
import { GLOBAL_OPTIONS } from '../introspect.js';

/** Escapes text for roff: backslashes, hyphens, and control characters at line start. */
export function roffEscape(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** `code` spans in descriptions become bold. */
function inline(text: string): string {
  return roffEscape(text).replace(/`([^`]+)`/g, '\\fB$1\\fR');
}

export function pageName(spec: CommandSpec, bin = 'karapace'): string {
  return `${bin}-${spec.path.join('-')}`;
}

function optionLine(o: OptionSpec): string {
  const names = o.names.map((n) => `\\fB${roffEscape(n)}\\fR`).join(', ');
  return o.takesValue ? `${names} \\fIvalue\\fR` : names;
}

function header(title: string, version: string): string[] {
  // No date: pages are reproducible byte for byte from the same CLI.
  return [`.TH ${roffEscape(title.toUpperCase())} 1 "" "karapace ${roffEscape(version)}" "Karapace Manual"`];
}

const EXIT_STATUS = [
  '.SH EXIT STATUS',
  '.TP', '.B 0', 'Success.',
  '.TP', '.B 1', 'Failure (a backend, plugin, download or the command run inside failed).',
  '.TP', '.B 2', 'Manifest or usage error.',
  '.TP', '.B 3', 'Store error (corrupt, locked, unknown format version).',
];

export function commandPage(spec: CommandSpec, version: string, bin = 'karapace'): string {
  const name = pageName(spec, bin);
  const synopsisArgs = spec.usage.split(' ').slice(spec.path.length + 1).join(' ');
  const out = [
    ...header(name, version),
    '.SH NAME',
    `${roffEscape(name)} \\- ${inline(spec.description)}`,
    '.SH SYNOPSIS',
    `.B ${roffEscape(`${bin} ${spec.path.join(' ')}`)}`,
    `[\\fIoptions\\fR] ${roffEscape(synopsisArgs)}`.trimEnd(),
    '.SH DESCRIPTION',
    inline(spec.details || spec.description),
  ];
  if (spec.aliases.length > 1) {
    out.push('.PP', `Also available as: ${spec.aliases.filter((a) => a.join(' ') !== spec.path.join(' ')).map((a) => `\\fB${roffEscape(`${bin} ${a.join(' ')}`)}\\fR`).join(', ')}.`);
  }
  if (spec.positionals.length) {
    out.push('.SH ARGUMENTS');
    for (const p of spec.positionals) {
      out.push('.TP', `\\fI${roffEscape(p.name)}\\fR${p.rest ? ' ...' : ''}`, positionalText(p.kind, p.optional, p.rest, p.choices));
    }
  }
  out.push('.SH OPTIONS');
  for (const o of spec.options) out.push('.TP', optionLine(o), inline(o.description || ' '));
  if (spec.examples.length) {
    out.push('.SH EXAMPLES');
    for (const e of spec.examples) out.push('.PP', inline(e.description), '.PP', '.RS 4', '.nf', roffEscape(e.command), '.fi', '.RE');
  }
  out.push(...EXIT_STATUS, '.SH SEE ALSO', `.BR ${bin} (1)`);
  return out.join('\n') + '\n';
}

function positionalText(kind: string, optional: boolean, rest: boolean, choices?: string[]): string {
  const what = kind === 'env'
    ? 'An environment: its env_id, short_id, a unique id prefix, or its name.'
    : kind === 'choice' ? `One of: ${(choices ?? []).join(', ')}.`
      : kind === 'file' ? 'A path.' : kind === 'dir' ? 'A directory.' : rest ? 'Words passed on as they are (e.g. a command and its arguments).' : 'A value.';
  return roffEscape(optional ? `${what} Optional.` : what);
}

export function overviewPage(specs: CommandSpec[], version: string, bin = 'karapace'): string {
  const globals = specs[0]?.options.filter((o) => o.names.some((n) => GLOBAL_OPTIONS.has(n))) ?? [];
  const out = [
    ...header(bin, version),
    '.SH NAME',
    `${bin} \\- deterministic, content\\-addressed Linux development environments, rootless and daemonless`,
    '.SH SYNOPSIS',
    `.B ${bin}`,
    '\\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    'Karapace builds development environments from a declarative \\fBkarapace.toml\\fR manifest, pins them in \\fBkarapace.lock\\fR, stores them by content (\\fIenv_id\\fR) and runs them with user namespaces and overlay filesystems, without root and without a daemon.',
    '.SH COMMANDS',
  ];
  for (const s of specs) out.push('.TP', `\\fB${roffEscape(`${bin} ${s.path.join(' ')}`)}\\fR`, `${inline(s.description)} See \\fB${roffEscape(pageName(s, bin))}\\fR(1).`);
  out.push('.SH GLOBAL OPTIONS');
  for (const o of globals) out.push('.TP', optionLine(o), inline(o.description));
  out.push(
    '.SH ENVIRONMENT',
    '.TP', '.B KARAPACE_STORE', 'Store root (overridden by \\fB\\-\\-store\\fR).',
    '.TP', '.B KARAPACE_LOG', 'Log level: error, warn, info, debug, trace.',
    ...EXIT_STATUS,
    '.SH SEE ALSO',
    specs.map((s) => `.BR ${roffEscape(pageName(s, bin))} (1)`).join(',\n'),
  );
  return out.join('\n') + '\n';
}

/** Every page, file name → content. */
export function manPages(specs: CommandSpec[], version: string, bin = 'karapace'): Map<string, string> {
  const pages = new Map<string, string>([[`${bin}.1`, overviewPage(specs, version, bin)]]);
  for (const s of specs) pages.set(`${pageName(s, bin)}.1`, commandPage(s, version, bin));
  return pages;
}
