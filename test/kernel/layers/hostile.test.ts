/**
 * Hostile layers: every trick to write outside the target is refused, and nothing lands
 * outside it — checked against a sentinel directory beside the target. Each archive goes
 * through a stream (unpackTarStream), a tar file (unpackTarFile: the serial reference), and the native unpacker, which must hand each of them over to the
 * TypeScript one (native-unpack.ts).
 */
import test from 'ava';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { unpackTarFile, unpackTarStream, KarapaceError, type UnpackOptions } from '@karapace/kernel';

type Entry = { header: Record<string, unknown>; body?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) pack.entry(e.header as never, e.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'kp-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'original');
  return { dir, outside, target: join(dir, 'target') };
}

const VIA = ['stream', 'file', 'native'] as const;

/** Unpacks `tar` from memory or from a file beside the target. */
async function unpack(tar: Buffer, target: string, options: UnpackOptions, via: (typeof VIA)[number]): Promise<unknown> {
  if (via === 'stream') return unpackTarStream([tar], target, options);
  const file = `${target}.tar`;
  writeFileSync(file, tar);
  return unpackTarFile(file, target, { ...options, entriesAfterUnpack: via === 'native' });
}

const cases: [string, Entry[]][] = [
  ['a ../ path', [{ header: { name: '../outside/victim' }, body: 'pwned' }]],
  ['a nested ../ path', [{ header: { name: 'a/b/../../../outside/victim' }, body: 'pwned' }]],
  ['an absolute path', [{ header: { name: '/tmp/kp-hostile-absolute' }, body: 'pwned' }]],
  ['a symlink, then a file through it', [
    { header: { name: 'link', type: 'symlink', linkname: '../outside' } },
    { header: { name: 'link/victim' }, body: 'pwned' },
  ]],
  ['a symlink, then a directory through it', [
    { header: { name: 'link', type: 'symlink', linkname: '../outside' } },
    { header: { name: 'link/newdir', type: 'directory' } },
  ]],
  ['a symlink to an absolute path, then a file through it', [
    { header: { name: 'etc', type: 'symlink', linkname: '/tmp' } },
    { header: { name: 'etc/kp-hostile-through-abs' }, body: 'pwned' },
  ]],
  ['a hardlink to a path outside', [{ header: { name: 'hl', type: 'link', linkname: '../outside/victim' } }]],
  ['a hardlink to an absolute path', [{ header: { name: 'hl', type: 'link', linkname: '/etc/passwd' } }]],
  ['a hardlink through a symlink', [
    { header: { name: 'link', type: 'symlink', linkname: '../outside' } },
    { header: { name: 'hl', type: 'link', linkname: 'link/victim' } },
  ]],
  ['a whiteout through a symlink', [
    { header: { name: 'link', type: 'symlink', linkname: '../outside' } },
    { header: { name: 'link/.wh.victim' } },
  ]],
  ['a huge PAX header', [{ header: { name: 'x', pax: { comment: 'x'.repeat(2 << 20) } }, body: 'x' }]],
];

for (const [what, entries] of cases) {
  for (const [mode, via] of [['apply', 'stream'], ['overlay', 'stream'], ['apply', 'file'], ['apply', 'native']] as const) {
    test(`rejects ${what} (${mode}, ${via})`, async (t) => {
      const { outside, target } = setup(t);
      const tar = await tarOf(entries);
      const err = await t.throwsAsync(unpack(tar, target, { whiteouts: mode }, via));
      t.true(err instanceof KarapaceError, String(err));
      t.is((err as KarapaceError).code, 'KP_LAYER_REJECTED');
      t.deepEqual(readdirSync(outside), ['victim']);
      t.is(readFileSync(join(outside, 'victim'), 'utf8'), 'original');
      t.false(existsSync('/tmp/kp-hostile-absolute'));
      t.false(existsSync('/tmp/kp-hostile-through-abs'));
    });
  }
}

for (const via of VIA) {
  test(`a truncated archive is rejected (${via})`, async (t) => {
    const { target } = setup(t);
    const tar = await tarOf([{ header: { name: 'f' }, body: 'y'.repeat(5000) }]);
    const err = await t.throwsAsync(unpack(tar.subarray(0, 2048), target, { whiteouts: 'apply' }, via));
    t.regex(err!.message, /truncated/);
  });

  test(`a file replacing an earlier symlink is written in place, not through the link (${via})`, async (t) => {
    const { outside, target } = setup(t);
    const tar = await tarOf([
      { header: { name: 'victim', type: 'symlink', linkname: '../outside/victim' } },
      { header: { name: 'victim' }, body: 'inside' },
    ]);
    await unpack(tar, target, { whiteouts: 'apply' }, via);
    t.is(readFileSync(join(outside, 'victim'), 'utf8'), 'original');
    t.is(readFileSync(join(target, 'victim'), 'utf8'), 'inside');
  });

  test(`a directory replaced by a symlink later does not get its mode or owner applied through the link (${via})`, async (t) => {
    const { outside, target } = setup(t);
    const before = statSync(outside);
    const tar = await tarOf([
      { header: { name: 'd', type: 'directory', mode: 0o777, uid: 4321, gid: 4321 } },
      { header: { name: 'd', type: 'symlink', linkname: '../outside' } },
    ]);
    await unpack(tar, target, { whiteouts: 'apply' }, via);
    t.true(lstatSync(join(target, 'd')).isSymbolicLink());
    const after = statSync(outside);
    t.is(after.mode, before.mode);
    t.is(after.uid, before.uid);
    t.is(after.gid, before.gid);
  });
}
