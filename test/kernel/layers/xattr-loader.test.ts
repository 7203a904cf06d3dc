/**
 * kernel/src/layers/xattrs.ts loads @napi-rs/xattr's platform addon directly (its generic
 * loader probes for musl and resolves two packages, which cost every exec); what it reads
 * must be what the generic package reads, overlay markers included.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readXattrs, xattrLoader } from '../../../kernel/dist/layers/xattrs.js';

interface XattrPackage {
  setAttributeSync(path: string, name: string, value: string): void;
  listAttributesSync(path: string): string[];
}
const reference = createRequire(import.meta.url)('@napi-rs/xattr') as XattrPackage;

test('the platform addon is what loads on glibc Linux', (t) => {
  t.is(xattrLoader(), 'platform');
});

test('readXattrs through the platform addon reads what the package reads: data, opaque, whiteout', (t) => {
  // /var/tmp rather than a tmpfs: user xattrs need a filesystem that stores them.
  const dir = mkdtempSync(join(process.getuid?.() === 0 ? '/var/tmp' : tmpdir(), 'kp-xattr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opaque = join(dir, 'opaque');
  const whiteout = join(dir, 'whiteout');
  const plain = join(dir, 'plain');
  for (const f of [opaque, whiteout, plain]) writeFileSync(f, '');
  try {
    reference.setAttributeSync(opaque, 'user.overlay.opaque', 'y');
    reference.setAttributeSync(opaque, 'user.karapace.b', 'two');
    reference.setAttributeSync(opaque, 'user.karapace.a', 'one');
    reference.setAttributeSync(whiteout, 'user.overlay.whiteout', '');
  } catch (err) {
    t.log(`no user xattrs on ${dir}: ${String(err)}`);
    t.pass();
    return;
  }
  const o = readXattrs(opaque);
  t.true(o.opaque);
  t.false(o.whiteout);
  t.deepEqual(o.data.map(([n, v]) => [n, v.toString()]), [['user.karapace.a', 'one'], ['user.karapace.b', 'two']]);
  t.deepEqual(reference.listAttributesSync(opaque).sort(), ['user.karapace.a', 'user.karapace.b', 'user.overlay.opaque']);
  const w = readXattrs(whiteout);
  t.true(w.whiteout);
  t.false(w.opaque);
  t.deepEqual(readXattrs(plain), { data: [], opaque: false, whiteout: false });
  // A missing path reads as no attributes, as before.
  t.deepEqual(readXattrs(join(dir, 'missing')), { data: [], opaque: false, whiteout: false });
});
