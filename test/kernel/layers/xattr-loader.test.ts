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

// /var/tmp rather than a tmpfs: user xattrs need a filesystem that stores them.
const XATTR_DIR = process.getuid?.() === 0 ? '/var/tmp' : tmpdir();

/** Why user xattrs cannot be stored under XATTR_DIR, or undefined when they can. */
function noUserXattrs(): string | undefined {
  const dir = mkdtempSync(join(XATTR_DIR, 'kp-xattr-probe-'));
  try {
    writeFileSync(join(dir, 'f'), '');
    reference.setAttributeSync(join(dir, 'f'), 'user.karapace.probe', 'y');
    return undefined;
  } catch (err) {
    return `no user xattrs on ${XATTR_DIR}: ${String(err)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const unsupported = noUserXattrs();
if (unsupported) console.warn(`xattr-loader: the comparison is skipped (${unsupported})`);

test('the platform addon is what loads on glibc Linux', (t) => {
  t.is(xattrLoader(), 'platform');
});

(unsupported ? test.skip : test)('readXattrs through the platform addon reads what the package reads: data, opaque, whiteout', (t) => {
  const dir = mkdtempSync(join(XATTR_DIR, 'kp-xattr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opaque = join(dir, 'opaque');
  const whiteout = join(dir, 'whiteout');
  const plain = join(dir, 'plain');
  for (const f of [opaque, whiteout, plain]) writeFileSync(f, '');
  reference.setAttributeSync(opaque, 'user.overlay.opaque', 'y');
  reference.setAttributeSync(opaque, 'user.karapace.b', 'two');
  reference.setAttributeSync(opaque, 'user.karapace.a', 'one');
  reference.setAttributeSync(whiteout, 'user.overlay.whiteout', '');
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
