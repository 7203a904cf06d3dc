/**
 * Random hex for temporary names, from /dev/urandom: importing node:crypto loads ~15
 * internal modules, a visible share of `exec` and build start-up, which need nothing else
 * from it. node:crypto is the fallback, required on first use.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';

const require = createRequire(import.meta.url);
let crypto: typeof Crypto | undefined;

export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  try {
    // The kernel's generator, as node:crypto's is, without loading node:crypto (a build's
    // temp names were the only reason it did).
    const fd = openSync('/dev/urandom', 'r');
    try {
      if (readSync(fd, buf) === bytes) return buf.toString('hex');
    } finally {
      closeSync(fd);
    }
  } catch {
    // No /dev/urandom here (a bare chroot): node:crypto.
  }
  crypto ??= require('node:crypto') as typeof Crypto;
  return crypto.randomBytes(bytes).toString('hex');
}
