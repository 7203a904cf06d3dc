/**
 * Runs the launcher: stdio streamed (or captured), termination signals sent to the CLI
 * forwarded to it (it forwards them to the command), a pid record for stop/status while it
 * runs, its status lines (fd 3) read to know when the sandbox can be joined, and the
 * command's exit status returned. Terminal handling (foreground process group, job control,
 * window size) is the launcher's: it shares our terminal and makes the command its
 * foreground job. With stdio inherited (exec, enter) native/launch.c runs and waits for the
 * launcher when its addon is there, the same steps without child_process (native-launch.ts).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { RuntimeFailure, type EnvHandle, type SpawnPurpose, type SpawnRequest, type SpawnResult } from '@karapace/kernel';
import { nativeLaunchNextTo, type NativeLaunch } from './native-launch.js';
import { removePidRecord, writePidRecord } from './pid-record.js';
import type { SandboxCgroup } from './cgroups.js';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Exit status the launcher uses when it fails before the command runs (native/utils.h). */
export const EXIT_SETUP = 125;
/** The fd the launcher writes its JSON status lines to (`--json-status-fd`). */
const STATUS_FD = 3;

export interface LaunchOptions {
  launcher: string;
  /** Launcher argv; `--json-status-fd` is added here. */
  argv: string[];
  /** `join`: the argv runs a command in a running sandbox (`--join`). */
  kind: 'launcher' | 'join';
  env: EnvHandle;
  purpose: SpawnPurpose;
  capture: boolean;
  /** With capture: sees the output as it arrives. */
  onOutput?: SpawnRequest['onOutput'];
  cgroup?: SandboxCgroup;
  /** Give the launcher the CLI's whole environment (its host-exec server passes it on). */
  hostEnvironment?: boolean;
  /** Called once the pid record is written (the kernel's running index: Kernel.markRunning). */
  onRecorded?: () => void;
  /** Called when `ready` resolves with a pid, before the launcher goes on (the sandbox record, the env lock). */
  onReady?: (pid: number) => void;
}

export interface Launch {
  /**
   * Resolves when the sandbox can be joined (a started sandbox: its pid 1 on the host) or
   * the command runs (a join: its pid); undefined when the launcher ended before that.
   */
  ready: Promise<number | undefined>;
  done: Promise<SpawnResult>;
}

/** Reads the launcher's status lines; `onLine` sees each one. */
function readStatus(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}

/** What the status lines say: the command's pid (`child-pid`), then for a new sandbox `sandbox-ready`. */
function statusReader(o: LaunchOptions, setReady: (pid: number | undefined) => void): (line: string) => void {
  let childPid: number | undefined;
  let announced = false;
  const announce = (pid: number | undefined) => {
    if (!announced && pid !== undefined) {
      announced = true;
      o.onReady?.(pid);
    }
    setReady(pid);
  };
  return (line) => {
    let s: Record<string, unknown>;
    try {
      s = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not a status line
    }
    if (typeof s['child-pid'] === 'number') childPid = s['child-pid'];
    if (o.kind === 'join' && childPid !== undefined) announce(childPid);
    if (o.kind === 'launcher' && s['sandbox-ready'] === true) announce(childPid);
  };
}

function launchFailed(o: LaunchOptions, e: Error): RuntimeFailure {
  return new RuntimeFailure('KP_NS_LAUNCH_FAILED', `could not start the sandbox launcher ${o.launcher}: ${e.message}`, {
    hint: 'rebuild it with `npm run build:native`, or check $KARAPACE_SANDBOX',
    cause: e,
  });
}

/** The launcher's environment: PATH for newuidmap/newgidmap, or the CLI's for host commands. */
function launcherEnvironment(o: LaunchOptions): NodeJS.ProcessEnv {
  return o.hostEnvironment ? process.env : { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
}

/** The same steps as the child_process path below, run to the end before this returns. */
function startNative(native: NativeLaunch, o: LaunchOptions): Launch {
  let setReady!: (pid: number | undefined) => void;
  const ready = new Promise<number | undefined>((r) => (setReady = r));
  let recorded = 0;
  const onLine = statusReader(o, (pid) => setReady(pid));
  let result: SpawnResult | undefined;
  let failure: unknown;
  try {
    const exitCode = native.launch(o.launcher, ['--json-status-fd', String(STATUS_FD), ...o.argv], launcherEnvironment(o).PATH!, (pid) => {
      if (writePidRecord(o.env, pid, o.purpose, o.kind) === undefined) return;
      recorded = pid;
      o.onRecorded?.();
    }, onLine);
    result = { exitCode };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // The message child_process gives (`spawn FILE CODE`).
    failure = err.syscall === 'spawn' ? launchFailed(o, Object.assign(new Error(`spawn ${o.launcher} ${err.code}`), { code: err.code, errno: err.errno, syscall: 'spawn', path: o.launcher })) : e;
  }
  if (recorded) removePidRecord(o.env, recorded);
  setReady(undefined);
  return { ready, done: failure === undefined ? Promise.resolve(result!) : Promise.reject(failure) };
}

export function startLauncher(o: LaunchOptions): Launch {
  if (!o.capture && !o.cgroup && !o.hostEnvironment && o.purpose !== 'install') {
    const native = nativeLaunchNextTo(o.launcher);
    if (native) return startNative(native, o);
  }
  let setReady!: (pid: number | undefined) => void;
  const ready = new Promise<number | undefined>((r) => (setReady = r));
  const done = new Promise<SpawnResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const child = spawn(o.launcher, ['--json-status-fd', String(STATUS_FD), ...o.argv], {
      stdio: o.capture ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['inherit', 'inherit', 'inherit', 'pipe'],
      // The launcher finds newuidmap/newgidmap on PATH; the command's env is set with --setenv.
      // The command inside never sees the launcher's (--clearenv), only host commands do.
      env: launcherEnvironment(o),
    });
    child.stdout?.on('data', (c: Buffer) => {
      out.push(c);
      o.onOutput?.('stdout', c.toString());
    });
    child.stderr?.on('data', (c: Buffer) => {
      err.push(c);
      o.onOutput?.('stderr', c.toString());
    });
    readStatus(child.stdio[STATUS_FD] as Readable, statusReader(o, setReady));
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED) process.on(s, forward);
    let recorded = false;
    const cleanup = () => {
      for (const s of FORWARDED) process.off(s, forward);
      if (recorded && child.pid) removePidRecord(o.env, child.pid);
      o.cgroup?.remove();
      setReady(undefined);
    };
    child.on('spawn', () => {
      if (!child.pid) return;
      try {
        o.cgroup?.add(child.pid);
        recorded = writePidRecord(o.env, child.pid, o.purpose, o.kind) !== undefined;
        if (recorded) o.onRecorded?.();
      } catch (e) {
        child.kill('SIGKILL');
        reject(e);
      }
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      cleanup();
      reject(launchFailed(o, e));
    });
    // 'exit', not 'close': a sandbox that stays for joined commands must not hold us up.
    child.on('exit', (code, signal) => {
      cleanup();
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      if (!o.capture) return resolve({ exitCode });
      // Captured output: the pipes end when the command's last writer is gone.
      let open = 2;
      const finish = () => {
        if (--open === 0) resolve({ exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      };
      for (const s of [child.stdout!, child.stderr!]) {
        if (s.readableEnded || s.destroyed) finish();
        else s.once('close', finish);
      }
    });
  });
  return { ready, done };
}

export function runLauncher(o: LaunchOptions): Promise<SpawnResult> {
  return startLauncher(o).done;
}
