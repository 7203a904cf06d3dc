/**
 * The mock backend. It does NOT isolate anything: commands run on the host, as the
 * invoking user, with the environment's upper dir as working directory and the filtered
 * environment variables. It records a pid file while a command runs so stop/status work.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectOutput, exitStatus, forwardSignals } from '@karapace/kernel';
import type { Backend, EnvHandle, MountPlan, MountRequest, RunState, SpawnRequest, SpawnResult } from '@karapace/kernel';

function pidFile(env: EnvHandle): string {
  return join(env.paths.runtime, 'mock.pid');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(env: EnvHandle): number | undefined {
  // No pid file is the common case (`list` asks every env): no exception to make and collect.
  if (!existsSync(pidFile(env))) return undefined;
  try {
    const pid = Number(readFileSync(pidFile(env), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** What the backend needs of its kernel: marking what it starts in the running index. */
export type RunningMarker = (env: EnvHandle) => void;

/**
 * The mock backend; `markRunning` (the kernel's) is called once the pid file is written, so
 * `list` asks only about marked environments.
 */
export function createMockBackend(markRunning: RunningMarker): Backend {
  return { ...mockBackendBase, marksRunning: true, spawn: (request) => spawnMock(request, markRunning) };
}

function spawnMock(request: SpawnRequest, markRunning: RunningMarker): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const capture = request.stdio === 'capture';
    const child = spawn(request.argv[0]!, request.argv.slice(1), {
      cwd: request.mount.root ?? request.env.paths.upper,
      env: request.environment,
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    const output = collectOutput(child, request.onOutput);
    // Forward termination signals so `kill <karapace pid>` reaches the command.
    const stopForwarding = forwardSignals(child);
    const cleanup = () => {
      stopForwarding();
      rmSync(pidFile(request.env), { force: true });
    };
    child.on('spawn', () => {
      mkdirSync(request.env.paths.runtime, { recursive: true });
      writeFileSync(pidFile(request.env), String(child.pid));
      markRunning(request.env);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      cleanup();
      if (e.code === 'ENOENT') resolve({ exitCode: 127, stderr: `${request.argv[0]}: command not found\n` });
      else if (e.code === 'EACCES') resolve({ exitCode: 126, stderr: `${request.argv[0]}: permission denied\n` });
      else reject(e);
    });
    child.on('close', (code, signal) => {
      cleanup();
      resolve({ exitCode: exitStatus(code, signal), ...(capture ? output() : {}) });
    });
  });
}

const mockBackendBase: Omit<Backend, 'spawn'> = {
  name: 'mock',
  async mount(request: MountRequest): Promise<MountPlan> {
    mkdirSync(request.env.paths.upper, { recursive: true });
    return { backend: 'mock', root: request.env.paths.upper };
  },
  async stop(env: EnvHandle, timeoutMs: number): Promise<boolean> {
    const pid = readPid(env);
    if (!pid) return true;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    return true;
  },
  async status(env: EnvHandle): Promise<RunState> {
    return readPid(env) ? 'running' : 'stopped';
  },
  async statusAll(envs: readonly EnvHandle[]): Promise<RunState[]> {
    return envs.map((env) => (readPid(env) ? 'running' : 'stopped'));
  },
};
