/**
 * The per-environment lock that makes "is it running → join, else start" one step: held
 * from reading the sandbox record until the new sandbox is ready (or the join has entered
 * it), so two execs started together never both mount the upper dir. flock(2) through
 * native/'s addon (released by the kernel when the CLI dies); without the addon, an O_EXCL
 * lock file naming the holder's pid and start time (taken over when that process is gone).
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadAddonFile, RuntimeFailure, type EnvHandle } from '@karapace/kernel';
import { processStartTime } from './pid-record.js';

type FlockFn = (fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean) => boolean;

export interface EnvLock {
  release(): void;
}

const cache = new Map<string, FlockFn | null>();

/** The flock addon built next to the launcher (native/build/karapace_flock.node). */
function flockNextTo(launcher: string): FlockFn | null {
  const file = join(dirname(launcher), 'karapace_flock.node');
  if (!cache.has(file)) {
    try {
      cache.set(file, loadAddonFile<{ flock: FlockFn }>(file).flock);
    } catch {
      cache.set(file, null);
    }
  }
  return cache.get(file)!;
}

/** True when the env lock is a flock (what the native front door takes too). */
export function usesFlock(launcher: string): boolean {
  return flockNextTo(launcher) !== null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function busy(env: EnvHandle): RuntimeFailure {
  return new RuntimeFailure('KP_NS_ENV_BUSY', `environment ${env.shortId} is being started by another karapace command`, {
    hint: 'try again in a moment; if it persists, run `karapace stop` on the environment',
  });
}

function ownerAlive(file: string): boolean {
  try {
    const [pid, start] = readFileSync(file, 'utf8').trim().split(' ');
    return processStartTime(Number(pid)) === start;
  } catch {
    return false; // vanished or half-written by a dead owner
  }
}

export async function lockEnv(env: EnvHandle, launcher: string, timeoutMs = 30_000): Promise<EnvLock> {
  const deadline = Date.now() + timeoutMs;
  const file = join(env.paths.runtime, 'lock');
  const flock = flockNextTo(launcher);
  if (flock) {
    const fd = openSync(file, 'a+');
    while (!flock(fd, 'exclusive', false)) {
      if (Date.now() > deadline) {
        closeSync(fd);
        throw busy(env);
      }
      await sleep(5);
    }
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        closeSync(fd); // closing the only fd drops the flock
      },
    };
  }
  const pidFile = `${file}.pid`;
  for (;;) {
    try {
      const fd = openSync(pidFile, 'wx');
      writeFileSync(fd, `${process.pid} ${processStartTime(process.pid)}\n`);
      closeSync(fd);
      let held = true;
      return {
        release() {
          if (!held) return;
          held = false;
          unlinkSync(pidFile);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!ownerAlive(pidFile)) {
        // A dead holder; give a live one a moment to finish writing its line first.
        await sleep(20);
        if (!ownerAlive(pidFile)) {
          try {
            unlinkSync(pidFile);
          } catch {
            // another taker was faster
          }
          continue;
        }
      }
      if (Date.now() > deadline) throw busy(env);
      await sleep(5);
    }
  }
}
