/**
 * Runs `karapace ARGS` through the native front door (native/front-door.c) as a project's
 * user, the way the installed executable runs, and says whether it ran its exec plan itself
 * or handed over to Node (`KARAPACE_FRONT_DOOR_DEBUG=1`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BUNDLE, REPO } from '../../helpers/cli.js';
import type { Project } from './harness.js';

export const FRONT = join(REPO, 'native/build/karapace-front-door');
export const HANDED_OVER = /^karapace front door: handing over to Node: (.*)$/m;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Why the front door handed over to Node, or undefined when it ran the plan itself. */
  node?: string;
}

export function frontDoorEnv(p: Project, extra: Record<string, string> = {}): Record<string, string> {
  return { ...p.env, XDG_CACHE_HOME: join(p.dir, 'cache'), KARAPACE_FRONT_DOOR_CLI: BUNDLE, KARAPACE_FRONT_DOOR_DEBUG: '1', ...extra };
}

export function argvFor(p: Project, args: string[], env: Record<string, string>): string[] {
  if (p.who.kind === 'root') return ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), FRONT, ...args];
  return ['runuser', '-u', p.who.name, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), FRONT, ...args];
}

/**
 * Under c8 (npm test) Node passes NODE_V8_COVERAGE on to every child, and a Node CLI run as
 * the test user cannot write root's coverage directory: Node says so on stderr at exit.
 */
const COVERAGE_NOISE = /^EACCES: Failed to write file .*coverage-[\d-]+\.json\n?/gm;

export function run(p: Project, args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const [cmd, ...rest] = argvFor(p, args, frontDoorEnv(p, options.env));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { cwd: p.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const why = HANDED_OVER.exec(stderr)?.[1];
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: stderr.replace(HANDED_OVER, '').replace(COVERAGE_NOISE, '').trim(), node: why });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * The same command through the front door until it runs the plan itself. A fresh plan takes
 * at most two Node runs (the first sandbox creates the upper dir's mount points); more when
 * tests running beside this one add users (/etc/passwd, /etc/subuid are inputs).
 */
export async function viaPlan(p: Project, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const why: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await run(p, args, { env });
    if (r.node === undefined) return r;
    why.push(r.node);
  }
  throw new Error(`the front door never ran its plan for ${args.join(' ')}: ${why.join('; ')}`);
}
