/**
 * karapace-backend-unshare: an example third-party backend. It runs an environment's
 * commands with util-linux's unshare(1) (user, mount, pid and optionally network
 * namespaces; the invoking user is root inside) and chroot(8) into the kernel's overlayfs
 * over the environment's layers, writes landing in its upper directory.
 *
 * It imports nothing from @karapace/kernel: the host hands it its own kernel's runtime API
 * in apply(kernel) as `kernel.api` (errors, process helpers, capability names), so it works
 * with the installed CLI whatever bundles it. package.json's `engines.karapace` says which
 * kernel API versions it was written for; the host checks it when loading the plugin.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'karapace-backend-unshare';
const BACKEND = 'unshare';

// Runs inside the new namespaces, as root there: mount the root, /proc, /dev and the
// manifest's mounts, then chroot. Arguments: root lower upper work readonly path cwd
// [src dst ro]... -- argv...
const SETUP = String.raw`set -e
root=$1; lower=$2; upper=$3; work=$4; readonly=$5; path=$6; cwd=$7; shift 7
if [ "$readonly" = 1 ]; then mount -t overlay overlay -o "lowerdir=$upper:$lower" "$root"
else mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"; fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev" 2>/dev/null || true
while [ "$1" != -- ]; do
  [ -d "$root$2" ] || mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  [ "$3" = 1 ] && mount -o remount,bind,ro "$root$2"
  shift 3
done
shift
chroot=$(command -v chroot)
# The shell stays pid 1 of the new pid namespace and runs the command as its child: the
# kernel drops signals pid 1 has no handler for, so a command that were pid 1 would survive
# its own kill -TERM $$ or a ^C. (A trailing exit keeps the shell from exec'ing it.)
PATH=$path exec "$chroot" "$root" /bin/sh -c 'cd "$0" 2>/dev/null || cd /; "$@"; exit $?' "$cwd" "$@"`;

const pidFile = (env) => join(env.paths.runtime, `${BACKEND}.pid`);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(env) {
  try {
    const pid = Number(readFileSync(pidFile(env), 'utf8'));
    return pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function createBackend(api, options) {
  const { RuntimeFailure } = api.errors;
  const { collectOutput, exitStatus, forwardSignals, findExecutable } = api.process;
  const unshare = options.unshare ?? findExecutable('unshare');
  return {
    name: BACKEND,
    // What this backend enforces; the host refuses manifests asking for anything else
    // (resource limits, devices) when it is the backend.
    capabilities: { readOnlyRoot: true, mounts: true, networkIsolation: true, tty: true, resourceLimits: false, devices: false },
    async mount(request) {
      if (!unshare) {
        throw new RuntimeFailure('UNSHARE_MISSING', 'unshare(1) is not installed', { hint: 'install util-linux, or set the "unshare" option of karapace-backend-unshare' });
      }
      for (const dir of [request.env.paths.upper, request.env.paths.work, request.env.paths.runtime]) mkdirSync(dir, { recursive: true });
      const root = join(request.env.paths.runtime, `${BACKEND}-root`);
      mkdirSync(root, { recursive: true });
      return { backend: BACKEND, root };
    },
    spawn(request) {
      const { env } = request;
      const environment = { ...request.environment, ...(options.environment ?? {}) };
      const mounts = (request.mounts ?? []).flatMap((m) => [m.source, m.target, m.readOnly ? '1' : '0']);
      const args = [
        '--user', '--map-root-user', '--mount', '--pid', '--fork', '--kill-child', ...(request.network ? [] : ['--net']),
        'sh', '-c', SETUP, 'setup', request.mount.root, env.lowerDirs.join(':'), env.paths.upper, env.paths.work,
        request.readOnly ? '1' : '0', environment.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', request.cwd ?? '/', ...mounts, '--', ...request.argv,
      ];
      return new Promise((resolve, reject) => {
        const capture = request.stdio === 'capture';
        const child = spawn(unshare, args, {
          env: { ...environment, PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
          stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
        });
        const output = collectOutput(child);
        const stopForwarding = forwardSignals(child);
        child.on('spawn', () => writeFileSync(pidFile(env), String(child.pid)));
        child.on('error', (err) => {
          stopForwarding();
          reject(new RuntimeFailure('UNSHARE_FAILED', `unshare failed to start: ${err.message}`, { hint: 'check that util-linux is installed' }));
        });
        child.on('close', (code, signal) => {
          stopForwarding();
          rmSync(pidFile(env), { force: true });
          resolve({ exitCode: exitStatus(code, signal), ...(capture ? output() : {}) });
        });
      });
    },
    async stop(env, timeoutMs) {
      const pid = readPid(env);
      if (!pid) return true;
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      return true;
    },
    async status(env) {
      return readPid(env) ? 'running' : 'stopped';
    },
  };
}

export default {
  name: NAME,
  /** Options: `unshare` (path of unshare(1)), `environment` (variables added inside every environment). */
  validateOptions(options) {
    if (options.unshare !== undefined && typeof options.unshare !== 'string') return '"unshare" must be a path';
    if (options.environment !== undefined && (typeof options.environment !== 'object' || Object.values(options.environment).some((v) => typeof v !== 'string'))) {
      return '"environment" must map names to strings';
    }
    return undefined;
  },
  apply(kernel, options) {
    kernel.registerBackend(createBackend(kernel.api, options ?? {}), NAME);
    kernel.hooks.doctor.tapPromise(NAME, async (report) => {
      const ok = spawnSync(options.unshare ?? 'unshare', ['--user', '--map-root-user', '--mount', 'true']).status === 0;
      report.checks.push({
        id: 'unshare.userns', title: 'unshare(1) into a user and mount namespace', required: false, plugin: NAME,
        status: ok ? 'ok' : 'warn',
        ...(ok ? {} : { fix: 'install util-linux and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)' }),
      });
    });
  },
};
