import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeEnvId, lockDrift, describeDrift, parseLock, parseManifest, readLock, serializeLock, verifyLockIntegrity, writeLock,
  ManifestError, type LockFile,
} from '@karapace/kernel';

function lock(over: Partial<LockFile> = {}): LockFile {
  const draft: LockFile = {
    lock_version: 1, env_id: '', short_id: '',
    base: { image: 'debian/bookworm', source: 'https://mirror.example/rootfs.tar.xz', digest: 'a'.repeat(64), package_manager: 'apt' },
    backend: 'namespace', hardware: { gpu: false, audio: false }, network_isolation: false,
    mounts: [{ label: 'ws', host: './', container: '/workspace', readOnly: false }],
    resource_limits: {}, apps: [],
    resolved_packages: [{ name: 'curl', version: '7.88.1-10' }, { name: 'git', version: '1:2.39.5-0' }],
    ...over,
  };
  return { ...draft, ...computeEnvId(draft) };
}

test('env_id is 64 hex chars and short_id its first 12', (t) => {
  const l = lock();
  t.regex(l.env_id, /^[0-9a-f]{64}$/);
  t.is(l.short_id, l.env_id.slice(0, 12));
});

test('env_id ignores package order and duplicates, and where the base came from', (t) => {
  const a = lock();
  const b = lock({ resolved_packages: [{ name: 'git', version: '1:2.39.5-0' }, { name: 'curl', version: '7.88.1-10' }, { name: 'git', version: '1:2.39.5-0' }] });
  const c = lock({ base: { ...a.base, source: '/local/copy.tar' } });
  t.is(a.env_id, b.env_id);
  t.is(a.env_id, c.env_id);
});

test('env_id changes with a package version, the base digest, the backend, mounts, limits, isolation, hardware', (t) => {
  const base = lock().env_id;
  const variants = [
    lock({ resolved_packages: [{ name: 'curl', version: '7.88.1-11' }, { name: 'git', version: '1:2.39.5-0' }] }),
    lock({ resolved_packages: [{ name: 'curl', version: '7.88.1-10' }] }),
    lock({ base: { image: 'debian/bookworm', source: 'x', digest: 'b'.repeat(64), package_manager: 'apt' } }),
    lock({ backend: 'oci' }),
    lock({ mounts: [{ label: 'ws', host: './', container: '/workspace', readOnly: true }] }),
    lock({ resource_limits: { memory_limit_mb: 512 } }),
    lock({ network_isolation: true }),
    lock({ hardware: { gpu: true, audio: false } }),
    lock({ apps: ['firefox'] }),
  ];
  const ids = new Set([base, ...variants.map((v) => v.env_id)]);
  t.is(ids.size, variants.length + 1);
});

test('env_id does not depend on the unresolved image name (only the digest)', (t) => {
  t.is(lock().env_id, lock({ base: { image: 'debian', source: 'x', digest: 'a'.repeat(64), package_manager: 'apt' } }).env_id);
});

test('lock round-trips through TOML and passes its integrity check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-lock-'));
  const file = join(dir, 'karapace.lock');
  const l = lock();
  await writeLock(file, l);
  const back = readLock(file)!;
  t.deepEqual(back, l);
  t.is(serializeLock(back), serializeLock(l));
  t.is(readLock(join(dir, 'missing.lock')), undefined);
});

test('a hand-edited lock fails the integrity check', (t) => {
  const text = serializeLock(lock()).replace('7.88.1-10', '7.88.1-99');
  const err = t.throws(() => parseLock(text, 'karapace.lock'), { instanceOf: ManifestError })!;
  t.is(err.code, 'KP_LOCK_INTEGRITY');
  t.is(err.exitCode, 2);
  const l = lock();
  t.notThrows(() => verifyLockIntegrity(l));
});

test('unparseable and wrong-version locks are clear errors', (t) => {
  t.throws(() => parseLock('not = [toml', 'x.lock'), { code: 'KP_LOCK_INVALID' as never });
  t.throws(() => parseLock('lock_version = 9\nenv_id = "x"\n', 'x.lock'), { message: /unsupported lock_version 9/ });
});

test('drift lists each difference between manifest and lock', (t) => {
  const l = lock();
  const manifest = parseManifest(
    'manifest_version = 1\n[base]\nimage = "debian/trixie"\n[system]\npackages = ["git", "vim"]\n[mounts]\nws = "./:/workspace"\n[runtime]\nbackend = "namespace"\nnetwork_isolation = true\n',
  );
  const drift = lockDrift(manifest, l).map(describeDrift);
  t.deepEqual(drift, [
    'base.image: manifest has "debian/trixie", lock has "debian/bookworm"',
    'package "vim" is in the manifest but not in the lock',
    'package "curl" is in the lock but not in the manifest',
    'runtime.network_isolation: manifest has true, lock has false',
  ]);
  const same = parseManifest('manifest_version = 1\n[base]\nimage = "debian/bookworm"\n[system]\npackages = ["curl","git"]\n[mounts]\nws = "./:/workspace"\n');
  t.deepEqual(lockDrift(same, l), []);
});

test('writeLock is atomic: no temp files left behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-lock-'));
  writeFileSync(join(dir, 'karapace.lock'), 'old');
  await writeLock(join(dir, 'karapace.lock'), lock());
  const { readdirSync } = await import('node:fs');
  t.deepEqual(readdirSync(dir), ['karapace.lock']);
});
