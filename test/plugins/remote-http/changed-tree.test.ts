/**
 * A push re-packs the upper dir while it uploads it. When the hash it announced came from
 * the tree's stat fingerprint (no hashing), the re-pack is checked by fingerprinting again:
 * the same tree gives the announced bytes, a changed one fails with KP_REMOTE_CHANGED.
 */
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createEngine, hashBytes } from '@karapace/kernel';
import { openSource, planBundle } from '../../../kernel/dist/index.js';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { WRITE_TOKEN, startTestServer } from './server-process.js';

async function drain(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

test('an upper dir hashed by fingerprint is re-packed unchanged, and a change during the push is caught', async (t) => {
  const box = sandbox('kp-remote-changed-');
  // The upper dir as one tar (bundles v1/v2): bundle v3 sends trees and has no fingerprint cache.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/remote-http': { bundle: 'tars' } }));
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:changed' }));
  await box.json(['build', join(box.dir, 'proj'), '--name', 'ch']);
  const wrote = await box.run(['exec', 'ch', '--', 'sh', '-c', 'head -c 3000000 /dev/urandom > blob.bin; echo same-size > note.txt']);
  t.is(wrote.code, 0, wrote.stderr);
  // Files changed in the last two seconds are "racy": their fingerprint is not trusted.
  await new Promise((r) => setTimeout(r, 2100));
  const server = await startTestServer();
  try {
    // The first push hashes the tree as it uploads it and remembers the hash by fingerprint.
    const first = await box.run(['push', 'ch', 'ch@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } });
    t.is(first.code, 0, first.stderr);

    const engine = await createEngine({ cwd: box.dir, store: box.store, env: box.env, globalConfigDir: join(box.dir, 'config-home') });
    const plan = await planBundle(engine, 'ch', { defer: true });
    t.truthy(plan.upper, 'the upper dir hash comes from the fingerprint cache');
    const source = plan.sources.get(plan.upper!.blob);
    t.is(source?.kind, 'tree');
    t.truthy(source?.kind === 'tree' && source.fingerprint);
    const bytes = await drain(openSource(plan, plan.upper!.blob));
    t.is(bytes.length, plan.upper!.size);
    t.is(hashBytes(bytes), plan.upper!.blob);

    // Same size, different content: only the fingerprint (ctime) can tell.
    const again = await planBundle(engine, 'ch', { defer: true });
    writeFileSync(join(again.upperDir, 'note.txt'), 'SAME-SIZE\n');
    const err = await t.throwsAsync(drain(openSource(again, again.upper!.blob)));
    t.is((err as { code?: string }).code, 'KP_REMOTE_CHANGED');
    t.regex(err!.message, /changed while it was being pushed/);
  } finally {
    await server.stop();
  }
});

test('bundle v3: a file of the upper dir changed after the push planned it fails the push instead of sending other bytes', async (t) => {
  const box = sandbox('kp-remote-changed-v3-');
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:changed' }));
  await box.json(['build', join(box.dir, 'proj'), '--name', 'ch']);
  const wrote = await box.run(['exec', 'ch', '--', 'sh', '-c', 'echo same-size > note.txt']);
  t.is(wrote.code, 0, wrote.stderr);
  const engine = await createEngine({ cwd: box.dir, store: box.store, env: box.env, globalConfigDir: join(box.dir, 'config-home') });
  const plan = await planBundle(engine, 'ch', { objects: true });
  t.truthy(plan.upper?.tree, 'the upper dir goes as a tree');
  const content = hashBytes('same-size\n');
  const source = plan.sources.get(content);
  t.is(source?.kind, 'file');
  t.is((await drain(openSource(plan, content))).toString(), 'same-size\n');
  // Pushed once the dir is past its racy window: its tree is kept by stat fingerprint, and the
  // next push of the unchanged dir takes it from there (no pack, no hashing).
  await new Promise((r) => setTimeout(r, 2100));
  const settled = await planBundle(engine, 'ch', { objects: true });
  await settled.complete(settled.upper!);
  const cached = JSON.parse(readFileSync(join(box.store, 'cache', 'bundles', `upper-${basename(dirname(settled.upperDir))}.json`), 'utf8'));
  t.is(cached.tree, settled.upper!.tree!.blob);
  const reused = await planBundle(engine, 'ch', { objects: true });
  t.deepEqual(reused.upper, settled.upper);
  t.is(reused.sources.get(content)?.kind, 'file');
  // Nor is the dir stored: its contents are read from the dir at upload time, as after a scan.
  t.false(existsSync(join(engine.layout.objects, content.slice(0, 2), content.slice(2))), 'the kept tree does not ingest the upper dir into the store');
  writeFileSync(join(plan.upperDir, 'note.txt'), 'SAME-SIZE\n');
  const err = await t.throwsAsync(drain(openSource(plan, content)));
  t.is((err as { code?: string }).code, 'KP_REMOTE_CHANGED');
});

test('bundle v3: large files of a settled upper dir are read without hashing them again, and a change shows in the fingerprint after the uploads', async (t) => {
  const box = sandbox('kp-remote-changed-print-');
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:changed' }));
  await box.json(['build', join(box.dir, 'proj'), '--name', 'ch']);
  const wrote = await box.run(['exec', 'ch', '--', 'sh', '-c', 'head -c 300000 /dev/urandom > big.bin; echo small > small.txt']);
  t.is(wrote.code, 0, wrote.stderr);
  await new Promise((r) => setTimeout(r, 2100));
  const engine = await createEngine({ cwd: box.dir, store: box.store, env: box.env, globalConfigDir: join(box.dir, 'config-home') });
  const plan = await planBundle(engine, 'ch', { objects: true });
  const original = readFileSync(join(plan.upperDir, 'big.bin'));
  const big = hashBytes(original);
  const source = plan.sources.get(big);
  t.true(source?.kind === 'file' && source.print !== undefined, 'checked by the dir fingerprint');
  const small = plan.sources.get(hashBytes('small\n'));
  t.true(small?.kind === 'file' && small.print === undefined, 'a small file is hashed as it is read');
  t.true((await drain(openSource(plan, big))).equals(original));
  t.notThrows(() => plan.unchanged());

  // Same size, other bytes: read as they are now (the server would refuse them under the old
  // name), and the fingerprint after the uploads fails the push before anything is published.
  const changed = Buffer.from(original);
  changed[0] ^= 0xff;
  writeFileSync(join(plan.upperDir, 'big.bin'), changed);
  t.true((await drain(openSource(plan, big))).equals(changed));
  t.is((t.throws(() => plan.unchanged()) as { code?: string }).code, 'KP_REMOTE_CHANGED');
  const err = await t.throwsAsync(plan.complete(plan.upper!));
  t.is((err as { code?: string }).code, 'KP_REMOTE_CHANGED');
});
