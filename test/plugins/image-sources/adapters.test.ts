import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apk, apt, APT_CONFIG, APT_CONFIG_FILE, detectPackageManager, dnf, installPackages, pacman, splitApkNameVersion, zypper } from '@karapace/image-sources';
import type { InstallRequest, SpawnResult } from '@karapace/kernel';

const FIXTURES = fileURLToPath(new URL('../../fixtures/package-managers/', import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

test('apt: commands, pinned installs, offline, and dpkg-query output', (t) => {
  t.deepEqual(apt.refresh(), ['apt-get', '-o', 'APT::Sandbox::User=root', '-o', 'Dpkg::Use-Pty=0', '-o', 'APT::Color=0', '-q', 'update']);
  const install = apt.install(['curl', 'git'], { git: '1:2.39.5-0+deb12u2' }, { offline: false });
  t.true(install.includes('APT::Sandbox::User=root'));
  t.deepEqual(install.slice(-3), ['install', 'curl', 'git=1:2.39.5-0+deb12u2']);
  t.true(install.includes('--no-install-recommends'));
  t.false(install.includes('--no-download'));
  t.true(apt.install(['git'], undefined, { offline: true }).includes('--no-download'));
  t.deepEqual(apt.query(['git']), ['dpkg-query', '-W', '-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n', 'git']);
  t.deepEqual(apt.parseQuery(fixture('dpkg-query.txt')), [
    { name: 'bash', version: '5.2.15-2+b8' },
    { name: 'coreutils', version: '9.1-1' },
    { name: 'libc6', version: '2.36-9+deb12u14' },
  ]);
  // Removed-but-configured packages are not installed.
  t.deepEqual(apt.parseQuery('git\t1:2.39.5\trc \n'), []);
  t.true(apt.needsNetwork("E: Can't find a source to download version '2.39' of 'git:amd64'"));
});

test('every adapter cleans its downloads after an install; apt keeps its lists, compressed', (t) => {
  const script = (argv: string[]) => (argv[0] === 'sh' && argv[1] === '-c' ? argv[2]! : undefined);
  t.deepEqual(apt.clean()[0], ['apt-get', '-o', 'APT::Sandbox::User=root', '-o', 'Dpkg::Use-Pty=0', '-o', 'APT::Color=0', 'clean']);
  t.is(script(apt.clean()[1]!), 'rm -f /var/cache/apt/*.bin');
  t.false(apt.clean().flat().some((a) => a.includes('/var/lib/apt/lists')));
  const [configure] = apt.configure!();
  t.is(script(configure!), `mkdir -p /etc/apt/apt.conf.d && printf '%s\\n' "$@" > ${APT_CONFIG_FILE}`);
  t.deepEqual(configure!.slice(3), ['sh', ...APT_CONFIG]);
  t.true(APT_CONFIG.includes('Acquire::GzipIndexes "true";'));
  t.deepEqual(dnf.clean(), [['dnf', '--quiet', 'clean', 'all']]);
  t.deepEqual(zypper.clean(), [['zypper', '--non-interactive', 'clean', '--all']]);
  // Not `pacman -Scc --noconfirm`: its prompt defaults to keeping the cache.
  t.is(script(pacman.clean()[0]!), 'rm -rf /var/cache/pacman/pkg/* /var/lib/pacman/sync/*');
  t.is(script(apk.clean()[0]!), 'rm -rf /var/cache/apk/*');
});

test('dnf and zypper: commands and rpm query output (epochs kept)', (t) => {
  t.deepEqual(dnf.install(['git', 'vim-enhanced'], { 'vim-enhanced': '2:9.1.393-1.fc40' }, { offline: false }).slice(-2), ['git', 'vim-enhanced-2:9.1.393-1.fc40']);
  t.true(dnf.install(['git'], undefined, { offline: true }).includes('--cacheonly'));
  t.deepEqual(dnf.refresh(), ['dnf', '-y', '--quiet', 'makecache']);
  t.deepEqual(zypper.install(['git'], { git: '2.45.2-1.1' }, { offline: false }), ['zypper', '--non-interactive', 'install', '--no-recommends', 'git=2.45.2-1.1']);
  t.true(zypper.install(['git'], undefined, { offline: true }).includes('--no-refresh'));
  t.deepEqual(dnf.query(['git'])[0], 'rpm');
  const parsed = dnf.parseQuery(fixture('rpm-q.txt'));
  t.deepEqual(parsed, [
    { name: 'bash', version: '5.2.26-3.fc40' },
    { name: 'git', version: '2.45.2-2.fc40' },
    { name: 'vim-enhanced', version: '2:9.1.393-1.fc40' },
  ]);
  t.deepEqual(zypper.parseQuery(fixture('rpm-q.txt')), parsed);
});

test('pacman and apk: commands and output parsing', (t) => {
  t.deepEqual(pacman.install(['git'], { git: '2.45.2-1' }, { offline: false }), ['pacman', '-S', '--noconfirm', '--needed', '--noprogressbar', 'git=2.45.2-1']);
  t.deepEqual(pacman.parseQuery(fixture('pacman-Q.txt')), [{ name: 'bash', version: '5.2.026-2' }, { name: 'git', version: '2.45.2-1' }]);
  t.deepEqual(apk.install(['git'], { git: '2.45.2-r0' }, { offline: true }), ['apk', 'add', '--no-progress', '--progress-fd', '2', '--no-network', 'git=2.45.2-r0']);
  t.deepEqual(splitApkNameVersion('ca-certificates-bundle-20240705-r0'), { name: 'ca-certificates-bundle', version: '20240705-r0' });
  const parsed = apk.parseQuery(fixture('apk-list-installed.txt'));
  t.deepEqual(parsed.find((p) => p.name === 'git'), { name: 'git', version: '2.45.2-r0' });
  t.deepEqual(parsed.find((p) => p.name === 'libcrypto3'), { name: 'libcrypto3', version: '3.3.1-r3' });
  t.is(parsed.length, 5);
});

test('the package manager is detected from marker files, not through symlinks out of the rootfs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-detect-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const make = (name: string, files: string[]) => {
    const root = join(dir, name);
    for (const f of files) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), '');
    }
    return root;
  };
  t.is(await detectPackageManager(make('debian', ['usr/bin/apt-get', 'usr/bin/dpkg'])), 'apt');
  t.is(await detectPackageManager(make('fedora', ['usr/bin/dnf5', 'usr/bin/rpm'])), 'dnf');
  t.is(await detectPackageManager(make('suse', ['usr/bin/zypper', 'usr/bin/rpm'])), 'zypper');
  t.is(await detectPackageManager(make('arch', ['usr/bin/pacman'])), 'pacman');
  t.is(await detectPackageManager(make('alpine', ['sbin/apk'])), 'apk');
  t.is(await detectPackageManager(make('empty', ['etc/os-release'])), 'none');
  // /sbin -> the host's /usr/sbin must not make the host's tools count.
  const evil = make('evil', ['etc/os-release']);
  symlinkSync('/usr/bin', join(evil, 'usr'));
  t.is(await detectPackageManager(evil), 'none');
});

test('install runs refresh, install and query through request.run and reports exact versions', async (t) => {
  const calls: string[][] = [];
  const outputs: Record<string, SpawnResult> = {
    'apt-get': { exitCode: 0, stdout: 'ok\n', stderr: '' },
    'dpkg-query': { exitCode: 0, stdout: 'git\t1:2.39.5-0+deb12u2\tii \ncurl\t7.88.1-10+deb12u12\tii \n', stderr: '' },
    sh: { exitCode: 0, stdout: '', stderr: '' },
    configure: { exitCode: 0, stdout: '', stderr: '' },
  };
  const request = {
    packageManager: 'apt', packages: ['curl', 'git'], offline: false,
    env: {} as InstallRequest['env'],
    run: async (argv: string[]) => {
      calls.push(argv);
      return outputs[argv[2]?.includes(APT_CONFIG_FILE) ? 'configure' : argv[0]!]!;
    },
  } satisfies InstallRequest;
  const result = await installPackages(undefined, request);
  t.deepEqual(result, { packages: [{ name: 'curl', version: '7.88.1-10+deb12u12' }, { name: 'git', version: '1:2.39.5-0+deb12u2' }] });
  const named = (c: string[]) => (c.at(-1) === 'update' ? 'update' : c.at(-1) === 'clean' ? 'clean' : c[2]?.includes(APT_CONFIG_FILE) ? 'configure' : c[0]);
  t.deepEqual(calls.map(named), ['configure', 'update', 'apt-get', 'clean', 'sh', 'dpkg-query']);

  // A clean that fails is a warning: the install stands, the query still runs.
  calls.length = 0;
  const warnings: string[] = [];
  const kernel = { progress: (e: { kind: string; level?: string; message?: string }) => { if (e.level === 'warn') warnings.push(e.message!); } };
  outputs.sh = { exitCode: 1, stdout: '', stderr: 'rm: cannot remove: Read-only file system\n' };
  t.deepEqual(await installPackages(kernel as never, request), result);
  t.deepEqual(calls.map(named), ['configure', 'update', 'apt-get', 'clean', 'sh', 'dpkg-query']);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /cleaning apt's caches failed .*exited 1.*Read-only file system/);
  outputs.sh = { exitCode: 0, stdout: '', stderr: '' };

  // A configuration that cannot be written fails the build before anything is fetched.
  calls.length = 0;
  outputs.configure = { exitCode: 1, stdout: '', stderr: 'sh: 1: cannot create /etc/apt/apt.conf.d/90karapace: Read-only file system\n' };
  await t.throwsAsync(installPackages(undefined, request), { code: 'KP_PM_FAILED', message: /configuring apt failed[^]*Read-only file system/ } as never);
  t.deepEqual(calls.map(named), ['configure']);
  outputs.configure = { exitCode: 0, stdout: '', stderr: '' };

  // Offline: configured, no refresh; a download failure becomes KP_OFFLINE_DOWNLOAD.
  calls.length = 0;
  outputs['apt-get'] = { exitCode: 100, stdout: '', stderr: "E: Can't find a source to download version '1:2.39.5' of 'git:amd64'\n" };
  await t.throwsAsync(installPackages(undefined, { ...request, offline: true }), { code: 'KP_OFFLINE_DOWNLOAD' } as never);
  t.false(calls.some((c) => c.includes('update')));
  t.is(named(calls[0]!), 'configure');
  // Not offline: the failure says what failed, with the tool's output.
  await t.throwsAsync(installPackages(undefined, request), { code: 'KP_PM_FAILED', message: /Can't find a source/ } as never);
  // Not our package manager: the hook passes.
  t.is(await installPackages(undefined, { ...request, packageManager: 'mock' }), undefined);
});

test('an install reads its tool\'s progress lines as they arrive, split anywhere, and reports them in order (pacman, captured)', async (t) => {
  const output = fixture('pacman-install.txt');
  const request = {
    packageManager: 'pacman', packages: ['hello'], offline: false,
    env: {} as InstallRequest['env'],
    run: async (argv: string[], options?: { onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void }) => {
      if (argv[1] === '-S' && options?.onOutput) {
        // Chunks of 7 bytes: lines arrive in pieces, as from a pipe.
        for (let i = 0; i < output.length; i += 7) options.onOutput('stdout', output.slice(i, i + 7));
        return { exitCode: 0, stdout: output, stderr: '' };
      }
      return argv[1] === '-Q' ? { exitCode: 0, stdout: 'hello 1.0-1\n', stderr: '' } : { exitCode: 0, stdout: '', stderr: '' };
    },
  } satisfies InstallRequest;
  const events: { done: number; stage?: string }[] = [];
  const kernel = { progress: (e: { kind: string; done?: number; stage?: string }) => { if (e.kind === 'advance') events.push({ done: e.done!, stage: e.stage }); } };
  t.deepEqual(await installPackages(kernel as never, request), { packages: [{ name: 'hello', version: '1.0-1' }] });
  const stages = events.map((e) => e.stage).filter((s, i, all) => s !== all[i - 1]);
  t.deepEqual(stages, ['updating package lists', 'downloading packages', 'installing packages', 'cleaning caches']);
  // A new stage is always reported: the first install line is the third of four steps.
  t.is(events.find((e) => e.stage === 'installing packages')!.done, 75);
  t.true(events.every((e, i) => i === 0 || e.done >= events[i - 1]!.done), JSON.stringify(events));
});
