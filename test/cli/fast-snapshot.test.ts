/**
 * `commit` and `restore` through the executable's fast path (bundle/snapshot.cjs, only the
 * backends) against the full CLI: the same snapshots, files, output and errors.
 */
import test from 'ava';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, runBundled, sandbox } from '../helpers/cli.js';

test('commit and restore through the fast path do what the full CLI does, and say it the same way', async (t) => {
  const box = sandbox('kp-fast-snapshot-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', mockManifest());
  const built = await box.json(['build', '--name', 'dev']);
  const upper = join(box.store, 'env', built.env_id, 'upper');
  writeFileSync(join(upper, 'notes'), 'one\n');

  // -v names the plugins loaded: the backends and nothing else.
  const first = await runBundled(box, ['commit', 'dev', '-m', 'first', '-v']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^committed snapshot 1 of [0-9a-f]{12}: layer [0-9a-f]{64} \(1 entries, .* as a tar; .* new stored\)\n$/);
  t.regex(first.stderr, /plugins: karapace:core, runtime-mock, runtime-namespace, runtime-oci\n/);
  const snapshots = await box.json(['snapshots', 'dev']);
  t.is(snapshots.snapshots.length, 1);
  t.is(snapshots.snapshots[0].message, 'first');

  // Nothing changed: the same words from both, no new snapshot.
  const fastSame = await runBundled(box, ['commit', 'dev']);
  const fullSame = await box.run(['commit', 'dev']);
  t.is(fastSame.code, 0, fastSame.stderr);
  t.is(fastSame.stdout, fullSame.stdout);
  t.regex(fastSame.stdout, /^no changes since snapshot 1 of /);
  const fastJson = JSON.parse((await runBundled(box, ['--json', 'commit', 'dev'])).stdout);
  const fullJson = JSON.parse((await box.run(['commit', 'dev', '--json'])).stdout);
  t.deepEqual(fastJson, fullJson);

  writeFileSync(join(upper, 'notes'), 'two\n');
  writeFileSync(join(upper, 'extra'), 'x');
  const restored = await runBundled(box, ['restore', 'dev', '1']);
  t.is(restored.code, 0, restored.stderr);
  t.regex(restored.stdout, /^restored [0-9a-f]{12} to snapshot 1 \(layer [0-9a-f]{12}\)\n$/);
  t.is(readFileSync(join(upper, 'notes'), 'utf8'), 'one\n');
  t.false(existsSync(join(upper, 'extra')));
  t.is((await box.run(['restore', 'dev'])).stdout, restored.stdout);

  // Errors and what the dispatcher does not know go the full CLI's way.
  for (const args of [['commit', 'nope'], ['restore', 'dev', '7'], ['commit'], ['commit', 'dev', '--unknown'], ['restore', '--help']]) {
    const fast = await runBundled(box, args);
    const full = await box.run(args);
    t.is(fast.code, full.code, args.join(' '));
    t.is(fast.stdout, full.stdout, args.join(' '));
    t.is(fast.stderr, full.stderr, args.join(' '));
  }
});
