/** Pieces every shell's completion generator needs. */
import type { CommandSpec, PositionalSpec } from '../introspect.js';

/** Every command path, aliases included, one per entry (`list`, `ls`, …). */
export function allPaths(specs: CommandSpec[]): string[] {
  return specs.flatMap((s) => s.aliases.map((a) => a.join(' '))).sort();
}

/** Options that take a value, across all commands (so their value is never a positional). */
export function valueOptions(specs: CommandSpec[]): string[] {
  return [...new Set(specs.flatMap((s) => s.options.filter((o) => o.takesValue).flatMap((o) => o.names)))].sort();
}

/** One word per positional: `env`, `file`, `dir`, `word`, `choice:a,b`; a trailing `...` marks a rest. */
export function positionalWord(p: PositionalSpec): string {
  // A rest of plain words is a command line (exec's `<command> ...`): complete commands.
  const base = p.kind === 'choice' ? `choice:${(p.choices ?? []).join(',')}` : p.rest && p.kind === 'word' ? 'rest' : p.kind;
  return p.rest ? `${base}...` : base;
}

export function positionalWords(spec: CommandSpec): string[] {
  return spec.positionals.map(positionalWord);
}
