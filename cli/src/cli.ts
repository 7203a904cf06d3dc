/** Builds the clipanion CLI and runs it; returns the exit code (only bin.ts exits). */
import { Builtins, Cli } from 'clipanion';
import { COMMANDS } from './commands/index.js';
import type { KarapaceContext } from './base-command.js';

export const VERSION = '0.1.0';

export function createCli(): Cli<KarapaceContext> {
  const cli = new Cli<KarapaceContext>({ binaryLabel: 'Karapace', binaryName: 'karapace', binaryVersion: VERSION });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of COMMANDS) cli.register(command);
  return cli;
}

export async function runCli(argv: string[], context: Partial<KarapaceContext> = {}): Promise<number> {
  const cli = createCli();
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
