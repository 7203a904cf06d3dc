/**
 * Snapshots that store only what changed (issue 18), through the real CLI on the mock
 * backend (its upper dir is the environment's root): an unchanged commit adds nothing,
 * `snapshots rm` frees exactly the objects only that snapshot had, gc counts references
 * across environments, and a crash after the metadata change leaves only garbage for gc.
 */
import test from 'ava';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

async function env(t: { teardown(fn: () => void): void }, box?: Sandbox, name = 'dev', packages = ['git']): Promise<{ box: Sandbox; upper: string }> {
  if (!box) {
    box = sandbox('kp-snap-');
    const b = box;
    t.teardown(() => rmSync(b.dir, { recursive: true, force: true }));
  }
  box.write(`${name}/karapace.toml`, mockManifest({ packages }));
  const built = await box.json(['build', '--name', name], { cwd: join(box.dir, name) });
  return { box, upper: join(box.store, 'env', built.env_id, 'upper') };
}

function objects(box: Sandbox): Set<string> {
  const dir = join(box.store, 'store', 'objects');
  return new Set(readdirSync(dir).flatMap((s) => readdirSync(join(dir, s)).map((r) => s + r)));
}

function layers(box: Sandbox): string[] {
  return readdirSync(join(box.store, 'store', 'layers')).sort();
}

const minus = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();

test('a commit of an unchanged upper dir adds no snapshot and nothing to the store', async (t) => {
  const { box, upper } = await env(t);
  writeFileSync(join(upper, 'notes'), 'hello\n');
  const first = await box.json(['commit', 'dev', '-m', 'one']);
  t.false(first.unchanged);
  t.is(first.snapshot.index, 1);
  t.truthy(first.layer.tree);
  t.true(first.added.objects >= 2, 'the tree and at least the new file');
  const before = { objects: objects(box), layers: layers(box) };
  const again = await box.json(['commit', 'dev', '-m', 'two']);
  t.true(again.unchanged);
  t.is(again.snapshot.index, 1);
  t.is(again.snapshot.layer, first.layer.hash);
  t.deepEqual(again.added, { objects: 0, bytes: 0 });
  t.deepEqual(objects(box), before.objects);
  t.deepEqual(layers(box), before.layers);
  t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 1);
  const text = await box.run(['commit', 'dev']);
  t.regex(text.stdout, /no changes since snapshot 1/);
});

test('snapshots rm frees exactly the objects only that snapshot referenced; the others restore intact', async (t) => {
  const { box, upper } = await env(t);
  writeFileSync(join(upper, 'a'), 'a v1\n');
  writeFileSync(join(upper, 'shared'), 'in every snapshot\n');
  const s1 = await box.json(['commit', 'dev']);
  writeFileSync(join(upper, 'a'), 'a v2\n');
  writeFileSync(join(upper, 'b'), 'only in snapshot 2\n');
  const s2 = await box.json(['commit', 'dev']);
  writeFileSync(join(upper, 'a'), 'a v3\n');
  rmSync(join(upper, 'b'));
  const s3 = await box.json(['commit', 'dev']);
  // Each commit stored its new contents and its tree, nothing else.
  t.deepEqual(s2.added, { objects: 3, bytes: s2.added.bytes, cached: s2.added.cached });
  const before = objects(box);

  // Hostile selectors change nothing.
  const missing = await box.run(['snapshots', 'rm', 'dev', '9']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no snapshot "9"/);
  t.is((await box.run(['snapshots', 'rm', 'dev'])).code, 2);
  t.is((await box.run(['snapshots', 'dev', '2'])).code, 2);
  t.deepEqual(objects(box), before);

  const rm = await box.json(['snapshots', 'rm', 'dev', '2']);
  t.is(rm.removed.layer, s2.layer.hash);
  const expected = [s2.layer.tree, hashBytes('a v2\n'), hashBytes('only in snapshot 2\n')].sort();
  t.deepEqual(minus(before, objects(box)), expected);
  t.deepEqual(rm.freed, { layer: true, objects: 3, bytes: rm.freed.bytes });
  t.false(layers(box).includes(`${s2.layer.hash}.json`));
  const list = await box.json(['snapshots', 'dev']);
  t.deepEqual(list.snapshots.map((s: { layer: string }) => s.layer), [s1.layer.hash, s3.layer.hash]);

  // Snapshot 3 (whose parent was the removed one) and snapshot 1 still restore.
  t.is((await box.run(['restore', 'dev', '2'])).code, 0);
  t.is(readFileSync(join(upper, 'a'), 'utf8'), 'a v3\n');
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  t.is(readFileSync(join(upper, 'a'), 'utf8'), 'a v1\n');
  t.is(readFileSync(join(upper, 'shared'), 'utf8'), 'in every snapshot\n');
  t.true((await box.json(['verify-store'])).ok);
  // Nothing was left for gc.
  t.deepEqual((await box.json(['gc', '--dry-run'])).removed.filter((c: { kind: string }) => c.kind !== 'staging'), []);
});

test('gc counts references across environments: a content two envs committed outlives one of them', async (t) => {
  const { box, upper } = await env(t);
  const other = await env(t, box, 'other', ['curl']);
  writeFileSync(join(upper, 'common'), 'the same bytes in both\n');
  writeFileSync(join(other.upper, 'common'), 'the same bytes in both\n');
  writeFileSync(join(other.upper, 'own'), 'only the other env\n');
  await box.json(['commit', 'dev']);
  const o = await box.json(['commit', 'other']);
  await box.json(['destroy', 'other']);
  const gc = await box.json(['gc']);
  const removed = new Set(gc.removed.filter((c: { kind: string }) => c.kind === 'object').map((c: { id: string }) => c.id));
  t.true(removed.has(o.layer.tree));
  t.true(removed.has(hashBytes('only the other env\n')));
  t.false(removed.has(hashBytes('the same bytes in both\n')));
  t.true(objects(box).has(hashBytes('the same bytes in both\n')));
  writeFileSync(join(upper, 'common'), 'changed\n');
  t.is((await box.run(['restore', 'dev'])).code, 0);
  t.is(readFileSync(join(upper, 'common'), 'utf8'), 'the same bytes in both\n');
  t.true((await box.json(['verify-store'])).ok);
});

test('snapshots rm killed after its metadata change: the snapshot is gone and gc frees what it left', async (t) => {
  const { box, upper } = await env(t);
  writeFileSync(join(upper, 'f'), 'one\n');
  await box.json(['commit', 'dev']);
  writeFileSync(join(upper, 'f'), 'two\n');
  const s2 = await box.json(['commit', 'dev']);
  const killed = await box.run(['snapshots', 'rm', 'dev', '2'], { env: { KARAPACE_TEST_CRASH_AT: 'snapshot-rm:metadata' } });
  t.not(killed.code, 0);
  t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 1);
  const gc = await box.json(['gc']);
  const ids = gc.removed.map((c: { id: string }) => c.id);
  t.true(ids.includes(s2.layer.hash));
  t.true(ids.includes(s2.layer.tree));
  t.true(ids.includes(hashBytes('two\n')));
  t.true((await box.json(['verify-store'])).ok);
});
