/**
 * Start-up fast path for `commit` and `restore` (issue 18: a one-file commit costs little
 * more than Node's start-up): parsed by fast-dispatch.cts, run with only the backends (the
 * namespace backend packs and unpacks inside an env's id mapping) from the CommonJS bundle
 * bundle/snapshot.cjs, which karapace.cts loads with a V8 code cache. Anything unusual —
 * help, unknown flags, a wrong number of arguments — goes to the full CLI, so behaviour,
 * output and messages stay the same.
 */
import { commitEnv, restoreEnv } from '@karapace/kernel';
import type { FastArgs } from './fast-dispatch.cjs';
import { BACKEND_BUILTINS } from './backend-builtins.js';
import { reportCommit, reportRestore } from './snapshot-output.js';
import { Session } from './session.js';

/** Runs commit/restore; undefined when the full CLI must handle it. */
export async function runSnapshotFastPath(parsed: FastArgs): Promise<number | undefined> {
  if (parsed.command !== 'commit' && parsed.command !== 'restore') return undefined;
  const s = new Session(parsed.global, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, BACKEND_BUILTINS);
  return s.run(async () => {
    const engine = await s.engine();
    const env = parsed.positionals.env!;
    if (parsed.command === 'commit') reportCommit(s.reporter, await commitEnv(engine, env, { message: parsed.options.message as string | undefined }));
    else reportRestore(s.reporter, engine.logger, await restoreEnv(engine, env, parsed.positionals.snapshot));
    return 0;
  });
}
