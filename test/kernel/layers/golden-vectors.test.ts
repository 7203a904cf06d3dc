/**
 * Golden vectors: fixed inputs with their identity values checked in, so a change to an
 * identity rule (the canonical tree digest's lines, the disk digest, what the unpacker
 * makes of an archive, env_id's material) fails here and has to be made on purpose.
 * Every other digest test is relative (native against TypeScript, archive against disk)
 * and passes when both sides change together.
 *
 * The archive is written byte by byte (test/kernel/layers/_tar.ts), so no library version moves
 * it; it is unpacked by every path an image takes: the stream and the file without the native
 * unpacker (the serial reference), and the native unpacker, which computes the digests
 * itself.
 * The values were computed once, by the code of 2026-12-07 (before the archive-fidelity
 * work), and only change with a decision recorded in docs/storage-format.md.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { computeEnvId, digestTree, hashBytes, packTree, type UnpackFileStats } from '@karapace/kernel';
import { CanonicalTree, digestRootfs, unpackImage } from '@karapace/image-sources';
import { unpackImageFile } from '../../../plugins/image-sources/dist/unpack.js';
import { goldenTar, goldenTree } from './_golden.js';

const isRoot = process.geteuid?.() === 0;

/** Expected values (see the top of this file before changing one). */
const GOLDEN = {
  archive: 'd35513c011bc86c830690ffad80643681266e94923c4218ff1518b2b8e56d201',
  tree: '27d3c0e13a0a663dfcc659719b05f72c038a845d8c1d0127e6914c0615e611c5',
  /** The disk digest of a root extraction (owners set, the device node made). */
  disk: '27d3c0e13a0a663dfcc659719b05f72c038a845d8c1d0127e6914c0615e611c5',
  entries: 27,
  /** blake3 of what packTree writes for goldenTree, as root (owners 0:0). */
  pack: '6d046cb6ffc90730ecf6bda81154150c32f656148b8de55a9bcf73c1eaf2da76',
};

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-golden-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the golden archive has its fixed bytes', (t) => {
  t.is(hashBytes(goldenTar()), GOLDEN.archive);
});

for (const via of ['stream', 'file', 'native'] as const) {
  test.serial(`the golden archive's canonical tree digest and disk digest (${via})`, async (t) => {
    const dir = tempDir(t);
    const root = join(dir, 'root');
    mkdirSync(root);
    const tree = new CanonicalTree();
    let stats: UnpackFileStats;
    if (via === 'stream') stats = await unpackImage(Readable.from([goldenTar()]), root, tree);
    else {
      writeFileSync(join(dir, 'golden.tar'), goldenTar());
      const prev = process.env.KARAPACE_UNPACK_NATIVE;
      if (via === 'file') process.env.KARAPACE_UNPACK_NATIVE = '0';
      try {
        stats = await unpackImageFile(join(dir, 'golden.tar'), root, tree, true);
      } finally {
        if (prev === undefined) delete process.env.KARAPACE_UNPACK_NATIVE;
        else process.env.KARAPACE_UNPACK_NATIVE = prev;
      }
      t.is(stats.native === true, via === 'native', 'the path under test did the work');
      t.is(stats.archive?.blake3, GOLDEN.archive);
    }
    const canonical = stats.treeDigests?.tree ?? tree.digest().digest;
    t.is(canonical, GOLDEN.tree, 'canonical tree digest');
    if (!isRoot) return t.log('not root: the disk digest (owners, device node) is only fixed for a root extraction');
    const disk = stats.treeDigests?.disk ?? (await digestRootfs(root, tree.contentHashes(), stats.disk)).digest;
    t.is(disk, GOLDEN.disk, 'disk digest');
    const walked = await digestTree(root);
    t.is(walked.digest, GOLDEN.disk, 'the kernel digestTree of the extraction');
    t.is(walked.entries, GOLDEN.entries);
  });
}

test('a fixed lock has its fixed env_id', (t) => {
  const lock = {
    base: { image: 'debian:bookworm', source: 'https://images.example/debian/bookworm', digest: 'a'.repeat(64), package_manager: 'apt' },
    backend: 'namespace',
    hardware: { gpu: false, audio: true },
    network_isolation: true,
    mounts: [
      { label: 'src', host: './src', container: '/workspace', readOnly: false },
      { label: 'cache', host: '~/.cache/k', container: '/cache', readOnly: true },
    ],
    resource_limits: { cpu_shares: 512, memory_limit_mb: 2048 },
    apps: ['code', 'firefox', 'code'],
    resolved_packages: [{ name: 'git', version: '1:2.39.5-0+deb12u1' }, { name: 'curl', version: '7.88.1-10+deb12u8' }],
  };
  t.deepEqual(computeEnvId(lock), { env_id: 'bc427b04c2e9728a6a7b815c2d692d811d78b10c35f49905a68e08a98f7ba99e', short_id: 'bc427b04c2e9' });
});

test('pack writes fixed bytes for a fixed tree (layer tars are identity)', async (t) => {
  if (!isRoot) return t.pass('not root: the tree\'s owners are not 0:0, so its tar differs');
  const dir = tempDir(t);
  goldenTree(dir);
  const chunks: Buffer[] = [];
  for await (const c of packTree(dir)) chunks.push(Buffer.from(c));
  t.is(hashBytes(Buffer.concat(chunks)), GOLDEN.pack);
});
