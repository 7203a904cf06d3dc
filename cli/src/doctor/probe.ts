/** Small host probes for doctor: find a tool on PATH, run a command with a time limit. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { findExecutable } from '@karapace/kernel';

/** A tool on the given PATH (the kernel's lookup; doctor checks the PATH the user has). */
export function which(tool: string, pathEnv: string | undefined): string | undefined {
  return findExecutable(tool, pathEnv ?? '');
}

export interface ProbeResult {
  ok: boolean;
  output: string;
}

export function probe(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 5_000): ProbeResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error.message) : ''}`.trim();
  return { ok: r.status === 0, output };
}

export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
