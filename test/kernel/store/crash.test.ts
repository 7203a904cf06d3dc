/**
 * Crash recovery: the real CLI SIGKILLs itself (KARAPACE_TEST_CRASH_AT) at every named step
 * of build, commit, restore, destroy and gc. After the next command, verify-store must call
 * the store healthy and every environment that existed before must still be there, whole.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

async function prepared(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; keepId: string; upper: string }> {
  const box = sandbox('kp-crash-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  // The mock cannot show lower layers but may claim to: its builds then make packages layers too.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers', 'envHome'] } }));
  box.write('keep/karapace.toml', mockManifest({ packages: ['git'] }));
  box.write('other/karapace.toml', mockManifest({ packages: ['curl', 'make'] }));
  box.write('homed/karapace.toml', mockManifest({ packages: ['curl'], extra: 'home = "env"' }));
  const built = await box.json(['build', '--name', 'keep'], { cwd: join(box.dir, 'keep') });
  const upper = join(box.store, 'env', built.env_id, 'upper');
  const exec = await box.run(['exec', 'keep', '--', 'sh', '-c', 'echo before > marker']);
  if (exec.code !== 0) throw new Error(exec.stderr);
  await box.json(['commit', 'keep', '-m', 'first']);
  return { box, keepId: built.env_id, upper };
}

async function assertHealthy(t: any, box: Sandbox, keepId: string): Promise<void> {
  // The next command that takes the lock recovers; then the store must verify clean.
  const next = await box.run(['gc', '--dry-run', '--json']);
  t.is(next.code, 0, next.stderr);
  const verify = await box.run(['verify-store', '--json']);
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  const list = await box.json(['list']);
  t.true(list.environments.some((e: any) => e.env_id === keepId && e.name === 'keep'), 'the existing environment survived');
  t.true(existsSync(join(box.store, 'env', keepId, 'upper')));
}

async function crash(t: any, box: Sandbox, point: string, args: string[], cwd?: string): Promise<void> {
  const r = await box.run(args, { env: { KARAPACE_TEST_CRASH_AT: point }, cwd });
  t.is(r.code, 128, `expected SIGKILL at ${point}; got ${r.code}: ${r.stderr}`);
}

for (const point of ['build:staging', 'build:packages-layer', 'build:before-rename', 'build:after-rename', 'build:after-metadata']) {
  test(`crash at ${point}`, async (t) => {
    const { box, keepId } = await prepared(t);
    await crash(t, box, point, ['build'], join(box.dir, 'other'));
    await assertHealthy(t, box, keepId);
    // Recovery removed a packages layer the interrupted build had made: none is left for gc.
    t.deepEqual((await box.json(['gc', '--dry-run'])).removed.filter((c: any) => c.kind === 'packages'), []);
    const again = await box.run(['build', '--json'], { cwd: join(box.dir, 'other') });
    t.is(again.code, 0, again.stderr);
    await assertHealthy(t, box, keepId);
  });
}

for (const point of ['commit:begin', 'commit:packed', 'commit:metadata']) {
  test(`crash at ${point}`, async (t) => {
    const { box, keepId } = await prepared(t);
    // A change: a commit of an unchanged upper dir returns before packing anything.
    const exec = await box.run(['exec', 'keep', '--', 'sh', '-c', 'echo after > marker']);
    t.is(exec.code, 0, exec.stderr);
    await crash(t, box, point, ['commit', 'keep']);
    await assertHealthy(t, box, keepId);
    const snaps = await box.json(['snapshots', 'keep']);
    t.true(snaps.snapshots.length >= 1 && snaps.snapshots.length <= 2);
  });
}

for (const point of ['restore:begin', 'restore:unpacked', 'restore:swapped-out', 'restore:swapped-in', 'restore:committed']) {
  test(`crash at ${point}`, async (t) => {
    const { box, keepId, upper } = await prepared(t);
    t.is((await box.run(['exec', 'keep', '--', 'sh', '-c', 'echo after > marker && echo new > added'])).code, 0);
    await crash(t, box, point, ['restore', 'keep', '1']);
    await assertHealthy(t, box, keepId);
    // All or nothing: either the old upper dir or the restored snapshot, never a mix.
    const marker = readFileSync(join(upper, 'marker'), 'utf8');
    if (marker === 'before\n') t.false(existsSync(join(upper, 'added')));
    else {
      t.is(marker, 'after\n');
      t.true(existsSync(join(upper, 'added')));
    }
  });
}

for (const point of ['destroy:begin', 'destroy:moved', 'destroy:home-moved', 'destroy:metadata-removed', 'destroy:committed']) {
  test(`crash at ${point}`, async (t) => {
    const { box, keepId } = await prepared(t);
    // An env with a home of its own (the mock makes none: the backend would on first exec).
    const other = await box.json(['build', '--name', 'other'], { cwd: join(box.dir, 'homed') });
    box.write('store/homes/other/notes', 'mine\n');
    await crash(t, box, point, ['destroy', 'other']);
    await assertHealthy(t, box, keepId);
    const list = await box.json(['list']);
    const survivor = list.environments.find((e: any) => e.env_id === other.env_id);
    if (survivor) {
      t.true(existsSync(join(box.store, 'env', other.env_id, 'upper')), 'a rolled-back destroy leaves the env whole');
      t.is(readFileSync(join(box.store, 'homes', 'other', 'notes'), 'utf8'), 'mine\n', 'and its home');
    } else {
      t.false(existsSync(join(box.store, 'env', other.env_id)));
      t.false(existsSync(join(box.store, 'homes', 'other')));
    }
    t.deepEqual(readdirSync(join(box.store, 'store', 'staging')).filter((n) => n.startsWith('destroy-')), []);
  });
}

test('crash in the middle of gc', async (t) => {
  const { box, keepId } = await prepared(t);
  await box.json(['build', '--name', 'other'], { cwd: join(box.dir, 'other') });
  await box.json(['commit', 'other']);
  await box.json(['destroy', 'other']);
  const dry = await box.json(['gc', '--dry-run']);
  t.true(dry.removed.length >= 2, 'the destroyed env left a layer and an object');
  await crash(t, box, 'gc:removed-one', ['gc']);
  await assertHealthy(t, box, keepId);
  const after = await box.json(['gc']);
  t.false(after.interrupted);
  t.is((await box.json(['gc', '--dry-run'])).removed.length, 0);
});

test('a corrupt WAL entry is moved aside with a warning', async (t) => {
  const { box, keepId } = await prepared(t);
  box.write('store/store/wal/commit-bogus.json', '{ not json');
  const r = await box.run(['gc', '--dry-run']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /corrupt write-ahead log entry/);
  t.true(existsSync(join(box.store, 'store', 'wal', 'corrupt')));
  await assertHealthy(t, box, keepId);
});
