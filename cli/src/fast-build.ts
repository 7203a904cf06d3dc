/**
 * Start-up fast path for a `build` that has work to do (a warm one is answered by
 * fast-exec.ts without loading any plugin): parsed by fast-dispatch.cts and run with only
 * the built-ins a build can need — the backends, the image sources and app export — from the
 * CommonJS bundle bundle/build.cjs, which karapace.cts loads with a V8 code cache.
 * Behaviour, output and messages are BuildCommand's.
 */
import { build, type BuiltinPlugin } from '@karapace/kernel';
import { BACKEND_BUILTINS } from './backend-builtins.js';
import { reportBuild } from './build-output.js';
import type { FastArgs } from './fast-dispatch.cjs';
import { lazyStdio } from './lazy-stdio.js';
import { Session } from './session.js';

/** What a build may load: its backend, the image sources and app export (remotes never take part). */
export const BUILD_BUILTINS: readonly BuiltinPlugin[] = [
  ...BACKEND_BUILTINS,
  { module: '@karapace/image-sources', load: () => import('@karapace/image-sources') },
  { module: '@karapace/app-export', load: () => import('@karapace/app-export') },
];

/** Runs the build as BuildCommand does. */
export async function runBuildFastPath(parsed: FastArgs): Promise<number> {
  // Node's streams only when something needs more than a plain write (as exec.cjs does).
  const session = new Session(parsed.global, { stdout: lazyStdio('stdout'), stderr: lazyStdio('stderr'), env: process.env, cwd: process.cwd() }, BUILD_BUILTINS);
  return session.run(async () => {
    const engine = await session.engine({ deferBuiltins: true });
    const result = await build(engine, {
      manifest: parsed.positionals.manifest,
      name: parsed.options.name as string | undefined,
      locked: parsed.options.locked === true,
      offline: parsed.options.offline === true,
      requirePinnedImage: parsed.options.requirePinnedImage === true,
    });
    reportBuild(session.reporter, result);
    return 0;
  });
}
