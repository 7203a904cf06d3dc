/**
 * Snapshots and state rules through the real CLI on the mock backend (whose upper dir is
 * the environment's root): commit → restore round trip, diff, freeze/archive, gc
 * protection and dry run, verify-store naming damage, migrate.
 */
import test from 'ava';
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

const require = createRequire(import.meta.url);
const xattr = require('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
const isRoot = process.geteuid?.() === 0;

async function env(t: { teardown(fn: () => void): void }, name = 'dev'): Promise<{ box: Sandbox; id: string; upper: string }> {
  const box = sandbox('kp-life-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write(`${name}/karapace.toml`, mockManifest({ packages: ['git'] }));
  const built = await box.json(['build', '--name', name], { cwd: join(box.dir, name) });
  return { box, id: built.env_id, upper: join(box.store, 'env', built.env_id, 'upper') };
}

async function sh(box: Sandbox, script: string): Promise<void> {
  const r = await box.run(['exec', 'dev', '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(`exec failed: ${r.stderr}`);
}

function snapshotOf(upper: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(upper, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(upper, r));
      const xs = st.isSymbolicLink() ? '' : xattr.listAttributesSync(join(upper, r)).filter((k) => !k.includes('overlay.opaque')).sort().join(',');
      const body = st.isFile() ? readFileSync(join(upper, r), 'utf8') : '';
      out.push(`${r} ${st.mode.toString(8)} ${st.nlink} ${st.isCharacterDevice() ? `c${st.rdev}` : ''} ${xs} ${body}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

test('commit → change → restore reproduces the tree: modes, hardlinks, xattrs, deletions', async (t) => {
  const { box, upper } = await env(t);
  await sh(box, 'mkdir -p etc/app && echo v1 > etc/app/conf && chmod 640 etc/app/conf && ln etc/app/conf etc/app/hard && ln -s app/conf etc/sym && echo x > exe && chmod 4711 exe');
  xattr.setAttributeSync(join(upper, 'etc/app/conf'), 'user.note', 'kept');
  if (isRoot) await sh(box, 'mknod -m 000 etc/deleted c 0 0');
  const before = snapshotOf(upper);
  const commit = await box.json(['commit', 'dev', '-m', 'v1']);
  t.is(commit.snapshot.index, 1);

  await sh(box, 'echo v2 > etc/app/conf && rm -f etc/app/hard etc/deleted exe && echo new > added');
  const diff = await box.json(['diff', 'dev']);
  t.is(diff.against, 'snapshot:1');
  t.deepEqual(diff.added, ['added']);
  t.deepEqual(diff.modified, ['etc/app/conf']);
  t.deepEqual(diff.removed, ['etc/app/hard', 'exe']);

  const restored = await box.json(['restore', 'dev', '1']);
  t.is(restored.restored.index, 1);
  t.deepEqual(snapshotOf(upper), before);
  t.deepEqual(await box.json(['diff', 'dev']), { ...diff, added: [], modified: [], removed: [] });
  t.is((await box.run(['verify-store'])).code, 0);
});

test('diff against the base reports additions, modifications and whiteouts', async (t) => {
  const { box } = await env(t);
  await sh(box, `mkdir -p etc && echo changed > etc/hostname && echo n > newfile${isRoot ? ' && mknod -m 000 etc/os-release c 0 0' : ''}`);
  const diff = await box.json(['diff', 'dev']);
  t.is(diff.against, 'base');
  t.true(diff.added.includes('newfile'));
  t.true(diff.modified.includes('etc/hostname'));
  if (isRoot) t.deepEqual(diff.removed, ['etc/os-release']);
});

test('state rules: freeze, archive, and what each forbids', async (t) => {
  const { box } = await env(t);
  // Freezing needs a backend that can make the root read-only; the mock may claim to.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['readOnlyRoot'] } }));
  await box.json(['commit', 'dev']);
  const archiveBuilt = await box.run(['archive', 'dev']);
  t.is(archiveBuilt.code, 2);
  t.regex(archiveBuilt.stderr, /freeze it first/);
  t.is((await box.json(['freeze', 'dev'])).state, 'frozen');
  t.is((await box.run(['exec', 'dev', '--', 'true'])).code, 0, 'a frozen env can be entered');
  const restoreFrozen = await box.run(['restore', 'dev']);
  t.is(restoreFrozen.code, 2);
  t.regex(restoreFrozen.stderr, /frozen/);
  t.is((await box.run(['freeze', 'dev'])).code, 2, 'freezing twice is an illegal transition');
  t.is((await box.json(['archive', 'dev'])).state, 'archived');
  const enter = await box.run(['exec', 'dev', '--', 'true']);
  t.is(enter.code, 2);
  t.regex(enter.stderr, /archived and cannot be entered/);
});

test('a running environment cannot be destroyed, restored or committed', async (t) => {
  const { box } = await env(t);
  await box.json(['commit', 'dev']);
  // Long enough to outlast the three refused commands on a loaded machine; stop ends it.
  const running = box.run(['exec', 'dev', '--', 'sleep', '300']);
  const runtime = join(box.store, 'env');
  // Until the command runs (a loaded machine may take many seconds to start it).
  for (let i = 0; i < 1200 && !readdirSync(runtime).some((id) => existsSync(join(runtime, id, 'runtime', 'mock.pid'))); i++) await new Promise((r) => setTimeout(r, 50));
  for (const args of [['destroy', 'dev'], ['restore', 'dev'], ['commit', 'dev']]) {
    const r = await box.run(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /running/);
  }
  t.is((await box.run(['stop', 'dev', '--timeout', '1'])).code, 0);
  await running;
});

test('gc keeps what environments reference, archived ones included; --dry-run reports the same', async (t) => {
  const { box, id } = await env(t);
  await box.json(['commit', 'dev']);
  box.write('tmp/karapace.toml', mockManifest({ packages: ['curl'] }));
  await box.json(['build', '--name', 'tmp'], { cwd: join(box.dir, 'tmp') });
  t.is((await box.run(['exec', 'tmp', '--', 'sh', '-c', 'printf tmp > only-tmp'])).code, 0);
  await box.json(['commit', 'tmp']);
  await box.json(['destroy', 'tmp']);
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['readOnlyRoot'] } }));
  await box.json(['freeze', 'dev']);
  await box.json(['archive', 'dev']);
  const dry = await box.json(['gc', '--dry-run']);
  const real = await box.json(['gc']);
  t.true(dry.dry_run);
  t.deepEqual(real.removed, dry.removed);
  t.is(real.freed_bytes, dry.freed_bytes);
  // tmp's layer record, and its tree with the contents only it had.
  t.deepEqual([...new Set(real.removed.map((c: any) => c.kind))].sort(), ['layer', 'object']);
  t.deepEqual((await box.json(['gc', '--dry-run'])).removed, []);
  const snaps = await box.json(['snapshots', 'dev']);
  t.is(snaps.snapshots[0].size === null, false, 'the archived env keeps its snapshot layer');
  t.true(existsSync(join(box.store, 'env', id)));
  t.is((await box.run(['verify-store'])).code, 0);
});

test('verify-store names each damaged item and exits 3', async (t) => {
  const { box, id } = await env(t);
  const commit = await box.json(['commit', 'dev']);
  // The layer's tree: the object is damaged, and so is the layer whose tar it gives.
  const obj = join(box.store, 'store', 'objects', commit.layer.tree.slice(0, 2), commit.layer.tree.slice(2));
  chmodSync(obj, 0o644);
  writeFileSync(obj, 'garbage');
  const meta = join(box.store, 'store', 'metadata', `${id}.json`);
  writeFileSync(meta, readFileSync(meta, 'utf8').replace('"built"', '"frozen"'));
  const imageKey = readdirSync(join(box.store, 'images'))[0]!;
  writeFileSync(join(box.store, 'images', imageKey, 'rootfs', 'etc', 'hostname'), 'tampered\n');
  const r = await box.run(['verify-store', '--json']);
  t.is(r.code, 3);
  const report = JSON.parse(r.stdout);
  const kinds = report.problems.map((p: any) => p.kind).sort();
  t.deepEqual(kinds, ['image', 'layer', 'metadata', 'object']);
  t.true(report.problems.some((p: any) => p.path === obj));
  t.true(report.problems.some((p: any) => p.path === meta));
});

test('migrate reports the version and refuses unknown ones with guidance', async (t) => {
  const { box } = await env(t);
  const ok = await box.json(['migrate']);
  t.is(ok.version, 3);
  t.false(ok.migrated);
  writeFileSync(join(box.store, 'store', 'version'), '7\n');
  const r = await box.run(['migrate']);
  t.is(r.code, 3);
  t.regex(r.stderr, /version 7/);
  t.regex(r.stderr, /upgrade karapace/);
});
