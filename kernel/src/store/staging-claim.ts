/**
 * Staging directories that live longer than a store-lock hold (a pull downloads without
 * the lock, so other commands are not blocked by a slow remote). Each carries a claim: a
 * file its owner holds flock(2) on (or, without the native addon, its pid). The next
 * command that takes the store lock removes claimed directories whose owner is gone, so a
 * pull killed while downloading leaves nothing behind.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { nativeAddon } from '../native-addon.js';
import { listDir } from './list-dir.js';
import { removeTree } from './remove-tree.js';
import { isAlive } from './lock.js';
import type { StoreLayout } from './layout.js';

type FlockFn = (fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean) => boolean;

const CLAIM_FILE = '.claim';
/** Prefixes of claimed staging directories (gc leaves them to the sweep below). */
export const CLAIMED_STAGING = /^(pull)-/;

export interface StagingClaim {
  dir: string;
  /** Removes the directory and drops the claim. */
  release(): void;
  /** Drops the claim, keeping the directory (its contents were moved into place). */
  drop(): void;
}

function flockFn(): FlockFn | undefined {
  return nativeAddon<{ flock: FlockFn }>('karapace_flock')?.flock;
}

export function claimStaging(layout: StoreLayout, prefix: 'pull'): StagingClaim {
  const dir = join(layout.staging, `${prefix}-${Date.now()}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CLAIM_FILE);
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  writeFileSync(fd, String(process.pid));
  flockFn()?.(fd, 'exclusive', false);
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  return {
    dir,
    drop: close,
    release() {
      close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a claimed directory's owner still runs (its flock is held, or its pid lives). */
function held(dir: string): boolean {
  const file = join(dir, CLAIM_FILE);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDWR);
  } catch {
    return false; // no claim file: the owner died before writing it
  }
  try {
    const flock = flockFn();
    if (flock) {
      if (!flock(fd, 'exclusive', false)) return true;
      flock(fd, 'unlock', false);
      return false;
    }
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return pid !== process.pid && isAlive(pid);
  } finally {
    closeSync(fd);
  }
}

/** Removes claimed staging directories whose owner is gone (called under the store lock). */
export async function sweepAbandonedStaging(layout: StoreLayout): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listDir(layout.staging)) {
    if (!CLAIMED_STAGING.test(name)) continue;
    const dir = join(layout.staging, name);
    if (held(dir)) continue;
    await (layout.removeTree ?? removeTree)(dir);
    removed.push(name);
  }
  return removed;
}
