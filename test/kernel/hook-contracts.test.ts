/**
 * The waterfall hooks `lock` and `commit` on the real build and commit paths (mock backend):
 * a plugin's tap takes effect, and the kernel's last tap refuses output that breaks the
 * hook's contract, naming the plugin.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, commitEnv, createEngine, listEnvs, listSnapshots, parseLock, type KarapacePlugin } from '@karapace/kernel';
import { mockManifest, sandbox } from '../helpers/cli.js';

async function engineWith(plugin: KarapacePlugin<unknown>) {
  const box = sandbox('kp-hooks-');
  const manifest = box.write('p/karapace.toml', mockManifest({ image: 'mock:hooks', packages: ['git'] }));
  const engine = await createEngine({ store: box.store, cwd: box.dir, env: box.env, globalConfigDir: join(box.dir, 'config-home', 'karapace'), plugins: [plugin] });
  return { box, engine, manifest };
}

test('a lock tap refines the lock: the version it pins is in karapace.lock and in the env_id', async (t) => {
  const seen: string[] = [];
  const { engine, manifest, box } = await engineWith({
    name: 'pin-git',
    apply(kernel) {
      kernel.hooks.lock.tap('pin-git', (lock) => {
        seen.push(lock.resolved_packages.map((p) => p.name).join(','));
        return { ...lock, resolved_packages: lock.resolved_packages.map((p) => (p.name === 'git' ? { ...p, version: '1:2.39.5-0+pinned' } : p)) };
      });
    },
  });
  const built = await build(engine, { manifest });
  t.deepEqual(seen, ['git']);
  const lock = parseLock(readFileSync(join(box.dir, 'p/karapace.lock'), 'utf8'));
  t.deepEqual(lock.resolved_packages, [{ name: 'git', version: '1:2.39.5-0+pinned' }]);
  t.is(lock.env_id, built.env_id);
});

test('a lock tap that swaps the base, or writes what the lock file cannot hold, is refused naming it; nothing is built', async (t) => {
  for (const [name, change] of [
    ['swap-base', (lock: any) => ({ ...lock, base: { ...lock.base, digest: 'f'.repeat(64) } })],
    ['bad-field', (lock: any) => ({ ...lock, hardware: { gpu: 'yes', audio: false } })],
  ] as const) {
    const { engine, manifest } = await engineWith({ name, apply(kernel) { kernel.hooks.lock.tap(name, change); } });
    const err = await t.throwsAsync(build(engine, { manifest }));
    t.is((err as { code?: string }).code, 'KP_LOCK_TAP_INVALID', err?.message);
    t.regex(err!.message, new RegExp(`a \`lock\` tap \\(${name}\\)`));
    t.deepEqual((await listEnvs(engine)).environments, [], name);
  }
});

test('a commit tap observes the snapshot layer; one that changes the stored record is refused and no snapshot is recorded', async (t) => {
  const observed: string[] = [];
  const ok = await engineWith({ name: 'observer', apply(kernel) { kernel.hooks.commit.tap('observer', (layer) => { observed.push(layer.hash); return layer; }); } });
  await build(ok.engine, { manifest: ok.manifest, name: 'obs' });
  const committed = await commitEnv(ok.engine, 'obs', { message: 'first' });
  t.deepEqual(observed, [committed.layer.hash]);
  t.is((await listSnapshots(ok.engine, 'obs')).snapshots.length, 1);

  const bad = await engineWith({ name: 'rewriter', apply(kernel) { kernel.hooks.commit.tap('rewriter', (layer) => ({ ...layer, object: '0'.repeat(64) })); } });
  await build(bad.engine, { manifest: bad.manifest, name: 'rw' });
  const err = await t.throwsAsync(commitEnv(bad.engine, 'rw'));
  t.is((err as { code?: string }).code, 'KP_COMMIT_TAP_INVALID', err?.message);
  t.regex(err!.message, /a `commit` tap \(rewriter\)/);
  t.is((await listSnapshots(bad.engine, 'rw')).snapshots.length, 0);
});
