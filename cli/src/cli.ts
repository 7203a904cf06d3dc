/** Builds the clipanion CLI and runs it; returns the exit code (only bin.ts exits). */
import { Builtins, Cli } from 'clipanion';
import type { CommandClass } from 'clipanion';
import type { KarapaceContext } from './base-command.js';
import { COMMAND_LOADERS } from './commands/lazy.js';
import FastDispatch from './fast-dispatch.cjs';

export const VERSION = '0.1.0';

/** A CLI with the given commands, or every command (help, introspection, unknown input). */
export async function createCli(only?: CommandClass<KarapaceContext>[]): Promise<Cli<KarapaceContext>> {
  const cli = new Cli<KarapaceContext>({
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
  // Global options may come before the command's name (`karapace --store S list`).
  const argv = FastDispatch.commandFirst(args, (name) => Object.prototype.hasOwnProperty.call(COMMAND_LOADERS, name));
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
    const message = err instanceof Error ? err.message : String(err);
    if (argv.includes('--json')) ctx.stderr.write(JSON.stringify({ error: { code: 'KP_USAGE', message, exitCode: 2 } }) + '\n');
    else ctx.stderr.write(`${cli.error(err as Error, { command: null }).trimEnd()}\nhint: run \`karapace --help\` for the list of commands\n`);
    return 2;
  }
  return cli.run(command, ctx);
}
