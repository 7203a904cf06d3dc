/**
 * A real Debian bookworm minbase rootfs tarball for tests, built once with mmdebstrap from
 * the host's own Debian archive (its apt sources; $KARAPACE_TEST_MIRROR overrides) and cached in /var/tmp/karapace-test-cache (shared by every test file and
 * every run). Parallel test workers serialise on an flock(1) lock, so only one builds it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostDebianMirror } from '@karapace/image-sources';

export const TEST_CACHE_DIR = process.env.KARAPACE_TEST_CACHE ?? '/var/tmp/karapace-test-cache';
/** Undefined on a host without Debian apt sources: mmdebstrap then uses its own default. */
export const DEBIAN_MIRROR: string | undefined = process.env.KARAPACE_TEST_MIRROR || hostDebianMirror();

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Why the Debian rootfs cannot be built here, or undefined when it can (or already exists). */
export function debianRootfsUnavailable(): string | undefined {
  if (existsSync(join(TEST_CACHE_DIR, 'bookworm-minbase.tar'))) return undefined;
  if (!have('mmdebstrap')) return 'mmdebstrap is not installed (apt-get install mmdebstrap debian-archive-keyring)';
  if (!have('flock')) return 'flock(1) is not installed (util-linux)';
  if (process.getuid?.() !== 0 && !existsSync('/etc/subuid')) return 'mmdebstrap needs root or subordinate ids (/etc/subuid) to build a rootfs';
  return undefined;
}

/**
 * Returns the path of `bookworm-minbase.tar`, building it on first use (mmdebstrap). Throws with
 * mmdebstrap's output when the build fails.
 */
export function debianRootfsTarball(): string {
  const out = join(TEST_CACHE_DIR, 'bookworm-minbase.tar');
  if (existsSync(out)) return out;
  mkdirSync(TEST_CACHE_DIR, { recursive: true });
  // Build into a temp name and rename: a half-written tarball never looks complete.
  const script = [
    'set -e',
    `test -f "$1" && exit 0`,
    `rm -f "$1.tmp"`,
    `mmdebstrap --quiet --variant=minbase --format=tar bookworm "$1.tmp" \${2:+"$2"}`,
    `mv "$1.tmp" "$1"`,
  ].join('\n');
  const r = spawnSync('flock', [join(TEST_CACHE_DIR, '.bookworm-minbase.lock'), 'sh', '-c', script, 'build-rootfs', out, DEBIAN_MIRROR ?? ''], {
    encoding: 'utf8', timeout: 15 * 60_000,
  });
  if (r.status !== 0 || !existsSync(out)) {
    throw new Error(`building ${out} with mmdebstrap failed (exit ${r.status}):\n${r.stderr || r.error?.message || ''}`);
  }
  return out;
}

/** The same tarball compressed with xz (what image servers publish), cached beside it. */
export function debianRootfsTarXz(): string {
  const tar = debianRootfsTarball();
  const out = `${tar}.xz`;
  if (existsSync(out)) return out;
  const script = [
    'set -e',
    `test -f "$1" && exit 0`,
    `xz -T0 -1 -c "$2" > "$1.tmp"`,
    `mv "$1.tmp" "$1"`,
  ].join('\n');
  const r = spawnSync('flock', [join(TEST_CACHE_DIR, '.bookworm-minbase-xz.lock'), 'sh', '-c', script, 'xz-rootfs', out, tar], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0 || !existsSync(out)) throw new Error(`compressing ${tar} failed: ${r.stderr}`);
  return out;
}
