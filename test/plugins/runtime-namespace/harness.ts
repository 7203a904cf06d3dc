/**
 * Runs the real CLI against the namespace backend, as root or as an unprivileged user the
 * harness creates (kp-nsuser), with a store and a project directory that user owns.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BIN, REPO } from '../../helpers/cli.js';

export const NS_USER = 'kp-nsuser';
/** A project config file name the kernel's config discovery looks for. */
export const CONFIG_FILE = '.karapacerc.json';
export const KERNEL_URL = new URL('../../../kernel/dist/index.js', import.meta.url).href;
export const DIR_IMAGE_PLUGIN = join(REPO, 'test/plugins/runtime-namespace/dir-image-plugin.mjs');

export interface Identity {
  kind: 'root' | 'user';
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function idOf(name: string): Identity | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const [, , uid, gid, , home] = r.stdout.trim().split(':');
  return { kind: name === 'root' ? 'root' : 'user', name, uid: Number(uid), gid: Number(gid), home: home! };
}

/** Why tests cannot run as both root and an unprivileged user here, or undefined. */
/** Why the Debian tests cannot build with the tarball resolver and the apt adapter, if they cannot. */
export function imageSourcesMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('@karapace/image-sources');
    return undefined;
  } catch {
    return '@karapace/image-sources (tarball resolver + apt adapter) is not installed';
  }
}

export function identitiesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the namespace tests create and switch to an unprivileged user, which needs root';
  if (spawnSync('sh', ['-c', 'command -v runuser && command -v useradd'], { stdio: 'ignore' }).status !== 0) return 'runuser/useradd (util-linux, passwd) are missing';
  return undefined;
}

export function identity(kind: 'root' | 'user'): Identity {
  if (kind === 'root') return idOf('root')!;
  if (!idOf(NS_USER)) {
    // Parallel test files may race to create it; a second useradd fails harmlessly.
    spawnSync('flock', ['/tmp/.kp-nsuser.lock', 'sh', '-c', `getent passwd ${NS_USER} >/dev/null || useradd -m ${NS_USER}`], { stdio: 'ignore' });
  }
  const id = idOf(NS_USER);
  if (!id) throw new Error(`could not create the user ${NS_USER}`);
  return id;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Project {
  who: Identity;
  dir: string;
  store: string;
  env: Record<string, string>;
  /** argv that runs `karapace ARGS` as `who`. */
  command(args: string[]): string[];
  spawn(args: string[], options?: { stdin?: 'pipe' | 'ignore' }): ChildProcess;
  run(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  write(rel: string, content: string): string;
  mkdir(rel: string): string;
  cleanup(): void;
}

export function project(who: Identity, config: Record<string, unknown> = {}): Project {
  const dir = mkdtempSync(join('/tmp', `kp-ns-${who.kind}-`));
  const store = join(dir, 'store');
  const configHome = join(dir, 'config-home');
  mkdirSync(configHome);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: who.home,
    USER: who.name,
    LANG: 'C.UTF-8',
    SHELL: '/bin/sh',
    KARAPACE_STORE: store,
    XDG_CONFIG_HOME: configHome,
    KARAPACE_TEST_KERNEL: KERNEL_URL,
  };
  const command = (args: string[]) => {
    const node = [process.execPath, BIN, ...args];
    if (who.kind === 'root') return node;
    return ['runuser', '-u', who.name, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...node];
  };
  const p: Project = {
    who, dir, store, env, command,
    spawn(args, options = {}) {
      const [cmd, ...rest] = command(args);
      return spawn(cmd!, rest, { cwd: dir, env, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
    },
    run(args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = p.spawn(args, { stdin: 'pipe' });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (c) => (stdout += c));
        child.stderr!.on('data', (c) => (stderr += c));
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
        child.on('error', reject);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
        child.stdin!.end(options.input ?? '');
      });
    },
    write(rel, content) {
      const file = join(dir, rel);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, content);
      chownSync(file, who.uid, who.gid);
      return file;
    },
    mkdir(rel) {
      const d = join(dir, rel);
      mkdirSync(d, { recursive: true });
      chownSync(d, who.uid, who.gid);
      return d;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  p.write(CONFIG_FILE, JSON.stringify({ plugins: [DIR_IMAGE_PLUGIN], ...config }, null, 2));
  chownSync(dir, who.uid, who.gid);
  chownSync(configHome, who.uid, who.gid);
  return p;
}

export function manifest(image: string, extra = ''): string {
  return `manifest_version = 1\n[base]\nimage = ${JSON.stringify(image)}\n[runtime]\nbackend = "namespace"\n${extra}\n`;
}

/** Builds the project's karapace.toml; returns the env's short id. */
export async function buildEnv(p: Project): Promise<{ shortId: string; envId: string }> {
  const r = await p.run(['build', '--json']);
  if (r.code !== 0) throw new Error(`build failed (${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { short_id: string; env_id: string };
  return { shortId: out.short_id, envId: out.env_id };
}

/** Host pids of processes whose command line mentions `needle` (leftover sandboxes). */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The direct children of a process (runuser forks the CLI). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Polls until `fn` holds; generous by default, since it returns as soon as it does. */
export async function waitFor(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function shellQuote(args: string[]): string {
  return args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** argv that runs `karapace ARGS` as `who` on a fresh pseudo-terminal (script(1) from util-linux). */
export function ptyCommand(p: Project, args: string[]): string[] {
  const node = [process.execPath, BIN, ...args];
  if (p.who.kind === 'root') return ['script', '-qfc', shellQuote(node), '/dev/null'];
  const inner = ['env', '-i', ...Object.entries(p.env).map(([k, v]) => `${k}=${v}`), ...node];
  return ['runuser', '-u', p.who.name, '--', 'script', '-qfc', shellQuote(inner), '/dev/null'];
}

/** The env's state as `karapace list` reports it. */
export async function envState(p: Project, shortId: string): Promise<string | undefined> {
  const r = await p.run(['list', '--json']);
  const list = JSON.parse(r.stdout) as { environments: { short_id: string; state: string }[] };
  return list.environments.find((e) => e.short_id === shortId)?.state;
}

/**
 * An unprivileged user with its own /etc/subuid and /etc/subgid range (65536 ids), placed
 * after every range already there so it overlaps nobody's: full id mapping (keep-id) for it
 * is real. Created once; parallel test files serialise on a lock.
 */
export function subidIdentity(name = 'kp-subid'): Identity & { subuid: number } {
  const script = [
    'set -e',
    `getent passwd "$1" >/dev/null || useradd -m "$1"`,
    'for f in /etc/subuid /etc/subgid; do',
    '  touch "$f"',
    '  grep -q "^$1:" "$f" && continue',
    `  start=$(cat /etc/subuid /etc/subgid | awk -F: 'BEGIN{m=1048576} NF==3{e=$2+$3; if(e>m)m=e} END{print int((m+65535)/65536)*65536}')`,
    '  echo "$1:$start:65536" >> "$f"',
    'done',
  ].join('\n');
  const r = spawnSync('flock', ['/tmp/.kp-subid.lock', 'sh', '-c', script, 'subid-user', name], { encoding: 'utf8' });
  const id = idOf(name);
  if (r.status !== 0 || !id) throw new Error(`could not create ${name} with subordinate ids: ${r.stderr}`);
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))!;
  return { ...id, subuid: Number(line.split(':')[1]) };
}
