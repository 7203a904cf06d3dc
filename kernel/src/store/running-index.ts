/**
 * The running index (`<root>/running/<env_id>`): an empty file for every environment that
 * may be running, so `list` asks a backend about those only instead of opening every
 * environment's run records. A mark is a hint that the backend's own records (pid records,
 * a sandbox record) decide; its absence is a promise that nothing runs.
 *
 * Invariant, for a backend that declares `Backend.marksRunning`: once the directory exists,
 * whenever its status would answer "running", the environment is marked. It holds because
 * - the directory is made by a `list` before its first full look at every environment
 *   (marking what runs); a start whose mark found no directory wrote its run record before
 *   that mark, so before the directory was made, so before the look, which sees it;
 * - a backend marks after writing the run record that makes it "running" (a sandbox that
 *   outlives its launcher was marked by that launcher);
 * - only `unmarkIfStopped` removes a mark, and it asks the backend again after removing it,
 *   marking again if the environment turned out running: a record written before the
 *   removal is seen by that second look, one written after it is followed by its own mark.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreLayout } from './layout.js';

export function runningMark(layout: StoreLayout, envId: string): string {
  return join(layout.running, envId);
}

/**
 * Marks an environment as maybe running (after the backend wrote its run record). Without
 * the directory there is no index yet: the next `list` looks at every environment.
 */
export function markRunning(layout: StoreLayout, envId: string): void {
  try {
    writeFileSync(runningMark(layout, envId), '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** The marked env_ids, or undefined when the store has no running index yet (ask every env). */
export function markedRunning(layout: StoreLayout): Set<string> | undefined {
  try {
    return new Set(readdirSync(layout.running));
  } catch {
    return undefined;
  }
}

/** Made before a first full look at every environment: from then on, an unmarked one is stopped. */
export function startRunningIndex(layout: StoreLayout): void {
  try {
    mkdirSync(layout.running, { recursive: true });
  } catch {
    // a store we cannot write: every `list` looks at every environment
  }
}

/** Removes the mark of an environment that is gone (destroyed: it was not running). */
export function unmarkRunning(layout: StoreLayout, envId: string): void {
  rmSync(runningMark(layout, envId), { force: true });
}

/**
 * Removes the mark of an environment its backend found stopped, then asks again (`stillRunning`):
 * a run that started meanwhile is marked again. True when it was running after all.
 */
export async function unmarkIfStopped(layout: StoreLayout, envId: string, stillRunning: () => Promise<boolean>): Promise<boolean> {
  try {
    rmSync(runningMark(layout, envId), { force: true });
  } catch {
    return true; // could not remove it: it stays, which is always safe
  }
  if (!(await stillRunning())) return false;
  markRunning(layout, envId);
  return true;
}
