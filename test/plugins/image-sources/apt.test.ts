/**
 * apt for real: the Debian bookworm rootfs (mmdebstrap, cached) is resolved into a temp
 * store and `hello` is installed into it from the apt mirror, with commands run inside the
 * rootfs by bubblewrap as root (the environment backends are tested elsewhere; this tests
 * the adapter against the real apt/dpkg).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import type { InstallRequest, SpawnResult } from '@karapace/kernel';
import { installPackages } from '@karapace/image-sources';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { have, tempStore } from './_helpers.js';

function bwrapRunner(rootfs: string, network: boolean) {
  return (argv: string[], options?: { capture?: boolean; environment?: Record<string, string> }): Promise<SpawnResult> =>
    new Promise((resolve, reject) => {
      const args = [
        '--bind', rootfs, '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp',
        '--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf', '--unshare-pid', ...(network ? [] : ['--unshare-net']),
        '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin:/sbin:/bin', '--setenv', 'HOME', '/root',
        ...Object.entries(options?.environment ?? {}).flatMap(([k, v]) => ['--setenv', k, v]),
        '--', ...argv,
      ];
      const child = spawn('bwrap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
    });
}

const why = process.getuid?.() !== 0 ? 'these tests run apt as root inside the rootfs (run as root, as CI does)'
  : !have('bwrap') ? 'bubblewrap is not installed (apt-get install bubblewrap)'
  : debianRootfsUnavailable();
if (why) console.error(`apt test skipped: ${why}`);

(why ? test.skip : test)('apt installs a package from the mirror, reports its exact version, installs it pinned, and fails clearly offline', async (t) => {
  const store = tempStore(t);
  const base = await store.resolve(debianRootfsTarball());
  t.is(base!.packageManager, 'apt');
  const request = (packages: string[], extra: Partial<InstallRequest> = {}): InstallRequest => ({
    packageManager: 'apt', packages, offline: false, env: {} as InstallRequest['env'], run: bwrapRunner(base!.rootfs, !extra.offline), ...extra,
  });
  const result = await installPackages(store.kernel, request(['hello']));
  t.is(result!.packages.length, 1);
  const { version } = result!.packages[0]!;
  t.regex(version, /^\d[\w.+:~-]*$/);
  const hello = await bwrapRunner(base!.rootfs, false)(['hello']);
  t.is(hello.stdout.trim(), 'Hello, world!');
  const query = await bwrapRunner(base!.rootfs, false)(['dpkg-query', '-W', '-f=${Version}', 'hello']);
  t.is(query.stdout, version);

  // --locked: name=version, and the exact version comes back.
  const pinned = await installPackages(store.kernel, request(['hello'], { pinned: { hello: version } }));
  t.deepEqual(pinned!.packages, [{ name: 'hello', version }]);

  // Offline (no network in the sandbox, --no-download): a package that is not cached fails clearly.
  await t.throwsAsync(installPackages(store.kernel, request(['cowsay'], { offline: true })), { code: 'KP_OFFLINE_DOWNLOAD', message: /--offline/ } as never);
  // A package that does not exist is a clear failure too.
  await t.throwsAsync(installPackages(store.kernel, request(['no-such-package-kp'])), { code: 'KP_PM_FAILED', message: /Unable to locate package/ } as never);
});
