/**
 * safeEntryPath: its fast path for plain names gives exactly what the full check gives,
 * on every combination of the awkward pieces (".", "..", empty parts, "./" prefixes,
 * trailing slashes, NUL, non-ASCII), and refuses what the full check refuses.
 */
import test from 'ava';
import { safeEntryPath } from '@karapace/kernel';

/** The definition: split, drop empty and "." parts, refuse "..", NUL, absolute and overlong. */
function reference(raw: string): string | Error {
  if (raw.includes('\0') || Buffer.byteLength(raw) > 4096 || raw.startsWith('/')) return new Error('refused');
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return new Error('refused');
    parts.push(part);
  }
  return parts.join('/');
}

const PIECES = ['a', 'bin', '.', '..', '', '.x', '..x', 'x.', 'ü', '\0', '...', '.wh.a'];

test('the fast path agrees with the definition on every short combination', (t) => {
  let n = 0;
  for (const lead of ['', './', '/', '.', '//']) {
    for (const a of PIECES) for (const b of PIECES) for (const c of ['', ...PIECES]) for (const trail of ['', '/', '//']) {
      const raw = lead + [a, b, c].filter((x, i) => i < 2 || x !== '').join('/') + trail;
      const want = reference(raw);
      let got: string | Error;
      try {
        got = safeEntryPath(raw);
      } catch (err) {
        got = err as Error;
      }
      if (want instanceof Error) t.true(got instanceof Error, JSON.stringify(raw));
      else t.is(got, want, JSON.stringify(raw));
      n++;
    }
  }
  t.true(n > 5000);
});

test('long names: the byte limit holds whichever path checks them', (t) => {
  t.is(safeEntryPath(`./${'a'.repeat(1300)}/`), 'a'.repeat(1300));
  t.is(safeEntryPath('ü'.repeat(2048)), 'ü'.repeat(2048));
  t.throws(() => safeEntryPath('ü'.repeat(2049)), { message: /longer than 4096 bytes/ });
  t.throws(() => safeEntryPath(`a/${'b'.repeat(4095)}`), { message: /longer than 4096 bytes/ });
});
