/**
 * Start-up fast paths for the two commands run most: `exec [global options] <env> [--]
 * <command…>` and a warm `build [manifest] [--locked]` (answered from the lock without
 * loading any plugin). They are parsed here without clipanion and its command table.
 * Anything unusual (help, other flags, missing arguments) — or a build that has real work
 * to do — goes to the full CLI, so behaviour and messages stay the same.
 */
import { buildIfUpToDate } from '@karapace/kernel';
import { Session, type GlobalOptions } from './session.js';
import { execBody } from './exec-body.js';
import { reportBuild } from './build-output.js';
import { BACKEND_BUILTINS } from './backend-builtins.js';

export type FastPath =
  | { kind: 'exec'; options: GlobalOptions; env: string; command: string[] }
  | { kind: 'build'; options: GlobalOptions; manifest?: string; locked: boolean };

/** Consumes a global option at args[i]; returns how many args it took (0 = not global). */
export function globalOption(args: string[], i: number, options: GlobalOptions): number {
  const arg = args[i]!;
  if (arg === '--json') options.json = true;
  else if (arg === '--verbose' || arg === '-v') options.verbose = true;
  else if (arg === '--trace') options.trace = true;
  else if (arg === '--store' && i + 1 < args.length) {
    options.store = args[i + 1];
    return 2;
  } else if (arg.startsWith('--store=')) options.store = arg.slice('--store='.length);
  else return 0;
  return 1;
}

export function parseFastPath(args: string[]): FastPath | undefined {
  const options: GlobalOptions = { json: false, verbose: false, trace: false };
  if (args[0] === 'exec') {
    let env: string | undefined;
    for (let i = 1; i < args.length; i++) {
      if (env !== undefined) {
        const command = args.slice(i);
        return command.length && !(command.length === 1 && command[0] === '--') ? { kind: 'exec', options, env, command } : undefined;
      }
      const took = globalOption(args, i, options);
      if (took) i += took - 1;
      else if (args[i]!.startsWith('-')) return undefined;
      else env = args[i];
    }
    return undefined;
  }
  if (args[0] === 'build') {
    let manifest: string | undefined;
    let locked = false;
    for (let i = 1; i < args.length; i++) {
      const took = globalOption(args, i, options);
      if (took) i += took - 1;
      else if (args[i] === '--locked') locked = true;
      else if (args[i]!.startsWith('-') || manifest !== undefined) return undefined;
      else manifest = args[i];
    }
    return { kind: 'build', options, manifest, locked };
  }
  return undefined;
}

/** Runs a fast path; undefined when the full CLI must handle it after all. */
export async function runFastPath(parsed: FastPath): Promise<number | undefined> {
  const session = new Session(parsed.options, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, BACKEND_BUILTINS);
  if (parsed.kind === 'exec') return session.run(() => execBody(session, parsed.env, parsed.command));
  let fallBack = false;
  const code = await session.run(async () => {
    const engine = await session.engine({ deferBuiltins: true });
    const result = await buildIfUpToDate(engine, { manifest: parsed.manifest, locked: parsed.locked });
    if (!result) {
      fallBack = true;
      return 0;
    }
    reportBuild(session.reporter, result);
    return 0;
  });
  return fallBack ? undefined : code;
}
