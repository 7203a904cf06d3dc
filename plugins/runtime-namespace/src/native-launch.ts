/**
 * The launcher run and waited for by native/launch.c (karapace_launch.node, built next to
 * the launcher) instead of child_process: exec and enter have nothing else to do while the
 * command runs, and a spawn through libuv costs more start-up time than the sandbox itself.
 * process.ts decides when it may be used and keeps everything around the launcher.
 */
import { dirname, join } from 'node:path';
import { loadAddonFile } from '@karapace/kernel';

export interface NativeLaunch {
  /**
   * Runs `launcher args...` with the environment `PATH=path`, stdio inherited and the status
   * pipe as fd 3; calls onSpawn(pid) once it runs and onStatusLine for each status line;
   * forwards the termination signals; returns its exit status (128 + n when killed by signal n).
   */
  launch(launcher: string, args: string[], path: string, onSpawn: (pid: number) => void, onStatusLine: (line: string) => void): number;
}

const cache = new Map<string, NativeLaunch | null>();

/** The addon next to `launcher`, or undefined when it is not there (child_process does the work). */
export function nativeLaunchNextTo(launcher: string): NativeLaunch | undefined {
  const file = join(dirname(launcher), 'karapace_launch.node');
  if (!cache.has(file)) {
    try {
      cache.set(file, loadAddonFile<NativeLaunch>(file));
    } catch {
      cache.set(file, null);
    }
  }
  return cache.get(file) ?? undefined;
}
