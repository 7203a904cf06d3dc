/**
 * @karapace/kernel/testing — a test kit for plugin authors: a test kernel (an engine over a
 * temporary store and project, with the plugins under test) and the backend conformance
 * suite every backend is held to (exit codes, signals, stdio, writes in the upper dir,
 * read-only when frozen, mounts, network isolation). Checks of capabilities a backend does
 * not declare are skipped. One import, any test runner:
 *
 *   import test from 'node:test';            // or ava
 *   import { conformanceSuite } from '@karapace/kernel/testing';
 *   import plugin from '../index.js';
 *   conformanceSuite(test, { plugins: [plugin], backend: 'mine', image: '/path/to/rootfs' });
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { TAP_STAGES } from '../api.js';
import { build } from '../engine/build.js';
import { createEngine, type BuiltinPlugin, type Engine } from '../engine/engine.js';
import { execInEnv } from '../engine/exec.js';
import { freezeEnv } from '../engine/state.js';
import { envDir } from '../store/layout.js';
import { findEnv } from '../engine/find.js';
import type { BackendCapability } from '../capabilities.js';
import type { KarapacePlugin } from '../plugin.js';
import { digestTree } from '../tree-digest.js';

/** Resolves an absolute directory as a base image in place: plugin authors need no image source. */
export const directoryImagePlugin: KarapacePlugin = {
  name: 'karapace-testing:directory-image',
  apply(kernel) {
    kernel.hooks.resolve.tapPromise({ name: 'karapace-testing:directory-image', stage: TAP_STAGES.fallback }, async (request) => {
      if (!isAbsolute(request.image) || !existsSync(request.image) || !statSync(request.image).isDirectory()) return undefined;
      const { digest } = await digestTree(request.image);
      const packageManager = existsSync(join(request.image, 'usr/bin/apt-get')) ? 'apt' : 'none';
      return { reference: request.image, source: request.image, digest, rootfs: request.image, packageManager, resolver: 'karapace-testing:directory-image' };
    });
  },
};

export interface TestKernelOptions {
  /** The plugins under test, applied like config plugins. */
  plugins?: KarapacePlugin<any>[];
  /** Built-in plugins to load: none by default (a third party tests its plugin alone). */
  builtins?: readonly BuiltinPlugin[];
  /** Config file contents for the project (`.karapacerc.json`). */
  config?: Record<string, unknown>;
}

export interface TestKernel {
  engine: Engine;
  /** The temporary directory holding the store and the project (removed by cleanup). */
  dir: string;
  /** Writes karapace.toml (and optional files) in a fresh project directory and builds it; returns the env's name. */
  buildEnv(manifest: string, name: string): Promise<string>;
  /** Runs argv in an environment, capturing output. */
  exec(name: string, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The environment's upper directory (where its writes land). */
  upperDir(name: string): Promise<string>;
  cleanup(): void;
}

/** An engine over a temporary store and project directory with the given plugins. */
export async function createTestKernel(options: TestKernelOptions = {}): Promise<TestKernel> {
  const dir = mkdtempSync(join(tmpdir(), 'karapace-test-'));
  mkdirSync(join(dir, 'config'));
  mkdirSync(join(dir, 'project'));
  writeFileSync(join(dir, 'project', 'package.json'), '{"private":true}\n');
  if (options.config) writeFileSync(join(dir, 'project', '.karapacerc.json'), JSON.stringify(options.config));
  const engine = await createEngine({
    cwd: join(dir, 'project'),
    store: join(dir, 'store'),
    globalConfigDir: join(dir, 'config'),
    env: { ...process.env, KARAPACE_STORE: join(dir, 'store') },
    builtins: options.builtins ?? [],
    plugins: [directoryImagePlugin, ...(options.plugins ?? [])],
  });
  return {
    engine,
    dir,
    async buildEnv(manifest, name) {
      const project = join(dir, `project-${name}`);
      mkdirSync(join(project, 'mounted'), { recursive: true });
      writeFileSync(join(project, 'mounted', 'file'), 'from the host\n');
      writeFileSync(join(project, 'karapace.toml'), manifest);
      await build(engine, { manifest: join(project, 'karapace.toml'), name });
      return name;
    },
    async exec(name, argv) {
      const r = await execInEnv(engine, name, argv, { capture: true });
      return { exitCode: r.exitCode, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    async upperDir(name) {
      return join(envDir(engine.layout, (await findEnv(engine.layout, name)).env_id), 'upper');
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ConformanceOptions extends TestKernelOptions {
  /** The backend under test, as named in `[runtime] backend`. */
  backend: string;
  /** Base image: an absolute rootfs directory with /bin/sh, or a reference a loaded image source resolves. */
  image: string;
}

export interface ConformanceCheck {
  name: string;
  /** The capability the check needs; skipped when the backend does not declare it. */
  capability?: BackendCapability;
  /** The manifest asking for the capability: when the backend lacks it, its build must be refused. */
  asks?: string;
  run(kit: TestKernel): Promise<void>;
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

const manifest = (options: ConformanceOptions, extra = '') =>
  `manifest_version = 1\n[base]\nimage = ${JSON.stringify(options.image)}\n[runtime]\nbackend = ${JSON.stringify(options.backend)}\n${extra}`;

/** The checks, in order; each builds the environment it needs. */
export function backendChecks(options: ConformanceOptions): ConformanceCheck[] {
  return [
    {
      name: 'the exit status of the command comes back',
      async run(kit) {
        const env = await kit.buildEnv(manifest(options), 'exit');
        for (const status of [0, 1, 7, 255]) {
          const r = await kit.exec(env, ['sh', '-c', `exit ${status}`]);
          expect(r.exitCode === status, `exit ${status} came back as ${r.exitCode}`);
        }
        const missing = await kit.exec(env, ['/no/such/command']);
        expect(missing.exitCode === 127 || missing.exitCode === 126, `a missing command exited ${missing.exitCode}, not 127`);
      },
    },
    {
      name: 'a command killed by a signal reports 128+n',
      async run(kit) {
        const env = await kit.buildEnv(manifest(options), 'signal');
        const r = await kit.exec(env, ['sh', '-c', 'kill -TERM $$']);
        expect(r.exitCode === 143, `SIGTERM came back as ${r.exitCode}, not 143`);
      },
    },
    {
      name: 'stdout and stderr are captured separately, byte for byte',
      async run(kit) {
        const env = await kit.buildEnv(manifest(options), 'stdio');
        const r = await kit.exec(env, ['sh', '-c', 'printf "out\\n"; printf "err\\n" >&2; printf "é\\t"']);
        expect(r.stdout === 'out\né\t', `stdout was ${JSON.stringify(r.stdout)}`);
        expect(r.stderr === 'err\n', `stderr was ${JSON.stringify(r.stderr)}`);
      },
    },
    {
      name: 'writes land in the environment\'s upper directory and persist',
      async run(kit) {
        const env = await kit.buildEnv(manifest(options), 'writes');
        // At the environment's root — or, for a backend that runs commands on the host in the
        // upper dir (no isolation), right there: never at the host's root.
        const upper = await kit.upperDir(env);
        const script = `[ "$(pwd)" = '${upper}' ] || cd /; echo persisted > conformance-write && pwd`;
        const r = await kit.exec(env, ['sh', '-c', script]);
        expect(r.exitCode === 0, `the write failed: ${r.stderr}`);
        const inside = r.stdout.trim();
        const written = join(upper, inside === upper ? '' : inside, 'conformance-write');
        expect(existsSync(written), `conformance-write (written in ${inside}) is not in the upper dir ${upper}`);
        expect(readFileSync(written, 'utf8') === 'persisted\n', 'the upper dir has other content');
        const again = await kit.exec(env, ['sh', '-c', `[ "$(pwd)" = '${upper}' ] || cd /; cat conformance-write`]);
        expect(again.stdout === 'persisted\n', `a second exec read ${JSON.stringify(again.stdout)}`);
      },
    },
    {
      name: 'a frozen environment is read-only',
      capability: 'readOnlyRoot',
      async run(kit) {
        const env = await kit.buildEnv(manifest(options), 'frozen');
        await freezeEnv(kit.engine, env);
        const upper = await kit.upperDir(env);
        const r = await kit.exec(env, ['sh', '-c', `[ "$(pwd)" = '${upper}' ] || cd /; echo no > conformance-frozen; pwd`]);
        expect(!existsSync(join(upper, r.stdout.trim() === upper ? '' : r.stdout.trim(), 'conformance-frozen')), 'a write into a frozen environment reached the upper dir');
        const ls = await kit.exec(env, ['sh', '-c', `[ "$(pwd)" = '${upper}' ] || cd /; cat conformance-frozen`]);
        expect(ls.exitCode !== 0, 'writing into a frozen environment succeeded');
      },
    },
    {
      name: 'mounts bind host directories, read-only when asked',
      capability: 'mounts',
      asks: manifest(options, '[mounts]\nhost = "./mounted:/conformance-mount:ro"\n'),
      async run(kit) {
        const env = await kit.buildEnv(this.asks!, 'mounts');
        const r = await kit.exec(env, ['cat', '/conformance-mount/file']);
        expect(r.stdout === 'from the host\n', `the mounted file read ${JSON.stringify(r.stdout)} (${r.stderr})`);
        const w = await kit.exec(env, ['sh', '-c', 'echo x > /conformance-mount/new']);
        expect(w.exitCode !== 0, 'a read-only mount was writable');
      },
    },
    {
      name: 'network isolation leaves only the loopback interface',
      capability: 'networkIsolation',
      asks: manifest(options, '').replace('[runtime]\n', '[runtime]\nnetwork_isolation = true\n'),
      async run(kit) {
        const env = await kit.buildEnv(this.asks!, 'isolated');
        const r = await kit.exec(env, ['cat', '/proc/net/dev']);
        const interfaces = r.stdout.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
        expect(interfaces.length === 1 && interfaces[0] === 'lo', `interfaces inside: ${interfaces.join(', ') || '(none)'}`);
      },
    },
  ];
}

type TestFn = ((name: string, fn: (t?: { pass?: () => void }) => Promise<void>) => unknown) & {
  serial?: TestFn;
  skip?: (name: string, fn: () => void) => unknown;
  after?: { always?: (fn: () => void) => unknown } & ((fn: () => void) => unknown);
};

/**
 * Registers the conformance checks with a test runner's `test` (node:test, ava, or anything
 * with `test(name, fn)`; `test.serial` and `test.skip` are used when present). The checks
 * share one test kernel, created on first use and removed when the runner finishes.
 */
export function conformanceSuite(test: TestFn, options: ConformanceOptions): void {
  let created: TestKernel | undefined;
  let kit: Promise<TestKernel> | undefined;
  const get = () => (kit ??= createTestKernel(options).then((k) => (created = k)));
  const register = test.serial ?? test;
  const done = test.after?.always ?? test.after;
  if (typeof done === 'function') done(() => created?.cleanup());
  else process.once('exit', () => created?.cleanup());
  for (const check of backendChecks(options)) {
    const name = `${options.backend}: ${check.name}`;
    register(name, async (t) => {
      const k = await get();
      const declared = check.capability ? k.engine.kernel.backendInfo(options.backend)?.capabilities[check.capability] === true : true;
      if (!declared) {
        // Not declared: a manifest asking for it must be refused for this backend.
        (t as { log?: (m: string) => void } | undefined)?.log?.(`${options.backend} does not declare ${check.capability}`);
        if (check.asks) {
          const refused = await k.buildEnv(check.asks, `refused-${check.capability}`).then(() => undefined, (err: { code?: string }) => err);
          expect(refused?.code === 'KP_BACKEND_UNSUPPORTED', `${options.backend} does not declare ${check.capability}, yet a manifest asking for it was ${refused ? `refused with ${refused.code}` : 'built'}`);
        }
        t?.pass?.();
        return;
      }
      await check.run(k);
      t?.pass?.();
    });
  }
}
