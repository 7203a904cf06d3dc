/**
 * The name/id index (kernel/src/store/env-index.ts): kept by every metadata change, used to
 * find environments and list them, and never trusted when stale — a missing, corrupt or
 * out-of-date index is rebuilt from the metadata files, transparently. Real engine, mock
 * environments, real store.
 */
import test from 'ava';
import { existsSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  build, createEngine, destroyEnv, findEnv, listEnvs, migrateStore, renameEnv, verifyStore, type Engine,
} from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

async function setup(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; engine: Engine; index: string }> {
  const box = sandbox('kp-index-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const engine = await createEngine({ cwd: box.dir, store: box.store, globalConfigDir: join(box.dir, 'config-home'), env: { ...process.env, ...box.env } });
  return { box, engine, index: join(box.store, 'store', 'index') };
}

async function buildNamed(box: Sandbox, engine: Engine, name: string, pkg: string): Promise<string> {
  box.write(`${name}/karapace.toml`, mockManifest({ image: `mock:${name}`, packages: [pkg] }));
  const result = await build(engine, { manifest: join(box.dir, name, 'karapace.toml'), name });
  return result.env_id;
}

const names = (index: string) => readdirSync(join(index, 'names')).sort();

test('every change to names and ids keeps the index, and lookups read it', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  const b = await buildNamed(box, engine, 'beta', 'curl');
  t.deepEqual(names(index), ['alpha', 'beta']);
  t.is(readFileSync(join(index, 'names', 'alpha'), 'utf8').split(' ')[0], a);
  t.true(readFileSync(join(index, 'ids', b.slice(0, 2)), 'utf8').includes(b));
  t.is((await findEnv(engine.layout, 'beta')).env_id, b);
  t.is((await findEnv(engine.layout, b.slice(0, 12))).env_id, b);
  t.is((await findEnv(engine.layout, a)).env_id, a);

  await renameEnv(engine, 'alpha', 'gamma');
  t.deepEqual(names(index), ['beta', 'gamma']);
  await t.throwsAsync(findEnv(engine.layout, 'alpha'), { message: /no environment "alpha"/ });
  t.is((await findEnv(engine.layout, 'gamma')).env_id, a);

  await destroyEnv(engine, 'beta');
  t.deepEqual(names(index), ['gamma']);
  t.false(readFileSync(join(index, 'ids', b.slice(0, 2)), 'utf8').includes(b));
  await t.throwsAsync(findEnv(engine.layout, b.slice(0, 12)), { message: /no environment/ });
  const listed = await listEnvs(engine);
  t.deepEqual(listed.environments.map((e) => [e.env_id, e.name]), [[a, 'gamma']]);
});

test('a missing or corrupt index is rebuilt transparently by the next reader', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  rmSync(index, { recursive: true });
  t.is((await findEnv(engine.layout, 'alpha')).env_id, a);
  t.true(existsSync(join(index, 'stamp')), 'the reader stored the rebuilt index');
  t.deepEqual(names(index), ['alpha']);
  // Garbage everywhere, the stamp included: the stamp does not match, so nothing is believed.
  for (const f of ['stamp', 'rows', 'names/alpha']) writeFileSync(join(index, f), 'garbage');
  t.is((await findEnv(engine.layout, 'alpha')).env_id, a);
  t.is((await listEnvs(engine)).environments.length, 1);
  t.is(readFileSync(join(index, 'names', 'alpha'), 'utf8').split(' ')[0], a);
  // A fresh stamp with rows that do not parse: list reads the files instead.
  writeFileSync(join(index, 'rows'), 'karapace-rows 2\n{\n');
  t.deepEqual((await listEnvs(engine)).environments.map((e) => e.env_id), [a]);
});

test('changes made behind the index make it stale: it is never used wrongly', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  const b = await buildNamed(box, engine, 'beta', 'curl');
  // A metadata file removed by hand (an older karapace, recovery): the directory changed.
  const metaB = join(engine.layout.metadata, `${b}.json`);
  const saved = readFileSync(metaB);
  rmSync(metaB);
  await t.throwsAsync(findEnv(engine.layout, 'beta'), { message: /no environment "beta"/ });
  t.deepEqual((await listEnvs(engine)).environments.map((e) => e.name), ['alpha']);
  t.deepEqual(names(index), ['alpha'], 'rebuilt without it');
  // ... and put back: found again although the index was fresh without it.
  writeFileSync(metaB, saved);
  t.is((await findEnv(engine.layout, 'beta')).env_id, b);
  t.is((await listEnvs(engine)).environments.length, 2);
  // A name file that lies while the stamp is fresh: the metadata read says otherwise, so the files decide.
  writeFileSync(join(index, 'names', 'beta'), `${a}\n`);
  t.is((await findEnv(engine.layout, 'beta')).env_id, b);
});

test('metadata changed in place after the index vouched for it is checked again', async (t) => {
  const { box, engine } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  t.is((await findEnv(engine.layout, 'alpha')).backend, 'mock');
  // Same inode, same directory: the index stays fresh, but the file's identity changed.
  const file = join(engine.layout.metadata, `${a}.json`);
  writeFileSync(file, readFileSync(file, 'utf8').replace('"backend": "mock"', '"backend": "namespace"'));
  await t.throwsAsync(findEnv(engine.layout, 'alpha'), { message: /checksum mismatch/ });
});

test('verify-store and migrate rebuild the index', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  rmSync(index, { recursive: true });
  await verifyStore(engine);
  t.is(readFileSync(join(index, 'names', 'alpha'), 'utf8').split(' ')[0], a);
  rmSync(index, { recursive: true });
  await migrateStore(engine);
  t.is(readFileSync(join(index, 'names', 'alpha'), 'utf8').split(' ')[0], a);
});

test('an index from before the rows file (envs.json, a v2 stamp) is stale: rebuilt as rows, envs.json gone', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  const b = await buildNamed(box, engine, 'beta', 'curl');
  // What karapace wrote before: the rows as one JSON array, stamped v2 (the directory's identity then).
  const rows = (await listEnvs(engine)).environments;
  const stamp = readFileSync(join(index, 'stamp'), 'utf8');
  rmSync(join(index, 'rows'));
  writeFileSync(join(index, 'envs.json'), JSON.stringify([rows[1]]));
  writeFileSync(join(index, 'stamp'), stamp.replace(/^v4 /, 'v2 '));
  t.deepEqual((await listEnvs(engine)).environments.map((e) => e.env_id), [a, b], 'the old rows are not believed');
  t.true(readFileSync(join(index, 'stamp'), 'utf8').startsWith('v4 '));
  t.false(existsSync(join(index, 'envs.json')));
  t.regex(readFileSync(join(index, 'rows'), 'utf8'), /^karapace-rows 2 2 12 5 5 4 10\n/);
  // migrate on such a store writes the new index too.
  writeFileSync(join(index, 'stamp'), stamp.replace(/^v4 /, 'v2 '));
  rmSync(join(index, 'rows'));
  await migrateStore(engine);
  t.is(readFileSync(join(index, 'rows'), 'utf8').split('\n').length, 4, 'header, two rows, final newline');
});

test('an index with version 1 rows (no widths, a v3 stamp) is stale: rebuilt with widths', async (t) => {
  const { box, engine, index } = await setup(t);
  const a = await buildNamed(box, engine, 'alpha', 'git');
  const b = await buildNamed(box, engine, 'beta', 'curl');
  const rows = readFileSync(join(index, 'rows'), 'utf8');
  const stamp = readFileSync(join(index, 'stamp'), 'utf8');
  // What karapace wrote before: the same lines under a header without widths, stamped v3, and only one row.
  const lines = rows.split('\n');
  writeFileSync(join(index, 'rows'), `karapace-rows 1 1\n${lines[1]}\n`);
  writeFileSync(join(index, 'stamp'), stamp.replace(/^v4 /, 'v3 '));
  t.deepEqual((await listEnvs(engine)).environments.map((e) => e.env_id), [a, b], 'the old rows are not believed');
  t.is(readFileSync(join(index, 'rows'), 'utf8'), rows);
  t.is(readFileSync(join(index, 'stamp'), 'utf8'), stamp);
  // migrate rewrites it too.
  writeFileSync(join(index, 'rows'), `karapace-rows 1 1\n${lines[1]}\n`);
  writeFileSync(join(index, 'stamp'), stamp.replace(/^v4 /, 'v3 '));
  await migrateStore(engine);
  t.is(readFileSync(join(index, 'rows'), 'utf8'), rows);
});

test('rows stay in list order through builds, renames and destroys, and pages read from it', async (t) => {
  const { box, engine } = await setup(t);
  const ids = [];
  for (const n of ['a', 'b', 'c', 'd']) ids.push(await buildNamed(box, engine, n, `pkg-${n}`));
  await renameEnv(engine, 'a', 'z');
  await destroyEnv(engine, 'c');
  const all = await listEnvs(engine);
  t.deepEqual(all.environments.map((e) => e.name), ['z', 'b', 'd']);
  t.is(all.total, 3);
  const page = await listEnvs(engine, { offset: 1, limit: 1 });
  t.deepEqual(page.environments.map((e) => e.name), ['b']);
  t.is(page.total, 3);
  t.deepEqual((await listEnvs(engine, { offset: 5 })).environments, []);
});
