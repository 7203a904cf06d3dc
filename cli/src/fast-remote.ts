/**
 * Start-up fast path for `push` and `pull` to a karapace-server (http:// or https://):
 * parsed without clipanion, run with only the remote-http plugin (plus config plugins)
 * from the CommonJS bundle bundle/remote.cjs, which karapace.cts loads with a V8 code
 * cache. Anything unusual — help, unknown flags, a wrong number of arguments, an OCI or
 * third-party remote, a remote that cannot be chosen — goes to the full CLI, so
 * behaviour, output and messages stay the same.
 */
import { pullEnvironment, pushEnvironment, selectRemote } from '@karapace/remote-http';
import type { BuiltinPlugin, Engine } from '@karapace/kernel';
import { globalOption } from './fast-exec.js';
import { reportPull, reportPush } from './remote-output.js';
import { Session, type GlobalOptions } from './session.js';

interface Common {
  options: GlobalOptions;
  remote?: string;
  tokenEnv?: string;
}

export type RemoteFastPath =
  | (Common & { kind: 'push'; env: string; reference?: string })
  | (Common & { kind: 'pull'; reference: string; name?: string });

/** The only built-in the fast path offers: push/pull to http(s) URLs need nothing else. */
export const REMOTE_BUILTINS: readonly BuiltinPlugin[] = [
  { module: '@karapace/remote-http', load: () => import('@karapace/remote-http') },
];

/** The string options each command takes (clipanion field → flag). */
const STRING_OPTIONS: Record<'push' | 'pull', Record<string, 'remote' | 'tokenEnv' | 'name'>> = {
  push: { '--remote': 'remote', '--token-env': 'tokenEnv' },
  pull: { '--remote': 'remote', '--token-env': 'tokenEnv', '--name': 'name' },
};

export function parseRemoteFastPath(args: string[]): RemoteFastPath | undefined {
  const kind = args[0];
  if (kind !== 'push' && kind !== 'pull') return undefined;
  const options: GlobalOptions = { json: false, verbose: false, trace: false };
  const values: Partial<Record<'remote' | 'tokenEnv' | 'name', string>> = {};
  const positionals: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    const took = globalOption(args, i, options);
    if (took) {
      i += took - 1;
      continue;
    }
    if (!arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const field = STRING_OPTIONS[kind][flag];
    // Help, `--`, unknown or repeated flags, a value that looks like a flag: the full parser decides.
    if (!field || values[field] !== undefined) return undefined;
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || (eq < 0 && value.startsWith('-'))) return undefined;
    values[field] = value;
  }
  if (kind === 'push') {
    if (positionals.length < 1 || positionals.length > 2) return undefined;
    return { kind, options, env: positionals[0]!, reference: positionals[1], remote: values.remote, tokenEnv: values.tokenEnv };
  }
  if (positionals.length !== 1) return undefined;
  return { kind, options, reference: positionals[0]!, name: values.name, remote: values.remote, tokenEnv: values.tokenEnv };
}

/** Runs push/pull; undefined when the full CLI must handle it after all. */
export async function runRemoteFastPath(parsed: RemoteFastPath): Promise<number | undefined> {
  const session = new Session(parsed.options, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, REMOTE_BUILTINS);
  const selection = { remote: parsed.remote, tokenEnv: parsed.tokenEnv };
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
    if (parsed.kind === 'push') {
      reportPush(session.reporter, await pushEnvironment(engine, { env: parsed.env, reference: parsed.reference, ...selection }));
    } else {
      reportPull(session.reporter, await pullEnvironment(engine, { reference: parsed.reference, name: parsed.name, ...selection }));
    }
    return 0;
  });
}
