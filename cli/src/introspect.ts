/**
 * A plain description of every registered command, read from clipanion's own definitions
 * (usage, options, descriptions) plus each class's static `paths` (aliases). Completions,
 * man pages and docs/cli-reference.md are all rendered from this, so they cannot drift
 * from the CLI.
 */
import { Cli, type CommandClass } from 'clipanion';
import type { KarapaceContext } from './base-command.js';

export interface OptionSpec {
  /** Every spelling, long first (`--verbose`, `-v`). */
  names: string[];
  /** True when the option takes a value (`--store <dir>`). */
  takesValue: boolean;
  description: string;
  required: boolean;
}

/** How a positional is completed. */
export type PositionalKind = 'env' | 'file' | 'dir' | 'choice' | 'word';

export interface PositionalSpec {
  name: string;
  optional: boolean;
  /** Takes the rest of the command line. */
  rest: boolean;
  /** Names an environment (completed with env names and ids). */
  env: boolean;
  kind: PositionalKind;
  choices?: string[];
}

/**
 * A command class may say how its positionals complete beyond what the name implies:
 * `static completion = { shell: ['bash', 'zsh', 'fish'], dir: 'dir' }`.
 */
export type CompletionHints = Record<string, string[] | PositionalKind>;

export interface CommandSpec {
  /** Primary path, e.g. `['list']`. */
  path: string[];
  /** All paths including aliases (`ls`). */
  aliases: string[][];
  /** `karapace rename <env> <new-name>` */
  usage: string;
  description: string;
  details: string;
  examples: { description: string; command: string }[];
  options: OptionSpec[];
  positionals: PositionalSpec[];
  category?: string;
}

/** Positional names that take an environment reference (env_id, short_id, prefix or name). */
const ENV_POSITIONALS = new Set(['env', 'environment', 'env-a', 'env-b', 'source']);

export const BINARY_NAME = 'karapace';

export function commandSpecs(classes: readonly CommandClass<KarapaceContext>[]): CommandSpec[] {
  const specs: CommandSpec[] = [];
  for (const cls of classes) {
    const paths = cls.paths ?? [];
    if (paths.length === 0) continue;
    // One Cli per class keeps the definition paired with its class (aliases included).
    const single = new Cli<KarapaceContext>({ binaryName: BINARY_NAME });
    single.register(cls);
    const def = single.definitions()[0];
    if (!def) continue;
    const path = def.path.split(' ').slice(1);
    specs.push({
      path,
      aliases: paths.map((p) => [...p]),
      usage: def.usage.replace(/\s+/g, ' ').trim(),
      description: clean(def.description),
      details: clean(def.details),
      examples: (def.examples ?? []).map(([description, command]) => ({ description: clean(description), command: command.trim() })),
      options: def.options.map((o) => parseOption(o.definition, o.description, o.required)),
      positionals: parsePositionals(def.usage, path.length + 1).map((p) => withKind(p, (cls as { completion?: CompletionHints }).completion)),
      ...(def.category ? { category: def.category } : {}),
    });
  }
  return specs.sort((a, b) => (a.path.join(' ') < b.path.join(' ') ? -1 : 1));
}

function withKind(p: Omit<PositionalSpec, 'kind'> & { kind?: PositionalKind }, hints: CompletionHints | undefined): PositionalSpec {
  const hint = hints?.[p.name];
  if (Array.isArray(hint)) return { ...p, env: false, kind: 'choice', choices: [...hint] };
  if (hint) return { ...p, env: hint === 'env', kind: hint };
  if (p.env) return { ...p, kind: 'env' };
  if (/dir$/.test(p.name)) return { ...p, kind: 'dir' };
  if (/manifest|file|path|output|tarball/.test(p.name)) return { ...p, kind: 'file' };
  return { ...p, kind: 'word' };
}

function clean(text: string | undefined): string {
  return (text ?? '').replace(/[ \t]*\n(?!\n)/g, ' ').replace(/ +/g, ' ').trim();
}

function parseOption(definition: string, description: string | undefined, required: boolean): OptionSpec {
  const [names = '', arity] = definition.split(' ');
  const all = names.split(',').filter(Boolean);
  return { names: all, takesValue: arity !== undefined, description: clean(description), required };
}

/** Positionals from the usage line: `<env>`, `[manifest]`, `<command>...`. */
function parsePositionals(usage: string, skipWords: number): Omit<PositionalSpec, 'kind'>[] {
  const words = usage.replace(/\[-[^\]]*\]/g, '').trim().split(/\s+/).slice(skipWords);
  const out: Omit<PositionalSpec, 'kind'>[] = [];
  for (const w of words) {
    if (w === '...') {
      // clipanion prints a named rest as `<command> ...` and an unnamed one as `...`.
      const last = out[out.length - 1];
      if (last && !last.env && !last.rest) last.rest = true;
      else out.push({ name: 'args', optional: true, rest: true, env: false });
      continue;
    }
    const m = /^([<[])([A-Za-z0-9_-]+)[>\]](\.\.\.)?$/.exec(w);
    if (!m) continue;
    const name = m[2]!;
    out.push({ name, optional: m[1] === '[', rest: m[3] !== undefined, env: ENV_POSITIONALS.has(name) });
  }
  return out;
}

/** Options every command takes (from BaseCommand): shown once in overviews. */
export const GLOBAL_OPTIONS = new Set(['--json', '--store', '--verbose', '--trace']);
