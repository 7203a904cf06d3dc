/** The launcher argv builder and the host-fact helpers, without running anything. */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvHandle, NormalizedManifest } from '@karapace/kernel';
import { buildJoinArgv, buildLauncherArgv, type LauncherContext } from '../../../plugins/runtime-namespace/src/argv.js';
import { chooseMapMode, findSubidRange } from '../../../plugins/runtime-namespace/src/ids.js';
import { groupWithUser, passwdWithUser } from '@karapace/kernel';
import { cgroupSupport, sharesToWeight } from '../../../plugins/runtime-namespace/src/cgroups.js';
import { validateOptions } from '../../../plugins/runtime-namespace/src/options.js';
import { kernelOverlayInUserns } from '../../../plugins/runtime-namespace/src/overlay.js';

const dir = mkdtempSync(join(tmpdir(), 'kp-argv-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const home = join(dir, 'home/alice');
const ws = join(dir, 'project/ws');
mkdirSync(home, { recursive: true });
mkdirSync(ws, { recursive: true });

function env(over: Partial<NormalizedManifest> = {}): EnvHandle {
  const manifest: NormalizedManifest = {
    manifest_version: 1, base: { image: 'x' }, system: { packages: [] }, gui: { apps: [] },
    hardware: { gpu: false, audio: false }, mounts: [{ label: 'ws', host: './ws', container: '/workspace', readOnly: true }],
    runtime: { backend: 'namespace', network_isolation: false, resource_limits: {} }, ...over,
  };
  return {
    envId: 'e'.repeat(64), shortId: 'eeeeeeeeeeee', name: 'dev', manifest, lock: {} as EnvHandle['lock'], backend: 'namespace',
    manifestDir: join(dir, 'project'), lowerDirs: ['/images/base'],
    paths: { dir: '/s/env/e', upper: '/s/env/e/upper', work: '/s/env/e/work', runtime: '/s/env/e/runtime' },
  };
}

const ctx: LauncherContext = {
  user: { uid: 1000, gid: 1000, name: 'alice', home },
  policy: { allowedMountPrefixes: [dir] },
  mapMode: 'single',
  overlay: { kind: 'kernel' },
  identity: { passwd: '/s/env/e/runtime/passwd', group: '/s/env/e/runtime/group' },
  hostCwd: join(ws, 'src'),
};

function pairs(argv: string[], flag: string): string[][] {
  const out: string[][] = [];
  argv.forEach((a, i) => { if (a === flag) out.push(argv.slice(i + 1, i + 3)); });
  return out;
}

test('install: container root with fake chown in single-id mode, no home, cwd /', (t) => {
  const { argv } = buildLauncherArgv(env(), { purpose: 'install', user: 'root', argv: ['apt-get', 'update'], environment: { PATH: '/bin' }, network: true }, ctx);
  t.deepEqual(argv.slice(argv.indexOf('--map-mode'), argv.indexOf('--map-mode') + 6), ['--map-mode', 'single', '--uid', '0', '--gid', '0']);
  t.true(argv.includes('--fake-chown'));
  t.false(argv.includes(home));
  t.false(argv.includes('/etc/passwd'), 'installs see the image\'s own passwd (they may add users)');
  t.deepEqual(argv.slice(argv.indexOf('--chdir'), argv.indexOf('--chdir') + 2), ['--chdir', '/']);
  t.deepEqual(argv.slice(-3), ['--', 'apt-get', 'update']);
  const { argv: full } = buildLauncherArgv(env(), { purpose: 'install', user: 'root', argv: ['true'], environment: {}, network: true }, { ...ctx, mapMode: 'full' });
  t.false(full.includes('--fake-chown'), 'real chown works with a full mapping');
});

test('exec: the invoking user, home and mounts bound, identity files, cwd translated, env sorted', (t) => {
  const { argv, mounts } = buildLauncherArgv(env(), { purpose: 'exec', user: 'invoker', argv: ['id'], environment: { USER: 'alice', HOME: home, A: '1' }, network: true }, ctx);
  t.deepEqual(argv.slice(argv.indexOf('--uid'), argv.indexOf('--uid') + 4), ['--uid', '1000', '--gid', '1000']);
  t.false(argv.includes('--fake-chown'));
  t.false(argv.includes('--unshare-net'));
  t.deepEqual(pairs(argv, '--bind'), [[home, home]]);
  t.deepEqual(pairs(argv, '--ro-bind'), [[ws, '/workspace']]);
  t.deepEqual(pairs(argv, '--file-from').slice(-2), [['/s/env/e/runtime/passwd', '/etc/passwd'], ['/s/env/e/runtime/group', '/etc/group']]);
  t.deepEqual(pairs(argv, '--setenv').map(([k]) => k), ['A', 'HOME', 'USER']);
  t.is(argv[argv.indexOf('--chdir') + 1], '/workspace/src');
  t.is(argv[argv.indexOf('--hostname') + 1], 'dev');
  t.deepEqual(argv.slice(0, 6), ['--lower', '/images/base', '--upper', '/s/env/e/upper', '--work', '/s/env/e/work']);
  t.is(mounts[0]!.source, ws);
});

test('network isolation, fuse-overlayfs, devices only when asked', (t) => {
  const { argv } = buildLauncherArgv(env(), { purpose: 'exec', user: 'invoker', argv: ['true'], environment: {}, network: false }, { ...ctx, overlay: { kind: 'fuse', binary: '/usr/bin/fuse-overlayfs' }, resolvConf: '/etc/resolv.conf' });
  t.true(argv.includes('--unshare-net'));
  t.false(argv.includes('/etc/resolv.conf'), 'no resolv.conf without a network');
  t.is(argv[argv.indexOf('--fuse-overlayfs') + 1], '/usr/bin/fuse-overlayfs');
  t.false(argv.includes('--dev-bind'));
});

test('a mount outside the allowed prefixes throws before any argv exists', (t) => {
  const bad = env({ mounts: [{ label: 'etc', host: '/etc', container: '/hostetc', readOnly: false }] });
  const err = t.throws(() => buildLauncherArgv(bad, { purpose: 'exec', user: 'invoker', argv: ['true'], environment: {}, network: true }, ctx));
  t.is((err as { code?: string }).code, 'KP_MOUNT_REFUSED');
});

test('joining a running sandbox: --join with the caller\'s ids, environment and cwd; exec/enter sandboxes wait for joined commands', (t) => {
  const j = buildJoinArgv(4242, env(), { purpose: 'exec', user: 'invoker', argv: ['ls'], environment: { B: '2', A: '1' } }, ctx);
  t.deepEqual(j.slice(0, 7), ['--join', '4242', '--uid', '1000', '--gid', '1000', '--clearenv']);
  t.deepEqual(pairs(j, '--setenv'), [['A', '1'], ['B', '2']]);
  t.deepEqual(j.slice(j.indexOf('--chdir'), j.indexOf('--chdir') + 2), ['--chdir', '/workspace/src']);
  t.deepEqual(j.slice(-2), ['--', 'ls']);
  // Only process options: the sandbox's mounts are its own.
  t.false(j.some((a) => a.startsWith('--bind') || a === '--lower' || a === '--unshare-net'));
  const exec = buildLauncherArgv(env(), { purpose: 'exec', user: 'invoker', argv: ['true'], environment: {}, network: true }, ctx).argv;
  t.true(exec.includes('--wait-joined'));
  const install = buildLauncherArgv(env(), { purpose: 'install', user: 'root', argv: ['true'], environment: {}, network: true }, ctx).argv;
  t.false(install.includes('--wait-joined'));
});

test('exec --root: uid 0 with the session (home, identity, joinable); faked chown only in single-id mode', (t) => {
  const request = { purpose: 'exec' as const, user: 'root' as const, argv: ['apt-get', 'install', 'jq'], environment: { HOME: '/root' }, network: true };
  const single = buildLauncherArgv(env(), request, { ...ctx, hostCwd: '/nowhere' }).argv;
  t.deepEqual(single.slice(single.indexOf('--uid'), single.indexOf('--uid') + 4), ['--uid', '0', '--gid', '0']);
  t.true(single.includes('--fake-chown'));
  t.false(single.includes('--allow-setuid'));
  t.true(single.includes('--wait-joined'), 'a later exec joins it');
  t.deepEqual(pairs(single, '--bind'), [[home, home]]);
  t.is(single[single.indexOf('--chdir') + 1], '/root');
  const full = buildLauncherArgv(env(), request, { ...ctx, mapMode: 'full', allowSetuid: true }).argv;
  t.false(full.includes('--fake-chown'), 'real ids exist: chown and setuid are real');
  t.true(full.includes('--allow-setuid'));
  const join = buildJoinArgv(7, env(), request, { ...ctx, mapMode: 'single' });
  t.deepEqual(join.slice(0, 7), ['--join', '7', '--uid', '0', '--gid', '0', '--fake-chown']);
  const install = buildLauncherArgv(env(), { ...request, purpose: 'install' }, { ...ctx, mapMode: 'full', allowSetuid: true }).argv;
  t.false(install.includes('--allow-setuid'), 'installs keep no_new_privs');
});

test('frozen: --ro-root; generated /etc files bound read-only; their variables yield to the request\'s', (t) => {
  const etc = { files: [{ source: '/s/env/e/runtime/hosts', target: '/etc/hosts' }, { source: '/etc/localtime', target: '/run/karapace/localtime' }], environment: { TZ: ':/run/karapace/localtime' } };
  const frozen = buildLauncherArgv(env(), { purpose: 'exec', user: 'invoker', argv: ['true'], environment: {}, network: true, readOnly: true }, { ...ctx, etc }).argv;
  t.true(frozen.includes('--ro-root'));
  t.deepEqual(pairs(frozen, '--file-from').slice(0, 2), [['/s/env/e/runtime/hosts', '/etc/hosts'], ['/etc/localtime', '/run/karapace/localtime']]);
  t.deepEqual(pairs(frozen, '--setenv'), [['TZ', ':/run/karapace/localtime']]);
  const own = buildLauncherArgv(env(), { purpose: 'exec', user: 'invoker', argv: ['true'], environment: { TZ: 'Europe/Rome' }, network: true }, { ...ctx, etc }).argv;
  t.deepEqual(pairs(own, '--setenv'), [['TZ', 'Europe/Rome']]);
  t.false(own.includes('--ro-root'));
});

test('subordinate ranges are found by name or uid; single can be forced', (t) => {
  const content = 'bob:100000:65536\n1000:200000:1000\nalice:300000:0\n';
  t.deepEqual(findSubidRange(content, 'bob', 1001), { start: 100000, count: 65536 });
  t.deepEqual(findSubidRange(content, 'alice', 1000), { start: 200000, count: 1000 }, 'a zero-sized range is skipped');
  t.is(findSubidRange(content, 'carol', 1002), undefined);
  t.is(chooseMapMode({ mode: 'full' }, 'single'), 'single');
  t.is(chooseMapMode({ mode: 'full' }, 'auto'), 'full');
});

test('passwd and group get exactly one entry for the user', (t) => {
  const user = { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' };
  const passwd = passwdWithUser('root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000::/home/debian:/bin/sh\n', user, '/bin/bash');
  t.is(passwd, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:alice:/home/alice:/bin/bash\n');
  t.is(groupWithUser('root:x:0:\n', user), 'root:x:0:\nalice:x:1000:\n');
  t.is(groupWithUser('root:x:0:\nusers:x:1000:\n', user), 'root:x:0:\nusers:x:1000:\n', 'an existing group of that gid is kept');
});

test('cgroup support: v1, v2 without delegation, v2 delegated', (t) => {
  const root = join(dir, 'cg');
  mkdirSync(join(root, 'user.slice/app'), { recursive: true });
  t.is(cgroupSupport(['memory'], root, '0::/user.slice/app\n').kind, 'v1');
  writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory\n');
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
  writeFileSync(join(root, 'user.slice/cgroup.subtree_control'), 'cpu\n');
  writeFileSync(join(root, 'user.slice/cgroup.procs'), '');
  t.is(cgroupSupport(['memory'], root, '0::/user.slice/app\n').kind, 'v2-not-delegated');
  writeFileSync(join(root, 'user.slice/cgroup.subtree_control'), 'cpu memory\n');
  const s = cgroupSupport(['memory', 'cpu'], root, '0::/user.slice/app\n');
  t.is(s.kind, 'v2-delegated');
  t.is(s.kind === 'v2-delegated' ? s.parent : '', join(root, 'user.slice'));
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(262144), 10000);
});

test('options are validated; kernel overlay needs Linux 5.11', (t) => {
  t.is(validateOptions({ idMapping: 'single', overlay: 'fuse', launcher: '/x' }), undefined);
  t.regex(validateOptions({ idMaping: 'single' }) ?? '', /unknown option "idMaping"/);
  t.regex(validateOptions({ overlay: 'zfs' }) ?? '', /overlay/);
  t.true(kernelOverlayInUserns('6.1.0-13-amd64'));
  t.true(kernelOverlayInUserns('5.11.0'));
  t.false(kernelOverlayInUserns('5.10.197'));
});
