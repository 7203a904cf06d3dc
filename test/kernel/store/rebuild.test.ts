/**
 * rebuild builds the new environment first and retires the old one only then, in one WAL
 * entry under the store lock. Killed (SIGKILL, KARAPACE_TEST_CRASH_AT) between the build and
 * the removal — or at any step of the swap — the next command leaves at least one of
 * old/new, the name on exactly one environment, and a store that verifies clean.
 */
import test from 'ava';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

async function withOld(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; oldId: string; project: string }> {
  const box = sandbox('kp-rebuild-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const project = join(box.dir, 'project');
  box.write('project/karapace.toml', mockManifest({ packages: ['git'] }));
  const old = await box.json(['build', '--name', 'dev'], { cwd: project });
  const exec = await box.run(['exec', 'dev', '--', 'sh', '-c', 'echo old > marker']);
  if (exec.code !== 0) throw new Error(exec.stderr);
  await box.json(['commit', 'dev', '-m', 'old work']);
  // A different package set: the rebuilt environment gets another env_id.
  box.write('project/karapace.toml', mockManifest({ packages: ['git', 'curl'] }));
  return { box, oldId: old.env_id, project };
}

function lockedEnvId(project: string): string {
  return /env_id\s*=\s*"([0-9a-f]{64})"/.exec(readFileSync(join(project, 'karapace.lock'), 'utf8'))![1]!;
}

test('rebuild replaces the old environment, keeps the name and updates the lock', async (t) => {
  const { box, oldId, project } = await withOld(t);
  const r = await box.json(['rebuild'], { cwd: project });
  t.is(r.previous, oldId);
  t.not(r.env_id, oldId);
  t.is(r.name, 'dev');
  t.is(r.snapshots_kept, 1, 'the old env\'s snapshots move to the new one');
  t.deepEqual((await box.json(['snapshots', 'dev'])).snapshots.map((s: any) => s.message), ['old work']);
  const list = await box.json(['list']);
  t.deepEqual(list.environments.map((e: any) => [e.env_id, e.name]), [[r.env_id, 'dev']]);
  t.false(existsSync(join(box.store, 'env', oldId)));
  t.is(lockedEnvId(project), r.env_id);
  t.deepEqual((await box.json(['verify-store'])).problems, []);
  // Nothing left in staging, no WAL entry.
  t.is((await box.json(['gc', '--dry-run'])).removed.filter((c: any) => c.kind === 'staging' || c.kind === 'env').length, 0);
});

test('rebuild with the same identity replaces the tree with a fresh one', async (t) => {
  const { box, oldId, project } = await withOld(t);
  box.write('project/karapace.toml', mockManifest({ packages: ['git'] }));
  const r = await box.json(['rebuild'], { cwd: project });
  t.is(r.env_id, oldId);
  t.is(r.previous, oldId);
  t.is(r.name, 'dev');
  t.false(existsSync(join(box.store, 'env', oldId, 'upper', 'marker')), 'the upper dir is fresh');
  t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 1, 'its snapshots are kept');
  t.is(r.snapshots_kept, 1);
  const text = await box.run(['rebuild'], { cwd: project });
  t.regex(text.stdout, /kept 1 snapshot\(s\) of the previous environment/);
  t.deepEqual((await box.json(['verify-store'])).problems, []);
  t.is((await box.json(['gc', '--dry-run'])).removed.filter((c: any) => c.kind === 'staging' || c.kind === 'env').length, 0);
});

for (const point of ['build:old-moved', 'build:before-rename', 'build:after-rename', 'build:after-metadata']) {
  test(`rebuild with the same identity killed at ${point} keeps the old tree`, async (t) => {
    const { box, oldId, project } = await withOld(t);
    box.write('project/karapace.toml', mockManifest({ packages: ['git'] }));
    const crashed = await box.run(['rebuild'], { cwd: project, env: { KARAPACE_TEST_CRASH_AT: point } });
    t.is(crashed.code, 128, crashed.stderr);
    const verify = await box.run(['verify-store', '--json']);
    t.is(verify.code, 0, verify.stdout + verify.stderr);
    const list = await box.json(['list']);
    t.deepEqual(list.environments.map((e: any) => [e.env_id, e.name]), [[oldId, 'dev']]);
    t.is(readFileSync(join(box.store, 'env', oldId, 'upper', 'marker'), 'utf8'), 'old\n', 'rolled back to the old tree');
    t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 1);
  });
}

test('rebuild refuses a name held by a third environment before building anything', async (t) => {
  const { box, project } = await withOld(t);
  box.write('other/karapace.toml', mockManifest({ packages: ['make'] }));
  await box.json(['build', '--name', 'taken'], { cwd: join(box.dir, 'other') });
  const r = await box.run(['rebuild', '--name', 'taken'], { cwd: project });
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /already used/);
  t.is((await box.json(['list'])).environments.length, 2, 'nothing was built or destroyed');
});

for (const point of ['build:after-metadata', 'rebuild:built', 'rebuild:old-moved', 'rebuild:old-removed', 'rebuild:committed']) {
  test(`rebuild killed at ${point} loses no environment`, async (t) => {
    const { box, oldId, project } = await withOld(t);
    const crashed = await box.run(['rebuild'], { cwd: project, env: { KARAPACE_TEST_CRASH_AT: point } });
    t.is(crashed.code, 128, `expected SIGKILL at ${point}; got ${crashed.code}: ${crashed.stderr}`);

    // The next command that takes the lock recovers; then old or new (or both) exist, whole,
    // and the store is clean.
    const verify = await box.run(['verify-store', '--json']);
    t.is(verify.code, 0, verify.stdout + verify.stderr);
    const list = await box.json(['list']);
    t.true(list.environments.length >= 1, 'at least one of old/new exists');
    const named = list.environments.filter((e: any) => e.name === 'dev');
    t.is(named.length, 1, 'the name is on exactly one environment');
    const oldSurvived = list.environments.some((e: any) => e.env_id === oldId);
    if (oldSurvived) {
      t.is(named[0].env_id, oldId, 'a rolled-back rebuild leaves the old one named');
      t.is(readFileSync(join(box.store, 'env', oldId, 'upper', 'marker'), 'utf8'), 'old\n');
      t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 1);
    } else {
      t.not(named[0].env_id, oldId);
      t.false(existsSync(join(box.store, 'env', oldId)), 'a finished rebuild leaves no old env dir');
    }
    for (const e of list.environments) t.true(existsSync(join(box.store, 'env', e.env_id, 'upper')));
    // Rollback before the point of no return; finished after it.
    t.is(oldSurvived, point !== 'rebuild:committed');

    // And a rebuild now completes.
    const again = await box.json(['rebuild'], { cwd: project });
    t.is(again.name, 'dev');
    const after = await box.json(['list']);
    t.deepEqual(after.environments.map((e: any) => e.env_id), [again.env_id]);
    t.is(lockedEnvId(project), again.env_id);
    t.deepEqual((await box.json(['verify-store'])).problems, []);
  });
}
