/** The CLI end to end with image-sources bases (mock backend: no packages run). */
import anyTest from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { busyboxMissing, busyboxTarball } from './_helpers.js';

const test = busyboxMissing ? anyTest.skip : anyTest;

test('build from a local tarball, pin, pin --check, pin --write-lock, --require-pinned-image', async (t) => {
  const box = sandbox('kp-pin-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const tar = busyboxTarball(t, box.dir, 'gz');
  box.write('karapace.toml', mockManifest({ image: './busybox.tar.gz' }).replace('manifest_version = 1', '# my env\nmanifest_version = 1'));

  const unpinned = await box.run(['build', '--require-pinned-image']);
  t.is(unpinned.code, 2, unpinned.stderr);
  t.regex(unpinned.stderr, /not pinned/);
  const check = await box.run(['pin', '--check', '--json']);
  t.is(check.code, 2);
  t.is(JSON.parse(check.stderr).error.code, 'KP_IMAGE_NOT_PINNED');

  const built = await box.json(['build']);
  const lock = readFileSync(join(box.dir, 'karapace.lock'), 'utf8');
  t.regex(lock, new RegExp(`source = "${tar}#blake3=[0-9a-f]{64}"`));

  const pinned = await box.json(['pin', '--write-lock']);
  t.true(pinned.changed);
  t.regex(pinned.after, new RegExp(`^${tar.replace(/[.]/g, '\\.')}#blake3=[0-9a-f]{64}$`));
  const manifest = readFileSync(join(box.dir, 'karapace.toml'), 'utf8');
  t.true(manifest.startsWith('# my env\n'), 'the rest of the manifest is kept');
  t.true(manifest.includes(`image = ${JSON.stringify(pinned.after)}`));
  t.true(readFileSync(join(box.dir, 'karapace.lock'), 'utf8').includes(`image = ${JSON.stringify(pinned.after)}`));

  t.like(await box.json(['pin', '--check']), { pinned: true, after: pinned.after });
  const locked = await box.json(['build', '--locked', '--require-pinned-image']);
  t.is(locked.base.digest, built.base.digest);
  t.is(locked.env_id, built.env_id, 'the identity comes from the digest, not the reference text');
  // Pinning again changes nothing.
  t.false((await box.json(['pin'])).changed);
});

test('--offline on an empty store fails clearly for a URL base; --json progress events are JSON lines', async (t) => {
  const box = sandbox('kp-offline-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', mockManifest({ image: 'http://127.0.0.1:9/rootfs.tar.xz' }));
  const r = await box.run(['build', '--offline']);
  t.is(r.code, 1);
  t.regex(r.stderr, /--offline was given but http:\/\/127\.0\.0\.1:9\/rootfs\.tar\.xz must be downloaded/);

  busyboxTarball(t, box.dir, 'xz');
  box.write('karapace.toml', mockManifest({ image: './busybox.tar.xz' }));
  const built = await box.run(['build', '--json']);
  t.is(built.code, 0, built.stderr);
  JSON.parse(built.stdout);
  const events = built.stderr.trim().split('\n').map((l) => JSON.parse(l).progress);
  t.true(events.some((e) => e.kind === 'start' && e.unit === 'bytes' && /^extracting/.test(e.label)));
  t.true(events.some((e) => e.kind === 'end' && e.ok));
});

test('--require-pinned-image accepts only forms the resolver verifies: a query string or a mock image is not a pin', async (t) => {
  const box = sandbox('kp-pinforms-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  busyboxTarball(t, box.dir, 'gz');
  const hex = 'a'.repeat(64);
  for (const image of [`./busybox.tar.gz?sha256=${hex}`, `http://127.0.0.1:9/x.tar?sha256=${hex}`, `http://127.0.0.1:9/x.tar?digest=${hex}`, 'mock:plain']) {
    box.write('karapace.toml', mockManifest({ image }));
    const r = await box.run(['build', '--require-pinned-image', '--json']);
    t.is(r.code, 2, `${image}: ${r.stderr}`);
    t.is(JSON.parse(r.stderr.trim().split('\n').pop()!).error.code, 'KP_IMAGE_NOT_PINNED', image);
  }
  // A pin that names the wrong content is verified, so it fails as a mismatch, not as "pinned".
  box.write('karapace.toml', mockManifest({ image: `./busybox.tar.gz#sha256=${hex}` }));
  const wrong = await box.run(['build', '--require-pinned-image', '--json']);
  t.not(wrong.code, 0);
  t.not(JSON.parse(wrong.stderr.trim().split('\n').pop()!).error.code, 'KP_IMAGE_NOT_PINNED');
});
