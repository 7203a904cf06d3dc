/**
 * Pid records: one file per running launcher in `<env>/runtime/pids/`, written by the CLI
 * after spawning. They outlive a crashed CLI; a record only counts while its pid is alive
 * AND has the start time recorded (so a recycled pid is never mistaken for our sandbox).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvHandle, SpawnPurpose } from '@karapace/kernel';

export interface PidRecord {
  /** The launcher's pid on the host; the sandbox dies with it (PDEATHSIG). */
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot when the process started. */
  start: string;
  purpose: SpawnPurpose;
  /** `launcher` owns the sandbox; `join` is nsenter running a command inside a launcher's sandbox. */
  kind: 'launcher' | 'join';
  /** The CLI process that started it. */
  cli: number;
}

export function pidDir(env: EnvHandle): string {
  return join(env.paths.runtime, 'pids');
}

/** Start time of a process, or undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True while the recorded process runs and is a live (not zombie) process started when recorded. */
export function isLive(record: PidRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] === record.start && fields[0] !== 'Z';
  } catch {
    return false;
  }
}

export function writePidRecord(env: EnvHandle, pid: number, purpose: SpawnPurpose, kind: PidRecord['kind']): PidRecord | undefined {
  const start = processStartTime(pid);
  if (!start) return undefined;
  const record: PidRecord = { pid, start, purpose, kind, cli: process.pid };
  mkdirSync(pidDir(env), { recursive: true });
  writeFileSync(join(pidDir(env), String(pid)), JSON.stringify(record) + '\n');
  return record;
}

export function removePidRecord(env: EnvHandle, pid: number): void {
  rmSync(join(pidDir(env), String(pid)), { force: true });
}

/** Live records; stale ones (dead or recycled pids) are removed on the way. */
export function livePidRecords(env: EnvHandle): PidRecord[] {
  let names: string[];
  try {
    names = readdirSync(pidDir(env));
  } catch {
    return [];
  }
  const live: PidRecord[] = [];
  for (const name of names) {
    const file = join(pidDir(env), name);
    let record: PidRecord;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    } catch {
      continue; // being written right now, or not ours
    }
    if (isLive(record)) live.push(record);
    else rmSync(file, { force: true });
  }
  return live;
}

/** Direct children of a process (the launcher's only child is the sandbox's pid 1). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** True while some exec/enter launcher of this environment is alive (ready to join or not). */
export function hasLiveLauncher(env: EnvHandle): boolean {
  return livePidRecords(env).some((r) => r.kind === 'launcher' && r.purpose !== 'install');
}

/** pid 1 of a running exec/enter sandbox of this environment that a new command may join. */
export function joinableSandbox(env: EnvHandle): number | undefined {
  for (const r of livePidRecords(env)) {
    if (r.kind !== 'launcher' || r.purpose === 'install') continue;
    const pid1 = childrenOf(r.pid)[0];
    // Joinable once pid 1 has forked the command, i.e. its root is the environment's.
    if (pid1 && childrenOf(pid1).length > 0) return pid1;
  }
  return undefined;
}
