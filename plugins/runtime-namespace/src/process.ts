/**
 * Runs the launcher: stdio streamed (or captured), termination signals sent to the CLI
 * forwarded to it (it forwards them to the command through the sandbox's pid 1), a pid
 * record for stop/status while it runs, and the command's exit status returned.
 * Terminal handling (foreground process group, job control, window size) is the launcher's:
 * it shares our terminal and makes the command its foreground job.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { RuntimeFailure, type EnvHandle, type SpawnPurpose, type SpawnResult } from '@karapace/kernel';
import { childrenOf, removePidRecord, writePidRecord } from './pid-record.js';
import type { SandboxCgroup } from './cgroups.js';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Exit status the launcher uses when it fails before the command runs (native/utils.h). */
export const EXIT_SETUP = 125;

export interface LaunchOptions {
  /** The launcher, or setpriv (joining a running sandbox through nsenter). */
  launcher: string;
  argv: string[];
  /**
   * Joining a running sandbox: the process started is nsenter, whose forked child is the
   * command; signals go to that child (nsenter does not forward them).
   */
  join?: { environment: Record<string, string> };
  env: EnvHandle;
  purpose: SpawnPurpose;
  capture: boolean;
  cgroup?: SandboxCgroup;
}

export function runLauncher(o: LaunchOptions): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(o.launcher, o.argv, {
      stdio: o.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      // The launcher finds newuidmap/newgidmap on PATH; the command's env is set with --setenv.
      env: o.join ? o.join.environment : { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const forward = (signal: NodeJS.Signals) => {
      if (!o.join) {
        child.kill(signal);
        return;
      }
      // A terminal already sent ^C to its whole foreground group, the command included.
      if (signal === 'SIGINT' && process.stdin.isTTY) return;
      const command = child.pid ? childrenOf(child.pid)[0] : undefined;
      try {
        if (command) process.kill(command, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    for (const s of FORWARDED) process.on(s, forward);
    let recorded = false;
    const cleanup = () => {
      for (const s of FORWARDED) process.off(s, forward);
      if (recorded && child.pid) removePidRecord(o.env, child.pid);
      o.cgroup?.remove();
    };
    child.on('spawn', () => {
      if (!child.pid) return;
      try {
        o.cgroup?.add(child.pid);
        recorded = writePidRecord(o.env, child.pid, o.purpose, o.join ? 'join' : 'launcher') !== undefined;
      } catch (e) {
        child.kill('SIGKILL');
        reject(e);
      }
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      cleanup();
      reject(new RuntimeFailure('KP_NS_LAUNCH_FAILED', `could not start the sandbox launcher ${o.launcher}: ${e.message}`, {
        hint: 'rebuild it with `npm run build:native`, or check $KARAPACE_SANDBOX',
        cause: e,
      }));
    });
    child.on('close', (code, signal) => {
      cleanup();
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      resolve({ exitCode, ...(o.capture ? { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() } : {}) });
    });
  });
}
