/**
 * The fast paths of bundle/exec.cjs: `exec`, `enter`, `list` (when list.cjs cannot answer
 * from the index alone) and a warm `build` (answered
 * from the lock without loading any plugin), run from the command line fast-dispatch.cts parsed,
 * without clipanion and its command table. Anything this cannot serve returns undefined and
 * goes to the full CLI, so behaviour and messages stay the same.
 */
import { buildIfUpToDate, enterEnv } from '@karapace/kernel';
import { armExecPlan } from '@karapace/runtime-namespace';
import type { FastArgs, PlanRequest } from './fast-dispatch.cjs';
import { Session } from './session.js';
import { execBody } from './exec-body.js';
import { listBody, listPage } from './list-body.js';
import { reportBuild } from './build-output.js';
import { BACKEND_BUILTINS } from './backend-builtins.js';
import { lazyStdio } from './lazy-stdio.js';

function session(parsed: FastArgs): Session {
  return new Session(parsed.global, { stdout: lazyStdio('stdout'), stderr: lazyStdio('stderr'), env: process.env, cwd: process.cwd() }, BACKEND_BUILTINS);
}

/** Runs a fast path; undefined when the full CLI must handle it after all. */
export async function runFastPath(parsed: FastArgs, plan?: PlanRequest): Promise<number | undefined> {
  const env = parsed.positionals.env!;
  // Handed over by the native front door: record what this run consults, for its next one.
  if (plan && (parsed.command === 'exec' || parsed.command === 'enter')) armExecPlan(plan.file, plan.key, parsed.rest.length);
  if (parsed.command === 'exec') {
    const s = session(parsed);
    return s.run(() => execBody(s, env, parsed.rest));
  }
  // `enter --json` is refused by the full CLI, with its message.
  if (parsed.command === 'enter' && !parsed.global.json) {
    const s = session(parsed);
    return s.run(async () => (await enterEnv(await s.engine({ deferBuiltins: true }), env, parsed.rest)).exitCode);
  }
  if (parsed.command === 'list' || parsed.command === 'ls') {
    const s = session(parsed);
    return s.run(async () => {
      const page = listPage(parsed.options.limit as string | undefined, parsed.options.offset as string | undefined);
      // listEnvs loads only the backends of the environments listed: their status tells what runs.
      return listBody(await s.engine({ deferBuiltins: true }), s.reporter, page);
    });
  }
  if (parsed.command !== 'build' || parsed.options.name !== undefined || parsed.options.offline || parsed.options.requirePinnedImage) return undefined;
  const s = session(parsed);
  let fallBack = false;
  const code = await s.run(async () => {
    const engine = await s.engine({ deferBuiltins: true });
    const result = await buildIfUpToDate(engine, { manifest: parsed.positionals.manifest, locked: parsed.options.locked === true });
    if (!result) {
      fallBack = true;
      return 0;
    }
    reportBuild(s.reporter, result);
    return 0;
  });
  return fallBack ? undefined : code;
}
