/**
 * The unpacker's header decoder (kernel/src/layers/tar-header.ts) agrees with tar-stream's
 * on every header GNU tar writes in each of its formats (long names, base-256 ids, devices,
 * links), and refuses what tar-stream refuses.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHeader } from '../../../kernel/dist/layers/tar-header.js';

const require = createRequire(import.meta.url);
const tarStreamHeaders = require(require.resolve('tar-stream').replace(/index\.js$/, 'headers.js')) as {
  decode(block: Buffer, encoding: string, allowUnknown: boolean): Record<string, unknown> | null;
};

const fields = (h: Record<string, any>) => [h.name, h.mode, h.uid, h.gid, h.size, (h.mtime as Date).getTime(), h.type, h.linkname, h.devmajor, h.devminor];

/** Every header block of `tar` (following sizes), up to the end marker. */
function headers(tar: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 512 <= tar.length;) {
    const block = tar.subarray(off, off + 512);
    const h = tarStreamHeaders.decode(Buffer.from(block), 'utf-8', false);
    if (!h) break;
    out.push(block);
    off += 512 + Math.ceil((h.size as number) / 512) * 512;
  }
  return out;
}

test('decodes what GNU tar writes in every format exactly as tar-stream does', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-tarhdr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  const deep = join(src, 'a'.repeat(90), 'b'.repeat(90));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `${'c'.repeat(120)}.txt`), 'long name');
  writeFileSync(join(src, 'ünïcødé'), 'x'.repeat(1000));
  symlinkSync('ünïcødé', join(src, 'link'));
  // What ustar can hold: a name split into its prefix (at most 155 + 100 bytes).
  const ustarSrc = join(dir, 'ustar-src');
  const split = join(ustarSrc, 'p'.repeat(60), 'q'.repeat(60));
  mkdirSync(split, { recursive: true });
  writeFileSync(join(split, `${'r'.repeat(90)}.txt`), 'prefix and name');
  writeFileSync(join(ustarSrc, 'ünïcødé'), 'x'.repeat(1000));
  symlinkSync('ünïcødé', join(ustarSrc, 'link'));
  for (const format of ['gnu', 'oldgnu', 'ustar', 'posix']) {
    const out = join(dir, `${format}.tar`);
    // Large ids: base-256 in the GNU formats, PAX records in posix; ustar cannot hold them.
    const ids = format === 'ustar' ? ['--owner=0', '--group=0'] : ['--owner=3000000', '--group=2100000'];
    const r = spawnSync('tar', ['--format', format, ...ids, '-cf', out, '-C', format === 'ustar' ? ustarSrc : src, '.'], { encoding: 'utf8' });
    t.is(r.status, 0, `${format}: ${r.stderr}`);
    const blocks = headers(readFileSync(out));
    t.true(blocks.length >= 5, `${format}: headers found`);
    if (format === 'ustar') t.true(blocks.some((b) => b[345] !== 0), 'ustar: a name with a prefix is compared');
    for (const block of blocks) t.deepEqual(fields(decodeHeader(block)!), fields(tarStreamHeaders.decode(Buffer.from(block), 'utf-8', false)!), format);
  }
});

test('an empty block is the end; a bad checksum is refused; a header without magic is V7', (t) => {
  t.is(decodeHeader(Buffer.alloc(512)), null);
  const dir = mkdtempSync(join(tmpdir(), 'kp-tarhdr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'f'), 'x');
  spawnSync('tar', ['-cf', join(dir, 'f.tar'), '-C', dir, 'f']);
  const block = Buffer.from(readFileSync(join(dir, 'f.tar')).subarray(0, 512));
  t.is(decodeHeader(block)!.name, 'f');
  const corrupt = Buffer.from(block);
  corrupt[10] ^= 1;
  t.throws(() => decodeHeader(corrupt), { message: /Invalid tar header/ });
  // Same bytes, magic changed, checksum fixed: GNU tar reads it as a V7 header (tar-stream
  // refuses it), whose prefix and device fields are not read.
  const v7 = Buffer.from(block);
  v7.write('xxxxx', 257, 'latin1');
  v7.write('prefix', 345, 'latin1');
  v7.write('0000001\0', 329, 'latin1');
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += v7[i]!;
  v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  t.like(decodeHeader(v7), { name: 'f', type: 'file', devmajor: 0, size: 1 });
  t.throws(() => tarStreamHeaders.decode(v7, 'utf-8', false), { message: /unknown format/ });
  // A checksum summed over signed bytes (old Sun and HP-UX tars) is a checksum too.
  const signed = Buffer.from(block);
  signed.write('é', 0, 'utf8');
  sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += signed[i]! >= 0x80 ? signed[i]! - 256 : signed[i]!;
  signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  t.is(decodeHeader(signed)!.name, 'é');
  signed[0] = 0xff; // the same sum no longer holds either way
  t.throws(() => decodeHeader(signed), { message: /Invalid tar header/ });
  // A size that is not octal is NaN (the unpacker refuses it), not a number parsed up to the junk.
  const junk = Buffer.from(block);
  junk.write('0000009', 124, 'latin1');
  sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += junk[i]!;
  junk.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  t.true(Number.isNaN(decodeHeader(junk)!.size));
});
