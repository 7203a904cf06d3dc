/** `karapace exec`'s work, shared by the clipanion command and the start-up fast path. */
import { execInEnv } from '@karapace/kernel';
import type { Session } from './session.js';

/** `command` is what to run, without the `--` that may have introduced it. */
export async function execBody(session: Session, env: string, command: string[], options: { root?: boolean } = {}): Promise<number> {
  // Only the environment's backend plugin is loaded (exec start-up time is a feature).
  const engine = await session.engine({ deferBuiltins: true });
  const json = session.options.json;
  const result = await execInEnv(engine, env, command, { capture: json, root: options.root === true });
  if (json) session.reporter.result({ exit_code: result.exitCode, stdout: result.stdout ?? '', stderr: result.stderr ?? '' }, () => '');
  return result.exitCode;
}
