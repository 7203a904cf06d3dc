/**
 * Start-up fast path for `push` and `pull` to a karapace-server (http:// or https://):
 * parsed by fast-dispatch.cts, run with only the remote-http plugin (plus config plugins)
 * from the CommonJS bundle bundle/remote.cjs, which karapace.cts loads with a V8 code
 * cache. Anything unusual — help, unknown flags, a wrong number of arguments, an OCI or
 * third-party remote, a remote that cannot be chosen — goes to the full CLI, so
 * behaviour, output and messages stay the same.
 */
import { pullEnvironment, pushEnvironment, selectRemote } from '@karapace/kernel';
import type { BuiltinPlugin, Engine } from '@karapace/kernel';
import type { FastArgs } from './fast-dispatch.cjs';
import { reportPull, reportPush } from './remote-output.js';
import { Session } from './session.js';

/** The only built-in the fast path offers: push/pull to http(s) URLs need nothing else. */
export const REMOTE_BUILTINS: readonly BuiltinPlugin[] = [
  { module: '@karapace/remote-http', load: () => import('@karapace/remote-http') },
];

/** Runs push/pull; undefined when the full CLI must handle it after all. */
export async function runRemoteFastPath(parsed: FastArgs): Promise<number | undefined> {
  const session = new Session(parsed.global, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, REMOTE_BUILTINS);
  const selection = { remote: parsed.options.remote as string | undefined, tokenEnv: parsed.options.tokenEnv as string | undefined };
  let engine: Engine;
  try {
    engine = await session.engine({ deferBuiltins: true });
    // Only karapace-servers are served here. A remote that cannot be chosen is reported by the
    // full CLI, which checks the command's other arguments first.
    if (!/^https?:\/\//i.test(selectRemote(engine, selection).url)) return undefined;
  } catch {
    return undefined;
  }
  return session.run(async () => {
    await engine.loadBuiltins();
    if (parsed.command === 'push') {
      reportPush(session.reporter, await pushEnvironment(engine, { env: parsed.positionals.env!, reference: parsed.positionals.reference, ...selection }));
    } else {
      reportPull(session.reporter, await pullEnvironment(engine, { reference: parsed.positionals.reference!, name: parsed.options.name as string | undefined, ...selection }));
    }
    return 0;
  });
}
