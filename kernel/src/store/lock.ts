/**
 * The store lock: exclusive for mutations. flock(2) through native/'s addon, so the kernel
 * releases it when the process dies — a killed command never blocks the next one. Without
 * the addon (no C toolchain at install), a lock file holding the owner's pid is used and a
 * lock whose owner is gone is taken over.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeFileSync, writeSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { nativeAddon } from '../native-addon.js';
import { StoreError } from '../errors.js';
import type { StoreLayout } from './layout.js';

type FlockFn = (fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean) => boolean;

function nativeFlock(): FlockFn | null {
  return nativeAddon<{ flock: FlockFn }>('karapace_flock')?.flock ?? null;
}

export interface StoreLockHandle {
  release(): void;
}

function lockBusy(layout: StoreLayout, holder?: string): StoreError {
  return new StoreError('KP_STORE_LOCKED', `the store at ${layout.root} is locked by another karapace command${holder ? ` (pid ${holder})` : ''}`, {
    hint: 'wait for it to finish and try again; the lock is released automatically when that process exits',
    data: { holder },
  });
}

/** Bytes the holder's pid takes at the start of the lock file (padded with spaces). */
const PID_WIDTH = 12;

export interface LockOptions {
  /** Wait this long for the lock before failing (ms). 0 = fail at once. */
  waitMs?: number;
}

export async function acquireStoreLock(layout: StoreLayout, options: LockOptions = {}): Promise<StoreLockHandle> {
  mkdirSync(dirname(layout.lockFile), { recursive: true });
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  const flock = nativeFlock();
  if (flock) {
    const fd = openSync(layout.lockFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    for (;;) {
      if (flock(fd, 'exclusive', false)) {
        // The holder's pid, for the "locked by" message: written over the same fixed-width
        // bytes each time (no truncation, no new block: a rewrite could wait on writeback).
        writeSync(fd, String(process.pid).padEnd(PID_WIDTH), 0);
        return { release: () => { try { flock(fd, 'unlock', false); } finally { closeSync(fd); } } };
      }
      if (Date.now() >= deadline) {
        closeSync(fd);
        throw lockBusy(layout, safeRead(layout.lockFile));
      }
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  const pidFile = `${layout.lockFile}.pid`;
  for (;;) {
    try {
      const fd = openSync(pidFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return { release: () => { try { if (safeRead(pidFile) === String(process.pid)) unlinkSync(pidFile); } catch { /* already gone */ } } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = safeRead(pidFile);
      if (holder && !isAlive(Number(holder))) {
        try { unlinkSync(pidFile); } catch { /* raced with another taker */ }
        continue;
      }
      if (Date.now() >= deadline) throw lockBusy(layout, holder);
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
}

function safeRead(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function hasNativeFlock(): boolean {
  return nativeFlock() !== null;
}
