/**
 * `bootstrap:debian/bookworm` through the resolver: a real mmdebstrap run against the host's
 * own Debian archive (no mirror configured; $KARAPACE_TEST_MIRROR sets one), the image cached
 * under its tree digest and reused.
 */
import anyTest from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestTree } from '@karapace/kernel';
import { have, tempStore } from './_helpers.js';
import { DEBIAN_MIRROR } from '../../helpers/debian-rootfs.js';

function prerequisiteMissing(): string | undefined {
  if (!have('mmdebstrap')) return 'mmdebstrap is not installed (apt-get install mmdebstrap debian-archive-keyring)';
  if (process.geteuid?.() !== 0) return 'mmdebstrap needs root here (unshare mode needs /etc/subuid ranges this test does not set up)';
  return undefined;
}
const missing = prerequisiteMissing();
if (missing) console.error(`bootstrap.test skipped: ${missing}`);
const test = missing ? anyTest.skip : anyTest;

test('bootstrap:debian/bookworm builds a minbase root with mmdebstrap, pinned by its tree digest and cached', async (t) => {
  t.timeout(15 * 60_000);
  const store = tempStore(t);
  const options = process.env.KARAPACE_TEST_MIRROR ? { mirror: DEBIAN_MIRROR } : {};
  const base = (await store.resolve('bootstrap:debian/bookworm', {}, options))!;
  t.is(base.resolver, 'image-sources');
  t.is(base.packageManager, 'apt');
  t.regex(readFileSync(join(base.rootfs, 'etc/debian_version'), 'utf8'), /^12\./);
  t.is(base.source, `bootstrap:debian/bookworm#blake3=${base.digest}`);
  // Built as root: the canonical digest from the tarball equals the tree on disk.
  t.is((await digestTree(base.rootfs)).digest, base.digest);
  const start = store.events.find((e) => e.kind === 'start' && /mmdebstrap/.test(e.label));
  t.truthy(start);
  // Progress is mmdebstrap's own stages, from its `I:` lines, in order: stage k of 7.
  const stages = store.events.filter((e) => e.kind === 'advance' && e.task === (start as { task: string }).task) as { done: number; total?: number; stage?: string }[];
  t.true(stages.every((e, i) => e.total === 7 && (i === 0 || e.done >= stages[i - 1]!.done)), JSON.stringify(stages));
  const names = [...new Set(stages.map((e) => e.stage))];
  t.true(names.length >= 5, names.join(', '));
  t.deepEqual(names.slice(0, 1), ['updating package lists']);
  t.is(names.at(-1), 'creating tarball');
  t.is(stages.at(-1)!.done, 7);

  // Again: from the cache, no mmdebstrap; offline too; the pinned reference matches.
  store.events.length = 0;
  t.is((await store.resolve('bootstrap:debian/bookworm', {}, options))!.digest, base.digest);
  t.is((await store.resolve('bootstrap:debian/bookworm', { offline: true }, options))!.digest, base.digest);
  t.is((await store.resolve(base.source, {}, options))!.digest, base.digest);
  t.false(store.events.some((e) => e.kind === 'start'));
  // A pin naming another tree is refused without rebuilding.
  await t.throwsAsync(store.resolve(`bootstrap:debian/bookworm#blake3=${'0'.repeat(64)}`, {}, options), { code: 'KP_IMAGE_DIGEST_MISMATCH' } as never);
  // Offline with nothing cached for another suite: a clear error, no mmdebstrap run.
  await t.throwsAsync(store.resolve('bootstrap:debian/trixie', { offline: true }, options), { code: 'KP_OFFLINE_DOWNLOAD' } as never);
});
