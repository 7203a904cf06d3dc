import test from 'ava';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkResourceLimits, filterEnvironment, resolveMount, DEFAULT_SECURITY, ManifestError, type MountSpec } from '@karapace/kernel';

const user = { uid: 1000, gid: 1000, name: 'u', home: '/home/u' };
const mount = (host: string, container = '/work', readOnly = false): MountSpec => ({ label: 'm', host, container, readOnly });

test('relative mounts resolve against the manifest dir; escaping via .. or symlinks is refused', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kp-sec-'));
  const proj = join(root, 'proj');
  mkdirSync(join(proj, 'src'), { recursive: true });
  symlinkSync('/etc', join(proj, 'etc-link'));
  const policy = { allowedMountPrefixes: ['/home'] };
  t.is(resolveMount(mount('./src'), proj, policy, user).source, join(proj, 'src'));
  t.is(resolveMount(mount('./'), proj, policy, user).source, proj);
  const viaLink = t.throws(() => resolveMount(mount('./etc-link'), proj, policy, user), { instanceOf: ManifestError })!;
  t.regex(viaLink.message, /\/etc is outside the allowed prefixes/);
  t.throws(() => resolveMount(mount('../'), proj, policy, user), { code: 'KP_MOUNT_REFUSED' as never });
});

test('absolute mounts must be under an allowed prefix; /tmp is allowed by default', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-sec-'));
  t.is(resolveMount(mount(dir), '/', DEFAULT_SECURITY, user).source, dir);
  const err = t.throws(() => resolveMount(mount('/etc'), '/', DEFAULT_SECURITY, user), { instanceOf: ManifestError })!;
  t.is(err.exitCode, 2);
  t.regex(err.hint!, /allowedMountPrefixes/);
  t.throws(() => resolveMount(mount('/tmp/../etc'), '/', DEFAULT_SECURITY, user), { message: /\/etc is outside/ });
  t.throws(() => resolveMount(mount('/tmp/definitely-missing-kp'), '/', DEFAULT_SECURITY, user), { message: /does not exist/ });
  t.throws(() => resolveMount(mount(dir, '/proc/x'), '/', DEFAULT_SECURITY, user), { message: /reserved/ });
});

test('environment: allow-list passes, deny-list always wins', (t) => {
  const out = filterEnvironment(
    { TERM: 'xterm', LANG: 'C', SSH_AUTH_SOCK: '/x', AWS_SECRET_ACCESS_KEY: 's', RANDOM_VAR: 'r' },
    { envAllow: ['TERM', 'LANG', 'SSH_AUTH_SOCK'], envDeny: ['SSH_AUTH_SOCK', 'AWS_SECRET_ACCESS_KEY'] },
    { HOME: '/home/u', AWS_SECRET_ACCESS_KEY: 'leak' },
  );
  t.deepEqual(out, { TERM: 'xterm', LANG: 'C', HOME: '/home/u' });
});

test('resource limits above the policy maxima are refused', (t) => {
  t.notThrows(() => checkResourceLimits({ memory_limit_mb: 512 }, DEFAULT_SECURITY));
  t.throws(() => checkResourceLimits({ memory_limit_mb: 10 ** 9 }, DEFAULT_SECURITY), { code: 'KP_LIMIT_EXCEEDS_POLICY' as never });
  t.throws(() => checkResourceLimits({ cpu_shares: 10 ** 9 }, { maxCpuShares: 1024, maxMemoryMb: 1 }), { message: /cpu_shares/ });
});
