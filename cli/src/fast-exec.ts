/**
 * The `exec` fast path: `karapace exec [global options] <env> [--] <command…>` is parsed
 * here without loading clipanion and every command definition (≈20 ms of start-up).
 * Anything unusual (help, unknown flags, missing arguments) returns undefined and the full
 * CLI handles it, so behaviour and messages stay the same.
 */
import { Session, type GlobalOptions } from './session.js';
import { execBody } from './exec-body.js';
import { BACKEND_BUILTINS } from './backend-builtins.js';

export interface FastExecArgs {
  options: GlobalOptions;
  env: string;
  command: string[];
}

export function parseFastExec(args: string[]): FastExecArgs | undefined {
  if (args[0] !== 'exec') return undefined;
  const options: GlobalOptions = { json: false, verbose: false, trace: false };
  let env: string | undefined;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (env !== undefined) {
      const command = args.slice(i);
      return command.length && !(command.length === 1 && command[0] === '--') ? { options, env, command } : undefined;
    }
    if (arg === '--json') options.json = true;
    else if (arg === '--verbose' || arg === '-v') options.verbose = true;
    else if (arg === '--trace') options.trace = true;
    else if (arg === '--store' && i + 1 < args.length) options.store = args[++i];
    else if (arg.startsWith('--store=')) options.store = arg.slice('--store='.length);
    else if (arg.startsWith('-')) return undefined;
    else env = arg;
  }
  return undefined;
}

export function runFastExec(parsed: FastExecArgs): Promise<number> {
  const session = new Session(parsed.options, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, BACKEND_BUILTINS);
  return session.run(() => execBody(session, parsed.env, parsed.command));
}
