/**
 * With full subordinate-id mapping, files in an env's upper/work dirs belong to subordinate
 * ids on the host, which the user cannot delete (or read) directly — rootless Podman has
 * `podman unshare` for this. Before destroy, we give everything back to the user from inside
 * a user namespace with the same mapping, using the host's own chown/chmod.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { invokingUser, RuntimeFailure, type EnvHandle } from '@karapace/kernel';
import { buildHostMappingArgv } from './argv.js';
import { chooseMapMode, idFacts } from './ids.js';
import { launcherPath, requireLauncher } from './launcher.js';
import type { NamespaceOptions } from './options.js';

/** True when something below `dir` (checked breadth-first, bounded) is not owned by `uid`. */
function hasForeignOwner(dir: string, uid: number, budget = 20_000): boolean {
  const queue = [dir];
  while (queue.length && budget-- > 0) {
    const d = queue.shift()!;
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return true; // unreadable: certainly not ours to delete as is
    }
    for (const name of entries) {
      const st = lstatSync(join(d, name));
      if (st.uid !== uid) return true;
      if (st.isDirectory()) queue.push(join(d, name));
    }
  }
  return budget <= 0;
}

export function reclaimEnvDir(env: EnvHandle, options: NamespaceOptions): void {
  const user = invokingUser();
  if (chooseMapMode(idFacts(user), options.idMapping) !== 'full') return;
  const dirs = [env.paths.upper, env.paths.work].filter((d) => existsSync(d));
  if (!dirs.some((d) => hasForeignOwner(d, user.uid))) return;
  const launcher = requireLauncher(launcherPath(options.launcher));
  // Inside, root (a subordinate id with capabilities over the mapped range) hands every file back.
  const script = 'chown -R "$1:$2" /tmp/env && chmod -R u+rwX /tmp/env';
  const r = spawnSync(launcher, buildHostMappingArgv([{ source: env.paths.dir, target: '/tmp/env' }], ['/bin/sh', '-c', script, 'reclaim', String(user.uid), String(user.gid)]), { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) {
    throw new RuntimeFailure('KP_NS_RECLAIM_FAILED', `could not take back the files of ${env.shortId} from its subordinate ids: ${(r.stderr || r.error?.message || '').trim()}`, {
      hint: `remove ${env.paths.dir} as root, or check /etc/subuid and /etc/subgid`,
    });
  }
}
