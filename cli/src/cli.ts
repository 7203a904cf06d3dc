/** Builds the clipanion CLI and runs it; returns the exit code (only bin.ts exits). */
import { Builtins, Cli } from 'clipanion';
import type { CommandClass } from 'clipanion';
import type { KarapaceContext } from './base-command.js';
import { COMMAND_LOADERS } from './commands/lazy.js';
import FastDispatch from './fast-dispatch.cjs';

export const VERSION = '0.1.0';

/** clipanion shows an option's value as `#0` (`--store #0`); name it after the option instead. */
export function namePlaceholders(text: string): string {
  return text.replace(/(--([a-z][a-z-]*)) #0/g, '$1 <$2>');
}

class KarapaceCli extends Cli<KarapaceContext> {
  override usage(...args: Parameters<Cli<KarapaceContext>['usage']>): string {
    return namePlaceholders(super.usage(...args));
  }

  override error(...args: Parameters<Cli<KarapaceContext>['error']>): string {
    return namePlaceholders(super.error(...args));
  }
}

/** Edit distance with transpositions (`buidl` → `build` is 1). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Commands close to a mistyped name (at most two edits, or a prefix), best first. */
export function suggestCommands(word: string, names = Object.keys(COMMAND_LOADERS)): string[] {
  const scored = names.map((n) => ({ n, d: n.startsWith(word) && word.length >= 2 ? 0.5 : distance(word, n) }));
  return scored.filter((x) => x.d <= Math.min(2, Math.max(1, Math.floor(word.length / 3)))).sort((x, y) => x.d - y.d || (x.n < y.n ? -1 : 1)).map((x) => x.n);
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `enter dev sh -c x`: enter reads options up to `--`, so the command's own options look like
 * enter's. Returns the command line with `--` before the command, or undefined.
 */
export function enterWithDashes(argv: readonly string[]): string[] | undefined {
  if (argv[0] !== 'enter' || argv.includes('--')) return undefined;
  let words = 0;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--store') i++;
    else if (!arg.startsWith('-')) {
      if (++words === 2) return argv.slice(i).some((a) => a.startsWith('-')) ? [...argv.slice(0, i), '--', ...argv.slice(i)] : undefined;
    }
  }
  return undefined;
}

/** A CLI with the given commands, or every command (help, introspection, unknown input). */
export async function createCli(only?: CommandClass<KarapaceContext>[]): Promise<Cli<KarapaceContext>> {
  const cli = new KarapaceCli({
    binaryLabel: 'Karapace',
    binaryName: 'karapace',
    binaryVersion: VERSION,
    // Colours only on a terminal (and never with NO_COLOR): help piped to a file stays plain.
    enableColors: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of only ?? (await import('./commands/index.js')).COMMANDS) cli.register(command as CommandClass<KarapaceContext>);
  return cli;
}

export async function runCli(args: string[], context: Partial<KarapaceContext> = {}): Promise<number> {
  // Global options may come before the command's name (`karapace --store S list`); any word
  // there is moved first, so a mistyped one after them is still answered as a command name.
  const isWord = (name: string) => !name.startsWith('-');
  let argv = FastDispatch.commandFirst(args, isWord);
  // `karapace help [command]` is `karapace [command] --help`.
  if (argv[0] === 'help') {
    argv = FastDispatch.commandFirst([...argv.slice(1).filter((a) => a !== '--help' && a !== '-h'), '--help'], isWord);
    // No command named (`karapace --store S help`): the list of commands; global options change nothing in it.
    if (argv[0]!.startsWith('-')) argv = ['--help'];
  }
  const stderr = context.stderr ?? process.stderr;
  const word = argv[0];
  if (word !== undefined && !word.startsWith('-') && !Object.prototype.hasOwnProperty.call(COMMAND_LOADERS, word)) {
    const close = suggestCommands(word);
    const message = `unknown command "${word}"${close.length ? `; did you mean ${close.map((c) => `\`karapace ${c}\``).join(' or ')}?` : ''}`;
    if (argv.includes('--json')) stderr.write(JSON.stringify({ error: { code: 'KP_UNKNOWN_COMMAND', message, exitCode: 2, ...(close.length ? { data: { suggestions: close } } : {}) } }) + '\n');
    else stderr.write(`karapace: ${message}\nhint: run \`karapace help\` for the list of commands\n`);
    return 2;
  }
  // Start-up: load and register only the command being run when its name comes first.
  const loader = argv[0] !== undefined ? COMMAND_LOADERS[argv[0]] : undefined;
  const cli = await createCli(loader ? [(await loader()) as unknown as CommandClass<KarapaceContext>] : undefined);
  const ctx: KarapaceContext = {
    stdin: context.stdin ?? process.stdin,
    stdout: context.stdout ?? process.stdout,
    stderr: context.stderr ?? process.stderr,
    env: context.env ?? process.env,
    colorDepth: context.colorDepth ?? 1,
    cwd: context.cwd ?? process.cwd(),
  };
  let command;
  try {
    command = cli.process(argv, ctx);
  } catch (err) {
    // Parse errors (unknown command, missing argument) are usage errors: exit 2.
    const dashed = enterWithDashes(argv);
    if (dashed) {
      const message = 'the command\'s own options were read as `enter`\'s: put `--` before the command';
      const hint = `karapace ${dashed.map(shellWord).join(' ')}`;
      if (argv.includes('--json')) ctx.stderr.write(JSON.stringify({ error: { code: 'KP_USAGE', message, exitCode: 2, hint } }) + '\n');
      else ctx.stderr.write(`karapace: ${message}\nhint: ${hint}\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (argv.includes('--json')) ctx.stderr.write(JSON.stringify({ error: { code: 'KP_USAGE', message, exitCode: 2 } }) + '\n');
    else ctx.stderr.write(`${cli.error(err as Error, { command: null }).trimEnd()}\nhint: run \`karapace --help\` for the list of commands\n`);
    return 2;
  }
  return cli.run(command, ctx);
}
