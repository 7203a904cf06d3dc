/** Control commands of an OCI runtime (runc, crun and youki share this command line). */
import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runtimeCommand(binary: string, args: string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) });
      // A number is the exit status; anything else (ENOENT, a timeout kill) is a failure to run.
      const status = (err as unknown as { code?: unknown }).code;
      resolve({ code: typeof status === 'number' ? status : 1, stdout: String(stdout), stderr: String(stderr) || err.message });
    });
  });
}

export interface ContainerState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped' | string;
  pid?: number;
}

/** `<runtime> --root <stateRoot> state <id>`; undefined when the runtime has no such container. */
export async function containerState(binary: string, stateRoot: string, id: string): Promise<ContainerState | undefined> {
  const r = await runtimeCommand(binary, ['--root', stateRoot, 'state', id]);
  if (r.code !== 0) return undefined;
  try {
    const parsed = JSON.parse(r.stdout) as { status?: string; pid?: number };
    return { status: parsed.status ?? 'stopped', pid: parsed.pid };
  } catch {
    return undefined;
  }
}

export function killContainer(binary: string, stateRoot: string, id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<CommandResult> {
  return runtimeCommand(binary, ['--root', stateRoot, 'kill', id, signal]);
}

export function deleteContainer(binary: string, stateRoot: string, id: string): Promise<CommandResult> {
  return runtimeCommand(binary, ['--root', stateRoot, 'delete', '--force', id]);
}

export async function runtimeVersion(binary: string): Promise<string | undefined> {
  const r = await runtimeCommand(binary, ['--version'], 10_000);
  if (r.code !== 0) return undefined;
  return r.stdout.split('\n').find((l) => /version/i.test(l))?.trim() ?? r.stdout.split('\n')[0]?.trim();
}
