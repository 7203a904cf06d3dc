/** Host integration under the policy, and the generated /etc files (kernel/src/security). */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SECURITY, etcPlan, filterEnvironment, hostsContent, integrationEnvironment, integrationSockets, securityPolicy } from '@karapace/kernel';

const dir = mkdtempSync(join(tmpdir(), 'kp-integration-'));
const servers: Server[] = [];
test.after.always(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function socket(name: string): Promise<string> {
  const path = join(dir, name);
  return new Promise((resolve) => {
    const s = createServer().listen(path, () => resolve(path));
    servers.push(s);
  });
}

test('each integration is its own switch; a variable passes only with its socket; the deny-list wins', async (t) => {
  const agent = await socket('agent.sock');
  const bus = await socket('bus');
  const host = {
    SSH_AUTH_SOCK: agent, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus},guid=1`, https_proxy: 'http://u:p@proxy:3128', NO_PROXY: 'localhost',
    DISPLAY: ':0', HOME: '/home/a',
  };
  const on = securityPolicy({});
  const env = filterEnvironment(host, on, integrationEnvironment(host, on));
  t.is(env.SSH_AUTH_SOCK, agent);
  t.is(env.DBUS_SESSION_BUS_ADDRESS, host.DBUS_SESSION_BUS_ADDRESS);
  t.is(env.https_proxy, host.https_proxy);
  t.is(env.NO_PROXY, 'localhost');
  t.deepEqual(integrationSockets(env, on).map((s) => [s.why, s.source]).filter(([w]) => w !== 'x11'), [['ssh-agent', agent], ['dbus', bus]]);

  const off = securityPolicy({ security: { hostIntegration: { sshAgent: false, proxy: false } } });
  t.true(off.hostIntegration.dbus, 'switches merge one by one over the defaults');
  const offEnv = filterEnvironment(host, off, integrationEnvironment(host, off));
  t.is(offEnv.SSH_AUTH_SOCK, undefined);
  t.is(offEnv.https_proxy, undefined);
  t.deepEqual(integrationSockets(offEnv, off).map((s) => s.why).filter((w) => w !== 'x11'), ['dbus']);

  const denied = securityPolicy({ security: { envDeny: [...DEFAULT_SECURITY.envDeny, 'SSH_AUTH_SOCK'] } });
  t.is(filterEnvironment(host, denied, integrationEnvironment(host, denied)).SSH_AUTH_SOCK, undefined, 'deny wins over a switch');

  const stale = { ...host, SSH_AUTH_SOCK: join(dir, 'gone.sock'), DBUS_SESSION_BUS_ADDRESS: 'unix:abstract=/tmp/dbus-x' };
  const staleEnv = integrationEnvironment(stale, on);
  t.is(staleEnv.SSH_AUTH_SOCK, undefined, 'no socket, no variable');
  t.is(staleEnv.DBUS_SESSION_BUS_ADDRESS, undefined, 'an abstract socket cannot be bound');
});

test('/etc/hosts: localhost, the hostname, then the host\'s entries without comments', (t) => {
  const text = hostsContent('dev', '# comment\n127.0.0.1 localhost\n10.0.0.5   build-box # lab\n\nbogus\n');
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  t.deepEqual(lines, ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', '127.0.1.1\tdev', '127.0.0.1 localhost', '10.0.0.5   build-box']);
});

test('etcPlan: hosts always; localtime bound or via TZ when the env has its own symlink; sudoers only with sudo and a user', (t) => {
  const upper = join(dir, 'env/upper');
  const lower = join(dir, 'env/lower');
  const runtime = join(dir, 'env/runtime');
  for (const d of [upper, join(lower, 'etc'), runtime]) mkdirSync(d, { recursive: true });
  const zone = join(dir, 'localtime');
  writeFileSync(zone, 'TZif');
  const env = { paths: { dir: join(dir, 'env'), upper, work: join(dir, 'env/work'), runtime }, lowerDirs: [lower] };
  const user = { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' };
  let plan = etcPlan(env, { hostname: 'dev', sudoUser: user, hostLocaltime: zone, hostHosts: join(dir, 'nohosts') });
  t.deepEqual(plan.files.map((f) => f.target), ['/etc/hosts', '/etc/localtime']);
  t.deepEqual(plan.environment, {});
  t.regex(readFileSync(join(runtime, 'hosts'), 'utf8'), /127\.0\.1\.1\tdev/);

  symlinkSync('/usr/share/zoneinfo/Etc/UTC', join(lower, 'etc/localtime'));
  mkdirSync(join(lower, 'etc/sudoers.d'));
  plan = etcPlan(env, { hostname: 'dev', sudoUser: user, hostLocaltime: zone });
  t.deepEqual(plan.files.map((f) => f.target), ['/etc/hosts', '/run/karapace/localtime', '/etc/sudoers.d/karapace']);
  t.deepEqual(plan.environment, { TZ: ':/run/karapace/localtime' });
  t.regex(readFileSync(join(runtime, 'sudoers'), 'utf8'), /^alice ALL=\(ALL:ALL\) NOPASSWD: ALL$/m);
  t.false(etcPlan(env, { hostname: 'dev', hostLocaltime: zone }).files.some((f) => f.target.includes('sudoers')), 'no user (root, installs): no drop-in');
});

test('the subordinate range doctor suggests overlaps no existing one', async (t) => {
  const { freeSubidRange } = await import('@karapace/kernel');
  t.deepEqual(freeSubidRange(['', '']), { start: 131072, end: 196607 }, 'empty files: the first aligned block at or above 100000');
  t.deepEqual(freeSubidRange(['kp-nsuser:100000:65536\nkp-bench:524288:65536\n', 'kp-nsuser:100000:65536\n']), { start: 589824, end: 655359 });
  t.deepEqual(freeSubidRange(['a:165536:65536\n# comment\nbroken\n']), { start: 262144, end: 327679 });
});

test('devices the manifest asks for but the host lacks make one warning naming them', async (t) => {
  const { missingDevicesWarning } = await import('@karapace/kernel');
  const manifest = (gpu: boolean, audio: boolean) => ({ hardware: { gpu, audio } }) as Parameters<typeof missingDevicesWarning>[0];
  t.is(missingDevicesWarning(manifest(false, false), () => false), undefined);
  t.is(missingDevicesWarning(manifest(true, true), () => true), undefined);
  t.is(missingDevicesWarning(manifest(true, true), (p) => p === '/dev/snd'), '[hardware] gpu = true but this host has no /dev/dri: the environment runs without it');
  t.is(missingDevicesWarning(manifest(true, true), () => false), '[hardware] gpu = true, audio = true but this host has no /dev/dri or /dev/snd: the environment runs without them');
});
