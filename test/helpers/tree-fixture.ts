/**
 * A fixed tree with every kind of entry the layer packer writes, for golden tests of the
 * deterministic tar and of trees (test/kernel/store/tree.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
export const isRoot = process.geteuid?.() === 0;

/** Deterministic pseudo-random bytes (no randomness: the golden hash depends on them). */
export function bytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Every kind of entry the packer writes: modes, owners (big ids in PAX), xattrs with binary
 * values, hardlinks, symlinks, a fifo, long and non-ASCII names, sizes around the block
 * size, a multi-MiB file, and as root a whiteout and an opaque directory.
 */
export function fixtureTree(root: string): void {
  const file = (rel: string, content: Buffer | string, mode = 0o644) => {
    writeFileSync(join(root, rel), content);
    chmodSync(join(root, rel), mode);
  };
  const dir = (rel: string, mode = 0o755) => {
    mkdirSync(join(root, rel), { recursive: true });
    chmodSync(join(root, rel), mode);
  };
  dir('etc');
  dir('etc/app', 0o750);
  file('etc/app/conf', 'v1\n', 0o640);
  xattr.setAttributeSync(join(root, 'etc/app/conf'), 'user.note', Buffer.from([0, 1, 0xff, 0x0a, 0x3d]));
  linkSync(join(root, 'etc/app/conf'), join(root, 'etc/app/hard'));
  symlinkSync('app/conf', join(root, 'etc/sym'));
  file('exe', 'x', 0o4711);
  file('empty', '');
  file('block511', bytes(511, 1));
  file('block512', bytes(512, 2));
  file('block513', bytes(513, 3));
  file('big', bytes(3 * 1024 * 1024 + 7, 4), 0o600);
  file('same-as-big', bytes(3 * 1024 * 1024 + 7, 4));
  file('héllo wörld', 'non-ascii\n');
  dir('a');
  file('a/b', 'a/b\n');
  file('a-b', 'a-b\n');
  dir(`${'l'.repeat(120)}`);
  file(`${'l'.repeat(120)}/${'n'.repeat(110)}`, 'long\n');
  spawnSync('mkfifo', ['-m', '0600', join(root, 'fifo')]);
  if (isRoot) {
    chownSync(join(root, 'etc/app'), 1000, 1000);
    chownSync(join(root, 'etc/app/conf'), 1000, 1000);
    file('bigid', 'owned by a big id\n');
    chownSync(join(root, 'bigid'), 3_000_000, 3_000_001);
    spawnSync('mknod', ['-m', '000', join(root, 'gone'), 'c', '0', '0']);
    spawnSync('mknod', ['-m', '0660', join(root, 'tty9'), 'c', '4', '9']);
    dir('opq');
    xattr.setAttributeSync(join(root, 'opq'), 'trusted.overlay.opaque', 'y');
    file('opq/kept', 'kept\n');
  }
}

/** A temporary directory removed when the test ends. */
export function tempDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** All chunks of a stream in one buffer, each copied: chunks come from reused buffers. */
export async function collectChunks(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
