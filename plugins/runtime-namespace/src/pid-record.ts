/**
 * Pid records: one file per running launcher in `<env>/runtime/pids/`, written by the CLI
 * after spawning. They outlive a crashed CLI; a record only counts while its pid is alive
 * AND has the start time recorded (so a recycled pid is never mistaken for our sandbox).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvHandle, SpawnPurpose } from '@karapace/kernel';

export interface PidRecord {
  /** The launcher's pid on the host; the sandbox dies with it (PDEATHSIG). */
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot when the process started. */
  start: string;
  purpose: SpawnPurpose;
  /** `launcher` starts a sandbox; `join` is a `karapace-sandbox --join` running a command in one. */
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

/** Removes a record file; one already gone is fine. (Node's rmSync loads its rimraf module: not on every exec.) */
function removeRecord(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export function removePidRecord(env: EnvHandle, pid: number): void {
  removeRecord(join(pidDir(env), String(pid)));
}

/** Live records; stale ones (dead or recycled pids) are removed on the way. */
export function livePidRecords(env: EnvHandle): PidRecord[] {
  // No records is the common case (`list` asks every env): no exception to make and collect.
  if (!existsSync(pidDir(env))) return [];
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
    else removeRecord(file);
  }
  return live;
}

/** The running exec/enter sandbox of an environment: its pid 1 on the host. */
export interface SandboxRecord {
  pid: number;
  start: string;
}

function sandboxFile(env: EnvHandle): string {
  return join(env.paths.runtime, 'sandbox.json');
}

/** Written (under the env lock) once the sandbox is ready to be joined. */
export function writeSandboxRecord(env: EnvHandle, pid1: number): boolean {
  const start = processStartTime(pid1);
  if (!start) return false;
  const tmp = `${sandboxFile(env)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ pid: pid1, start } satisfies SandboxRecord) + '\n');
  renameSync(tmp, sandboxFile(env));
  return true;
}

/**
 * pid 1 of the environment's running sandbox, or undefined. pid 1 may outlive the launcher
 * that started it (it stays while joined commands run), so it has its own record.
 */
export function liveSandbox(env: EnvHandle): number | undefined {
  if (!existsSync(sandboxFile(env))) return undefined;
  let record: SandboxRecord;
  try {
    record = JSON.parse(readFileSync(sandboxFile(env), 'utf8')) as SandboxRecord;
  } catch {
    return undefined;
  }
  return isLive({ ...record, purpose: 'exec', kind: 'launcher', cli: 0 }) ? record.pid : undefined;
}
