/**
 * Runs the real CLI (cli/dist/bin.js) in a child process, the way a user does, against a
 * temporary store and an empty user-global config dir.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(REPO, 'cli/dist/bin.js');
/** The executable users run (the bundle and its start-up fast paths). */
export const BUNDLE = join(REPO, 'cli/dist/bundle/karapace.cjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  dir: string;
  store: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CliResult>;
  json<T = any>(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<T>;
  write(rel: string, content: string): string;
}

/** A temp dir with its own store and config home; `run` executes karapace inside it. */
export function sandbox(prefix = 'kp-test-'): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = join(dir, 'store');
  const configHome = join(dir, 'config-home');
  mkdirSync(configHome, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    KARAPACE_STORE: store,
    XDG_CONFIG_HOME: configHome,
  };
  const box: Sandbox = {
    dir,
    store,
    env,
    run: (args, options = {}) => runCli(args, { cwd: options.cwd ?? dir, env: { ...env, ...options.env }, input: options.input, timeoutMs: options.timeoutMs }),
    async json(args, options) {
      const r = await box.run([...args, '--json'], options);
      if (r.code !== 0) throw new Error(`karapace ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    write(rel, content) {
      const file = join(dir, rel);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, content);
      return file;
    },
  };
  return box;
}

export function runCli(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; bin?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? BIN, ...args], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the bundled executable (BUNDLE) in a sandbox, with its code caches kept in the sandbox. */
export function runBundled(box: Sandbox, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCli(args, { cwd: options.cwd ?? box.dir, env: { ...box.env, XDG_CACHE_HOME: join(box.dir, 'cache'), ...options.env }, bin: BUNDLE });
}

/** A minimal mock manifest. */
export function mockManifest(opts: { image?: string; packages?: string[]; backend?: string; extra?: string } = {}): string {
  const pkgs = (opts.packages ?? []).map((p) => JSON.stringify(p)).join(', ');
  return [
    'manifest_version = 1',
    '[base]',
    `image = ${JSON.stringify(opts.image ?? 'mock:test')}`,
    '[system]',
    `packages = [${pkgs}]`,
    '[runtime]',
    `backend = ${JSON.stringify(opts.backend ?? 'mock')}`,
    opts.extra ?? '',
  ].join('\n') + '\n';
}
