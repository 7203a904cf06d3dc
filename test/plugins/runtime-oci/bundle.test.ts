/** The generated config.json and runtime discovery, without starting containers. */
import test from 'ava';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, hostnameFor, selectRuntime, splitDev, type BundleInput } from '@karapace/runtime-oci';
import plugin from '@karapace/runtime-oci';

const user = { uid: 1000, gid: 1000, name: 'dev', home: '/home/dev' };

function input(overrides: Partial<BundleInput> = {}, request: Partial<BundleInput['request']> = {}): BundleInput {
  return {
    request: { argv: ['sh', '-c', 'true'], environment: { PATH: '/bin', HOME: '/home/dev' }, user: 'invoker', tty: false, network: true, purpose: 'exec', ...request },
    env: {
      shortId: 'abcdef012345', name: 'dev', lowerDirs: ['/store/images/x/rootfs'],
      paths: { dir: '/store/env/e', upper: '/store/env/e/upper', work: '/store/env/e/work', runtime: '/store/env/e/runtime' },
      manifest: { runtime: { backend: 'oci', network_isolation: false, resource_limits: { memory_limit_mb: 256, cpu_shares: 512 } } } as BundleInput['env']['manifest'],
    },
    rootfs: '/store/env/e/runtime/oci/bundles/c/rootfs',
    user, rootless: false, mounts: [], devices: [], applyLimits: true,
    ...overrides,
  };
}

type Config = { process: any; mounts: any[]; linux: any; hostname: string; root: any };

test('root: the overlay over the env upper dir comes first, the user runs as itself, limits apply', (t) => {
  const c = buildConfig(input()) as Config;
  t.deepEqual(c.mounts[0], {
    destination: '/', type: 'overlay', source: 'overlay',
    options: ['lowerdir=/store/images/x/rootfs', 'upperdir=/store/env/e/upper', 'workdir=/store/env/e/work', 'userxattr'],
  });
  t.deepEqual(c.process.user, { uid: 1000, gid: 1000 });
  t.deepEqual(c.process.args, ['sh', '-c', 'true']);
  t.deepEqual(c.process.env, ['PATH=/bin', 'HOME=/home/dev']);
  t.is(c.process.cwd, '/home/dev');
  t.deepEqual(c.process.capabilities.effective, []);
  t.true(c.process.noNewPrivileges);
  t.is(c.hostname, 'dev');
  t.deepEqual(c.linux.resources.memory, { limit: 256 * 1024 * 1024 });
  t.deepEqual(c.linux.resources.cpu, { shares: 512 });
  t.deepEqual(c.linux.namespaces.map((n: { type: string }) => n.type), ['pid', 'ipc', 'uts', 'mount']);
  t.is(c.linux.uidMappings, undefined);
  t.true(c.mounts.some((m) => m.destination === '/home/dev' && m.source === '/home/dev'));
});

test('installs run as container root with capabilities, without home or manifest mounts', (t) => {
  const mounts = [{ label: 'ws', source: '/home/dev/p', target: '/workspace', readOnly: true, isDirectory: true }];
  const c = buildConfig(input({ mounts }, { user: 'root', purpose: 'install', cwd: '/' })) as Config;
  t.deepEqual(c.process.user, { uid: 0, gid: 0 });
  t.true(c.process.capabilities.effective.includes('CAP_CHOWN'));
  t.false(c.process.noNewPrivileges);
  t.false(c.mounts.some((m) => m.destination === '/home/dev' || m.destination === '/workspace'));
  const exec = buildConfig(input({ mounts })) as Config;
  t.deepEqual(exec.mounts.find((m) => m.destination === '/workspace').options, ['rbind', 'rprivate', 'ro']);
});

test('isolation adds a network namespace and a fresh sysfs; rootless maps container root to the user', (t) => {
  const isolated = buildConfig(input({}, { network: false })) as Config;
  t.true(isolated.linux.namespaces.some((n: { type: string }) => n.type === 'network'));
  t.is(isolated.mounts.find((m) => m.destination === '/sys').type, 'sysfs');
  const rootless = buildConfig(input({ rootless: true, applyLimits: false })) as Config;
  t.deepEqual(rootless.linux.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
  t.deepEqual(rootless.linux.gidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
  t.deepEqual(rootless.process.user, { uid: 0, gid: 0 });
  t.true(rootless.linux.namespaces.some((n: { type: string }) => n.type === 'user'));
  t.is(rootless.linux.resources, undefined);
  t.false(rootless.mounts.find((m) => m.destination === '/dev/pts').options.includes('gid=5'));
});

test('a terminal is requested only with a console size; paths overlayfs cannot express are refused', (t) => {
  t.false((buildConfig(input({}, { tty: true })) as Config).process.terminal);
  const tty = buildConfig(input({ consoleSize: { width: 100, height: 30 } }, { tty: true, purpose: 'enter' })) as Config;
  t.true(tty.process.terminal);
  t.deepEqual(tty.process.consoleSize, { width: 100, height: 30 });
  t.true(tty.process.env.includes('TERM=xterm'));
  const bad = input();
  bad.env = { ...bad.env, paths: { ...bad.env.paths, upper: '/store:x/upper' } };
  t.throws(() => buildConfig(bad), { message: /contains "," or ":"/ });
});

test('hostname falls back to karapace-<short_id>; dev_t splits like glibc', (t) => {
  t.is(hostnameFor({ shortId: 'abc', name: 'my env' }), 'karapace-abc');
  t.is(hostnameFor({ shortId: 'abc' }), 'karapace-abc');
  t.deepEqual(splitDev((226 << 8) | 128), { major: 226, minor: 128 });
  t.deepEqual(splitDev(116 * 256 + 33), { major: 116, minor: 33 });
});

test('runtime selection: configured path, configured name, first usable on PATH, clear errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-oci-path-'));
  for (const name of ['runc', 'youki']) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
  t.deepEqual(selectRuntime({}, dir), { name: 'runc', path: join(dir, 'runc') });
  t.deepEqual(selectRuntime({ runtime: 'youki' }, dir), { name: 'youki', path: join(dir, 'youki') });
  t.deepEqual(selectRuntime({ path: join(dir, 'runc') }), { name: 'runc', path: join(dir, 'runc') });
  t.throws(() => selectRuntime({ path: join(dir, 'nope') }), { message: /does not exist or is not executable/ });
  t.throws(() => selectRuntime({ runtime: 'crun' }, dir), { message: /"crun" is not on PATH/ });
  t.throws(() => selectRuntime({}, '/nonexistent-path-for-test'), { message: /no OCI runtime found/ });
  t.is(plugin.validateOptions?.({ runtime: 'docker' }), '"runtime" must be one of crun, runc, youki (got "docker")');
  t.is(plugin.validateOptions?.({ path: 'runc' }), '"path" must be an absolute path to the runtime binary (got "runc")');
  t.regex(plugin.validateOptions?.({ runtim: 'runc' }) ?? '', /unknown option "runtim"/);
  t.is(plugin.validateOptions?.({ runtime: 'runc', path: '/usr/sbin/runc' }), undefined);
});

test('with an init, it runs the command and is bound read-only on the /dev tmpfs (never in the upper dir)', (t) => {
  const c = buildConfig(input({ init: '/opt/kp/native/build/karapace-init' })) as Config;
  t.deepEqual(c.process.args, ['/dev/.karapace-init', '--', 'sh', '-c', 'true']);
  const dev = c.mounts.findIndex((m) => m.destination === '/dev');
  const init = c.mounts.findIndex((m) => m.destination === '/dev/.karapace-init');
  t.true(dev >= 0 && init > dev, 'bound after the /dev tmpfs exists');
  t.deepEqual(c.mounts[init], { destination: '/dev/.karapace-init', type: 'none', source: '/opt/kp/native/build/karapace-init', options: ['bind', 'ro', 'nosuid', 'nodev'] });
  t.is(plugin.validateOptions?.({ init: false }), undefined);
  t.is(plugin.validateOptions?.({ init: '/usr/local/bin/karapace-init' }), undefined);
  t.regex(plugin.validateOptions?.({ init: 'karapace-init' }) ?? '', /"init" must be true, false or an absolute path/);
});
