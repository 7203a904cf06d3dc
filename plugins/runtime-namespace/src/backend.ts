/**
 * The `namespace` backend: rootless environments through the native launcher. mount checks
 * what can be checked before anything runs (launcher present, mounts allowed by the policy,
 * resource limits enforceable); spawn builds the launcher argv and runs it.
 */
import { mkdirSync } from 'node:fs';
import {
  invokingUser,
  securityPolicy,
  resolveMounts,
  type Backend,
  type EnvHandle,
  type InvokingUser,
  type Kernel,
  type MountPlan,
  type MountRequest,
  type RunState,
  type SpawnRequest,
  type SpawnResult,
} from '@karapace/kernel';
import { buildJoinArgv, buildLauncherArgv } from './argv.js';
import { CGROUP_FIX, cgroupSupport, createSandboxCgroup, describeCgroupSupport, neededControllers } from './cgroups.js';
import { guiSockets } from './gui.js';
import { chooseMapMode, findExecutable, idFacts } from './ids.js';
import { launcherPath, requireLauncher } from './launcher.js';
import type { NamespaceOptions } from './options.js';
import { chooseOverlay } from './overlay.js';
import { writeIdentityFiles } from './passwd.js';
import { childrenOf, hasLiveLauncher, isLive, joinableSandbox, livePidRecords } from './pid-record.js';
import { runLauncher } from './process.js';

export const BACKEND_NAME = 'namespace';

interface NamespacePlanData {
  launcher: string;
}

/** The invoking user as the engine described it (HOME/USER in the request win over the passwd db). */
function userFor(request: SpawnRequest): InvokingUser {
  const user = invokingUser();
  return { ...user, home: request.environment.HOME || user.home, name: request.environment.USER || user.name };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pid 1 of the env's running sandbox, waiting briefly for one that is still starting. */
async function runningSandbox(env: EnvHandle): Promise<number | undefined> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const pid1 = joinableSandbox(env);
    if (pid1 || !hasLiveLauncher(env) || Date.now() > deadline) return pid1;
    await sleep(20);
  }
}

export function createNamespaceBackend(kernel: Kernel, options: NamespaceOptions = {}): Backend {
  let warnedLimits = false;
  return {
    name: BACKEND_NAME,

    async mount(request: MountRequest): Promise<MountPlan> {
      const env = request.env;
      const launcher = requireLauncher(launcherPath(options.launcher));
      // Refused mounts fail here, before any process exists.
      resolveMounts(env.manifest.mounts, env.manifestDir, securityPolicy(kernel.config), invokingUser());
      for (const dir of [env.paths.upper, env.paths.work, env.paths.runtime]) mkdirSync(dir, { recursive: true });
      const needed = neededControllers(env.manifest.runtime.resource_limits);
      if (needed.length) {
        const support = cgroupSupport(needed);
        if (support.kind !== 'v2-delegated') {
          const message = `resource limits (${needed.join(', ')}) cannot be enforced on this host: ${describeCgroupSupport(support)}. Fix: ${CGROUP_FIX}`;
          if (request.purpose === 'install' && !warnedLimits) {
            warnedLimits = true;
            kernel.progress({ kind: 'log', level: 'warn', message });
          } else {
            kernel.logger.debug(message);
          }
        }
      }
      const data: NamespacePlanData = { launcher };
      return { backend: BACKEND_NAME, data };
    },

    async spawn(request: SpawnRequest): Promise<SpawnResult> {
      const env = request.env;
      const { launcher } = request.mount.data as NamespacePlanData;
      const user = userFor(request);
      const asRoot = request.user === 'root';
      const mapMode = chooseMapMode(idFacts(invokingUser()), options.idMapping);
      const ctx = {
        user,
        policy: securityPolicy(kernel.config),
        mapMode,
        overlay: chooseOverlay(options.overlay),
        identity: asRoot ? undefined : writeIdentityFiles(env, user),
        resolvConf: '/etc/resolv.conf',
        sockets: asRoot ? [] : guiSockets(env.manifest, process.env),
        hostCwd: process.cwd(),
      };
      // Already running: join that sandbox instead of mounting the upper dir a second time.
      if (!asRoot) {
        const pid1 = await runningSandbox(env);
        const setpriv = findExecutable('setpriv');
        const nsenter = findExecutable('nsenter');
        if (pid1 && setpriv && nsenter) {
          const join = buildJoinArgv(pid1, env, request, { ...ctx, setpriv, nsenter });
          kernel.logger.trace(`joining sandbox pid ${pid1}: ${join.argv.join(' ')}`);
          return runLauncher({ launcher: join.file, argv: join.argv, env, purpose: request.purpose, capture: request.stdio === 'capture', join: { environment: request.environment } });
        }
        if (pid1) kernel.logger.warn('the environment is already running and setpriv/nsenter (util-linux) are missing: starting a second sandbox on the same upper dir');
      }
      const { argv } = buildLauncherArgv(env, request, ctx);
      kernel.logger.trace(`karapace-sandbox ${argv.join(' ')}`);
      const limits = env.manifest.runtime.resource_limits;
      const needed = neededControllers(limits);
      const cgroup = needed.length ? createSandboxCgroup(cgroupSupport(needed), limits, env.shortId) : undefined;
      return runLauncher({ launcher, argv, env, purpose: request.purpose, capture: request.stdio === 'capture', cgroup });
    },

    async stop(env: EnvHandle, timeoutMs: number): Promise<boolean> {
      const records = livePidRecords(env);
      // Launchers forward SIGTERM to their command; a joined command is nsenter's child.
      const targets = (sig: NodeJS.Signals) => {
        for (const r of records) {
          if (!isLive(r)) continue;
          if (r.kind === 'join') for (const c of childrenOf(r.pid)) signal(c, sig);
          signal(r.pid, sig);
        }
      };
      targets('SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (records.some(isLive) && Date.now() < deadline) await sleep(25);
      // The launcher's death takes the sandbox's pid 1 with it (PDEATHSIG), and pid 1's
      // death the whole pid namespace, joined commands included.
      targets('SIGKILL');
      const killDeadline = Date.now() + 5000;
      while (records.some(isLive) && Date.now() < killDeadline) await sleep(10);
      return !records.some(isLive);
    },

    async status(env: EnvHandle): Promise<RunState> {
      return livePidRecords(env).length > 0 ? 'running' : 'stopped';
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
