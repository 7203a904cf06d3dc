/** A small tmpfs for disk-full tests (needs root: CI runs as root), unmounted and removed at teardown. */
import type { ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounts a tmpfs of `size` (e.g. '2m'); undefined (and the test failed) when mount fails. */
export function mountTmpfs(t: ExecutionContext, size: string, prefix = 'kp-tmpfs-'): string | undefined {
  const mnt = mkdtempSync(join(tmpdir(), prefix));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) {
    rmSync(mnt, { recursive: true, force: true });
    t.fail(`mount -t tmpfs failed: ${mount.stderr}`);
    return undefined;
  }
  t.teardown(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
}
