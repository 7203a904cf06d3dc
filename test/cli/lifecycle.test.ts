import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../helpers/cli.js';

test('building the same manifest twice gives the same env_id; the second build is a no-op', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git', 'curl'] }));
  const first = await box.json(['build']);
  const second = await box.json(['build']);
  t.regex(first.env_id, /^[0-9a-f]{64}$/);
  t.is(first.short_id, first.env_id.slice(0, 12));
  t.is(second.env_id, first.env_id);
  t.false(first.cached);
  t.true(second.cached);
  t.deepEqual(first.packages.map((p: { name: string }) => p.name), ['curl', 'git']);
  t.true(existsSync(join(box.dir, 'karapace.lock')));
});

test('duplicating or reordering packages keeps env_id; changing a package changes it', async (t) => {
  const ids: Record<string, string> = {};
  for (const [label, manifest] of Object.entries({
    base: mockManifest({ packages: ['git', 'curl'] }),
    reordered: mockManifest({ packages: ['curl', 'git', 'git', ' curl'] }),
    otherPackage: mockManifest({ packages: ['git', 'wget'] }),
  })) {
    const box = sandbox();
    box.write('karapace.toml', manifest);
    ids[label] = (await box.json(['build'])).env_id;
  }
  t.is(ids.reordered, ids.base);
  t.not(ids.otherPackage, ids.base);
});

test('network isolation is part of the identity; backend names are case-insensitive', async (t) => {
  const box = sandbox();
  // The mock backend isolates nothing; for identities it may claim to.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['networkIsolation'] } }));
  box.write('a/karapace.toml', mockManifest({ packages: ['git'] }));
  box.write('b/karapace.toml', mockManifest({ packages: ['git'] }).replace('[runtime]', '[runtime]\nnetwork_isolation = true'));
  const a = await box.json(['build', 'a']);
  const b = await box.json(['build', 'b']);
  t.not(a.env_id, b.env_id);
  box.write('c/karapace.toml', mockManifest({ packages: ['git'], backend: 'Mock' }));
  const c = await box.json(['build', 'c']);
  t.is(c.env_id, a.env_id);
});

test('an unknown key exits 2 and names the key and its line', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest() + '[hardware]\ngpu = false\nsound = true\n');
  const r = await box.run(['build']);
  t.is(r.code, 2);
  t.regex(r.stderr, /karapace\.toml:11: hardware\.sound: unknown key/);
  const j = await box.run(['build', '--json']);
  t.is(j.code, 2);
  const err = JSON.parse(j.stderr.trim().split('\n').pop()!);
  t.is(err.error.code, 'KP_MANIFEST_INVALID');
  t.is(err.error.data.problems[0].key, 'hardware.sound');
  t.is(err.error.data.problems[0].line, 11);
  t.is(j.stdout, '');
});

test('build --locked refuses a drifted manifest with exit 2 and names each difference', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build']);
  const locked = await box.json(['build', '--locked']);
  t.is(locked.env_id, built.env_id);
  box.write('karapace.toml', mockManifest({ packages: ['git', 'vim'] }).replace('[runtime]', '[runtime]\nnetwork_isolation = true'));
  const r = await box.run(['build', '--locked']);
  t.is(r.code, 2);
  t.regex(r.stderr, /package "vim" is in the manifest but not in the lock/);
  t.regex(r.stderr, /runtime\.network_isolation: manifest has true, lock has false/);
  const lockBefore = readFileSync(join(box.dir, 'karapace.lock'), 'utf8');
  t.is(readFileSync(join(box.dir, 'karapace.lock'), 'utf8'), lockBefore);
});

test('build --locked installs the lock\'s exact versions', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build']);
  // Hand-craft a lock pinning another version (with a correct env_id), then build --locked on a fresh store.
  const { computeEnvId, readLock, writeLock } = await import('@karapace/kernel');
  const lock = readLock(join(box.dir, 'karapace.lock'))!;
  const pinned = { ...lock, resolved_packages: [{ name: 'git', version: '0.0.1-pinned' }] };
  await writeLock(join(box.dir, 'karapace.lock'), { ...pinned, ...computeEnvId(pinned) });
  const fresh = await box.json(['build', '--locked'], { env: { KARAPACE_STORE: join(box.dir, 'store2') } });
  t.deepEqual(fresh.packages, [{ name: 'git', version: '0.0.1-pinned' }]);
  t.not(fresh.env_id, built.env_id);
});

test('a preset pulled in by extends changes a default', async (t) => {
  const box = sandbox();
  box.write('preset/org.json', JSON.stringify({ defaultBackend: 'mock' }));
  box.write('proj/.karapacerc.json', JSON.stringify({ extends: '../preset/org.json' }));
  box.write('proj/karapace.toml', 'manifest_version = 1\n[base]\nimage = "mock:preset"\n');
  const r = await box.json(['build'], { cwd: join(box.dir, 'proj') });
  t.is(r.backend, 'mock');
  // Without the preset the default backend is namespace.
  box.write('plain/karapace.toml', 'manifest_version = 1\n[base]\nimage = "mock:preset"\n');
  box.write('plain/package.json', '{}');
  const plain = await box.run(['build', '--json'], { cwd: join(box.dir, 'plain') });
  if (plain.code === 0) t.is(JSON.parse(plain.stdout).backend, 'namespace');
  else t.regex(plain.stderr, /namespace/);
});

test('exec <short_id> -- sh -c "exit 7" exits 7; stdio is streamed', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const { short_id } = await box.json(['build']);
  const r = await box.run(['exec', short_id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  t.is(r.code, 7);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  const missing = await box.run(['exec', short_id, '--', 'definitely-not-a-command-kp']);
  t.is(missing.code, 127);
});

test('environments are found by env_id, short_id, unique prefix or name; ambiguity is an error', async (t) => {
  const box = sandbox();
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    box.write(`m${i}/karapace.toml`, mockManifest({ packages: [`pkg${i}`] }));
    ids.push((await box.json(['build', `m${i}`])).env_id);
  }
  await box.json(['rename', ids[0]!, 'first']);
  for (const ref of [ids[0]!, ids[0]!.slice(0, 12), ids[0]!.slice(0, 8), 'first']) {
    const r = await box.json(['inspect', ref]);
    t.is(r.env_id, ids[0]);
  }
  // With 12 ids, two share a first hex digit (pigeonhole over 16 is not guaranteed): find a shared prefix.
  const byFirst = new Map<string, number>();
  for (const id of ids) byFirst.set(id[0]!, (byFirst.get(id[0]!) ?? 0) + 1);
  const shared = [...byFirst.entries()].find(([, n]) => n > 1)?.[0];
  if (shared) {
    const r = await box.run(['inspect', shared]);
    t.is(r.code, 2);
    t.regex(r.stderr, /matches \d+ environments/);
  }
  const none = await box.run(['inspect', 'nothing-like-this']);
  t.is(none.code, 3);
  t.regex(none.stderr, /no environment "nothing-like-this"/);
});

test('names: rules enforced, unique, kept across rename; destroy frees the name', async (t) => {
  const box = sandbox();
  box.write('a/karapace.toml', mockManifest({ packages: ['a'] }));
  box.write('b/karapace.toml', mockManifest({ packages: ['b'] }));
  const a = await box.json(['build', 'a', '--name', 'alpha']);
  t.is(a.name, 'alpha');
  const clash = await box.run(['build', 'b', '--name', 'alpha']);
  t.is(clash.code, 2);
  t.regex(clash.stderr, /already used by environment/);
  // The refused build created nothing: no second environment, no lock next to its manifest.
  t.deepEqual((await box.json(['list'])).environments.map((e: { name: string }) => e.name), ['alpha']);
  t.false(existsSync(join(box.dir, 'b', 'karapace.lock')));
  for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', 'deadbeef']) {
    const r = await box.run(['rename', 'alpha', bad]);
    t.is(r.code, 2, bad);
  }
  await box.json(['rename', 'alpha', 'Beta_2-ok']);
  t.is((await box.json(['inspect', 'Beta_2-ok'])).env_id, a.env_id);
  const destroyed = await box.json(['destroy', 'Beta_2-ok']);
  t.is(destroyed.destroyed.env_id, a.env_id);
  t.false(existsSync(join(box.store, 'env', a.env_id)));
  t.false(existsSync(join(box.store, 'store', 'metadata', `${a.env_id}.json`)));
  const b = await box.json(['build', 'b', '--name', 'Beta_2-ok']);
  t.is(b.name, 'Beta_2-ok');
});

test('--json output of list, inspect and build parses, one document each', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const build = await box.run(['build', '--json', '--name', 'j']);
  t.is(build.code, 0);
  const b = JSON.parse(build.stdout);
  t.like(b, { name: 'j', backend: 'mock', cached: false, state: 'built' });
  const list = JSON.parse((await box.run(['list', '--json'])).stdout);
  t.is(list.environments.length, 1);
  t.like(list.environments[0], { env_id: b.env_id, name: 'j', state: 'built', backend: 'mock', base: 'mock:test', packages: 1 });
  const inspect = JSON.parse((await box.run(['inspect', 'j', '--json'])).stdout);
  t.is(inspect.lock.env_id, b.env_id);
  t.deepEqual(inspect.lock.resolved_packages, b.packages);
  t.false('checksum' in inspect);
});

test('rebuild destroys and rebuilds, keeping the name', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const a = await box.json(['build', '--name', 'keep']);
  writeFileSync(join(box.store, 'env', a.env_id, 'upper', 'scratch'), 'x');
  const r = await box.json(['rebuild']);
  t.is(r.env_id, a.env_id);
  t.is(r.name, 'keep');
  t.false(existsSync(join(box.store, 'env', a.env_id, 'upper', 'scratch')));
});

test('unknown commands and missing arguments are usage errors (exit 2); --help lists working commands', async (t) => {
  const box = sandbox();
  t.is((await box.run(['frobnicate'])).code, 2);
  t.is((await box.run(['exec'])).code, 2);
  const help = await box.run(['--help']);
  t.is(help.code, 0);
  for (const cmd of ['build', 'rebuild', 'enter', 'exec', 'destroy', 'list', 'inspect', 'rename']) t.regex(help.stdout, new RegExp(`karapace ${cmd}\\b`));
});

test('--store and KARAPACE_STORE choose the store; --store wins', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const other = join(box.dir, 'flag-store');
  const r = await box.json(['build', '--store', other]);
  t.true(existsSync(join(other, 'store', 'metadata', `${r.env_id}.json`)));
  t.false(existsSync(join(box.store, 'store', 'metadata', `${r.env_id}.json`)));
});
