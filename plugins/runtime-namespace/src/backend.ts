/**
 * The `namespace` backend: rootless environments through the native launcher. mount checks
 * what can be checked before anything runs (launcher present, mounts allowed by the policy,
 * resource limits enforceable); spawn builds the launcher argv and runs it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  etcPlan,
  invokingUser,
  missingDevicesWarning,
  securityPolicy,
  envHomeDir,
  storeLayout,
  resolveMounts,
  writeIdentityFiles,
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
import { buildJoinArgv, buildLauncherArgv, sandboxHostname } from './argv.js';
import { ownedBase } from './base-owners.js';
import { CGROUP_FIX, cgroupSupport, createSandboxCgroup, describeCgroupSupport, neededControllers } from './cgroups.js';
import { guiSockets } from './gui.js';
import { lockEnv, usesFlock } from './env-lock.js';
import { disarmExecPlan, offerExecPlan } from './exec-plan.js';
import { chooseMapMode, idFacts } from './ids.js';
import { hostExecClient, launcherPath, requireLauncher } from './launcher.js';
import type { NamespaceOptions } from './options.js';
import { chooseOverlay } from './overlay.js';
import { isLive, liveSandbox, livePidRecords, writeSandboxRecord } from './pid-record.js';
import { EXIT_SETUP, startLauncher } from './process.js';

export const BACKEND_NAME = 'namespace';

interface NamespacePlanData {
  launcher: string;
}

/**
 * The invoking user as the engine described it (HOME/USER in the request win over the passwd
 * db) — except for a process run as root, whose HOME/USER are root's, not the user's.
 */
function userFor(request: SpawnRequest): InvokingUser {
  const user = invokingUser();
  if (request.user === 'root') return user;
  return { ...user, home: request.environment.HOME || user.home, name: request.environment.USER || user.name };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createNamespaceBackend(kernel: Kernel, options: NamespaceOptions = {}): Backend {
  let warnedLimits = false;
  let warnedDevices = false;
  const withOwnedBase = (env: EnvHandle, launcher: string, facts: ReturnType<typeof idFacts>): EnvHandle => {
    const base = env.lowerDirs[env.lowerDirs.length - 1];
    if (!base) return env;
    const owned = ownedBase(kernel.storeRoot, base, launcher, invokingUser(), facts, () =>
      kernel.progress({ kind: 'log', level: 'info', message: 'copying the base image so its files belong to root inside (once per image, for full id mapping)' }));
    return { ...env, lowerDirs: [...env.lowerDirs.slice(0, -1), owned] };
  };
  return {
    name: BACKEND_NAME,
    // Every launcher's pid record is followed by a mark (the front door's too).
    marksRunning: true,

    async mount(request: MountRequest): Promise<MountPlan> {
      const env = request.env;
      const launcher = requireLauncher(launcherPath(options.launcher));
      // Refused mounts fail here, before any process exists.
      resolveMounts(env.manifest.mounts, env.manifestDir, securityPolicy(kernel.config), invokingUser());
      for (const dir of [env.paths.upper, env.paths.work, env.paths.runtime]) mkdirSync(dir, { recursive: true });
      // Asked-for devices the host lacks: said once at build, never silently dropped.
      const devices = request.purpose === 'install' && !warnedDevices ? missingDevicesWarning(env.manifest) : undefined;
      if (devices) {
        warnedDevices = true;
        kernel.progress({ kind: 'log', level: 'warn', message: devices });
      }
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
      const { launcher } = request.mount.data as NamespacePlanData;
      const user = userFor(request);
      const install = request.purpose === 'install';
      const facts = idFacts(invokingUser());
      const mapMode = chooseMapMode(facts, options.idMapping);
      // Full mapping: the image's files as root's inside (base-owners.ts), for installs too.
      const env = mapMode === 'full' ? withOwnedBase(request.env, launcher, facts) : request.env;
      const policy = securityPolicy(kernel.config);
      const ctx = {
        user,
        policy,
        mapMode,
        overlay: chooseOverlay(options.overlay),
        identity: install ? undefined : writeIdentityFiles(env, user),
        resolvConf: '/etc/resolv.conf',
        sockets: install ? [] : guiSockets(env.manifest, request.environment, policy),
        hostCwd: process.cwd(),
        etc: etcPlan(env, { hostname: sandboxHostname(env), ...(install || request.user === 'root' ? {} : { sudoUser: user }) }),
        allowSetuid: !install,
        envHome: install ? undefined : envHome(kernel, env),
        // Opt-in (docs/security-model.md): a server outside for as long as the sandbox runs.
        hostExec: !install && policy.hostIntegration.hostExec === true ? { socket: join(env.paths.runtime, 'host-exec.sock'), client: hostExecClient() } : undefined,
      };
      const limits = env.manifest.runtime.resource_limits;
      const needed = neededControllers(limits);
      const capture = request.stdio === 'capture';
      // `list` asks only about marked environments.
      const marked = () => kernel.markRunning(request.env);
      const start = (fresh = false, onReady?: (pid: number) => void) => {
        const { argv } = buildLauncherArgv(env, request, ctx);
        kernel.logger.trace(`karapace-sandbox ${argv.join(' ')}`);
        // A new sandbox for exec/enter: the native front door may start the next one the same way.
        // Not with host commands: their server needs the CLI's whole environment, the front door passes PATH.
        if (fresh) offerExecPlan({ kernel, launcher, argv, env, request, plain: needed.length === 0 && !ctx.hostExec, flock: usesFlock(launcher) });
        const cgroup = needed.length ? createSandboxCgroup(cgroupSupport(needed), limits, env.shortId) : undefined;
        // Host commands run with the environment of the CLI that started the sandbox.
        return startLauncher({ launcher, argv, kind: 'launcher', env, purpose: request.purpose, capture, onOutput: request.onOutput, cgroup, hostEnvironment: ctx.hostExec !== undefined, onRecorded: marked, onReady });
      };
      // Installs run alone (the engine holds the store lock); no one joins them.
      if (install) return start().done;

      // Running → join it, else start one: decided under the env lock, which is held until
      // the new sandbox is ready (or the join is in), so two execs never both mount it. The
      // lock goes as the launcher says so (onReady), while it runs: process.ts may run it to the end.
      const lock = await lockEnv(env, launcher);
      try {
        const pid1 = liveSandbox(env);
        if (pid1) {
          disarmExecPlan();
          const argv = buildJoinArgv(pid1, env, request, ctx);
          kernel.logger.trace(`joining sandbox pid ${pid1}: karapace-sandbox ${argv.join(' ')}`);
          const join = startLauncher({ launcher, argv, kind: 'join', env, purpose: request.purpose, capture, onRecorded: marked, onReady: () => lock.release() });
          if (await join.ready) return join.done;
          // It was ending between our look and setns: start a fresh one once it is gone (the
          // join said why on stderr). A sandbox that stays up refused the join for another reason.
          const failed = await join.done;
          if (failed.exitCode !== EXIT_SETUP) return failed;
          const gone = Date.now() + 2000;
          while (liveSandbox(env) === pid1 && Date.now() < gone) await sleep(10);
          if (liveSandbox(env)) return failed;
          kernel.logger.debug(`sandbox ${pid1} ended before the join; starting a new one`);
        }
        const launch = start(true, (pid1) => {
          writeSandboxRecord(env, pid1);
          lock.release();
        });
        await launch.ready;
        return launch.done;
      } finally {
        lock.release();
      }
    },

    async stop(env: EnvHandle, timeoutMs: number): Promise<boolean> {
      const records = livePidRecords(env);
      // Launchers (joining ones too) forward SIGTERM to their command; a sandbox's pid 1
      // that stays only for joined commands passes it to everything inside.
      const pid1 = liveSandbox(env);
      const alive = () => records.some(isLive) || (pid1 !== undefined && liveSandbox(env) === pid1);
      const targets = (sig: NodeJS.Signals) => {
        for (const r of records) if (isLive(r)) signal(r.pid, sig);
        if (pid1 !== undefined && liveSandbox(env) === pid1) signal(pid1, sig);
      };
      targets('SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (alive() && Date.now() < deadline) await sleep(25);
      // pid 1's death ends the whole pid namespace, joined commands included (and a
      // launcher's death takes its pid 1 with it: PDEATHSIG).
      targets('SIGKILL');
      const killDeadline = Date.now() + 5000;
      while (alive() && Date.now() < killDeadline) await sleep(10);
      return !alive();
    },

    async status(env: EnvHandle): Promise<RunState> {
      return runState(env);
    },

    async statusAll(envs: readonly EnvHandle[]): Promise<RunState[]> {
      return envs.map(runState);
    },

    // Single-id installs write the user's owners, full mapping root's (subordinate ids).
    async ownerMapping(): Promise<string> {
      return chooseMapMode(idFacts(invokingUser()), options.idMapping);
    },
  };
}

/** `[runtime] home = "env"`: the env's own home, made on first use (mode 0700, owned by the caller). */
function envHome(kernel: Kernel, env: EnvHandle): string | undefined {
  if (env.manifest.runtime.home !== 'env') return undefined;
  const dir = envHomeDir(storeLayout(kernel.storeRoot), env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Running while a launcher it recorded, or its sandbox's pid 1, is alive. */
function runState(env: EnvHandle): RunState {
  return livePidRecords(env).length > 0 || liveSandbox(env) !== undefined ? 'running' : 'stopped';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
