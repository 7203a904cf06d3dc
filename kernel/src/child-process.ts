/**
 * What every backend does with the process it starts: forward termination signals sent to
 * karapace, collect output when asked, and turn how it ended into an exit status.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Forwards signals karapace receives to `child` until the returned function is called. */
export function forwardSignals(child: ChildProcess, signals: readonly NodeJS.Signals[] = FORWARDED_SIGNALS): () => void {
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  return () => {
    for (const s of signals) process.off(s, forward);
  };
}

/** The command's status: its exit code, or 128+n when signal n ended it (as shells report it). */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/** Collects a child's piped stdout/stderr (no-op for inherited stdio). */
export function collectOutput(child: ChildProcess, onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void): () => { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => {
    out.push(c);
    onOutput?.('stdout', c.toString());
  });
  child.stderr?.on('data', (c: Buffer) => {
    err.push(c);
    onOutput?.('stderr', c.toString());
  });
  return () => ({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
}
