/** exec, enter, destroy, rename, list, inspect, stop — the everyday lifecycle. */
import { rename as renamePath, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, StoreError, UsageError } from '../errors.js';
import { envDir } from '../store/layout.js';
import { listMetadata, removeMetadata, writeMetadata, type EnvMetadata, type EnvState } from '../store/metadata.js';
import { filterEnvironment, userEnvironment } from '../security/environment.js';
import type { RunState, SpawnResult } from '../types.js';
import type { Engine } from './engine.js';
import { ensureNameFree, findEnv } from './find.js';
import { handleFor } from './handle.js';
import { runInEnv } from './run.js';
import { withLock } from './build.js';
import { fsyncDir } from '../store/atomic.js';
import { WalTransaction } from '../store/wal.js';
import { crashPoint } from '../store/crash.js';
import { readMetadataText } from '../store/metadata-text.js';
import { resolveMounts } from '../security/mounts.js';
import { checkResourceLimits } from '../security/limits.js';

export interface ExecOptions {
  /** Keep/allocate a terminal (enter). */
  tty?: boolean;
  cwd?: string;
  /** Capture stdout/stderr instead of streaming them (front ends other than the CLI). */
  capture?: boolean;
}

function checkEnterable(meta: EnvMetadata): void {
  if (meta.state === 'archived') {
    throw new UsageError('KP_ENV_ARCHIVED', `environment ${meta.short_id} is archived and cannot be entered`, {
      hint: 'archived environments are kept for reference only; build it again from its manifest to use it',
    });
  }
  if (meta.state === 'defined') {
    throw new UsageError('KP_ENV_NOT_BUILT', `environment ${meta.short_id} is not built`, { hint: 'run `karapace build` first' });
  }
}

/** Runs a command as the invoking user; resolves to its exit status. */
export async function execInEnv(engine: Engine, ref: string, argv: string[], options: ExecOptions = {}): Promise<SpawnResult> {
  const meta = await findEnv(engine.layout, ref);
  checkEnterable(meta);
  await engine.loadBuiltins({ backend: meta.backend });
  const handle = handleFor(engine.layout, meta);
  const user = engine.user;
  // Policy checks come before anything runs, whatever the backend.
  resolveMounts(meta.manifest.mounts, meta.manifest_dir, engine.policy, user);
  checkResourceLimits(meta.manifest.runtime.resource_limits, engine.policy);
  return runInEnv(engine.kernel, handle, options.tty ? 'enter' : 'exec', {
    argv,
    user: 'invoker',
    stdio: options.capture ? 'capture' : 'inherit',
    tty: options.tty === true,
    environment: filterEnvironment(engine.env, engine.policy, userEnvironment(user, meta.env_id)),
    cwd: options.cwd,
    network: !meta.manifest.runtime.network_isolation,
    readOnly: meta.state === 'frozen',
  });
}

/** Interactive shell (or the given command) with a terminal. */
export async function enterEnv(engine: Engine, ref: string, argv: string[] = []): Promise<SpawnResult> {
  const command = argv.length ? argv : [engine.env.SHELL && engine.env.SHELL.startsWith('/bin/') ? engine.env.SHELL : '/bin/sh'];
  return execInEnv(engine, ref, command, { tty: true });
}

export async function envRunState(engine: Engine, meta: EnvMetadata): Promise<RunState> {
  const status = await engine.kernel.hooks.status.promise(handleFor(engine.layout, meta));
  return status ?? 'stopped';
}

/** The state shown to users: stored state, with `running` when the backend says so. */
export async function effectiveState(engine: Engine, meta: EnvMetadata): Promise<EnvState> {
  if (meta.state === 'built' && (await envRunState(engine, meta)) === 'running') return 'running';
  return meta.state;
}

export async function destroyEnv(engine: Engine, ref: string): Promise<{ env_id: string; short_id: string; name?: string }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    if ((await envRunState(engine, meta)) === 'running') {
      throw new UsageError('KP_ENV_RUNNING', `environment ${meta.short_id} is running`, { hint: `stop it first with \`karapace stop ${meta.short_id}\`` });
    }
    await engine.kernel.hooks.destroy.promise(handleFor(engine.layout, meta));
    // The env dir moves to staging and the metadata goes, each undoable until both are
    // done; after that point recovery finishes the deletion instead of undoing it.
    const dir = envDir(engine.layout, meta.env_id);
    const trash = join(engine.layout.staging, `destroy-${meta.env_id}-${Date.now()}`);
    const wal = await WalTransaction.begin(engine.layout, 'destroy');
    crashPoint('destroy:begin');
    if (existsSync(dir)) {
      await wal.record({ kind: 'rename', from: wal.rel(trash), to: wal.rel(dir) });
      await renamePath(dir, trash);
      crashPoint('destroy:moved');
    }
    await wal.record({ kind: 'metadata', env_id: meta.env_id, content: await readMetadataText(engine.layout, meta.env_id) });
    await removeMetadata(engine.layout, meta.env_id);
    await fsyncDir(engine.layout.metadata);
    crashPoint('destroy:metadata-removed');
    await wal.commitPoint([{ kind: 'remove', path: wal.rel(trash) }]);
    crashPoint('destroy:committed');
    await rm(trash, { recursive: true, force: true });
    await wal.finish();
    return { env_id: meta.env_id, short_id: meta.short_id, ...(meta.name ? { name: meta.name } : {}) };
  });
}

export async function renameEnv(engine: Engine, ref: string, name: string): Promise<{ env_id: string; short_id: string; name: string; previous?: string }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    await ensureNameFree(engine.layout, name, meta.env_id);
    await writeMetadata(engine.layout, { ...meta, name, updated_at: new Date().toISOString() });
    return { env_id: meta.env_id, short_id: meta.short_id, name, ...(meta.name ? { previous: meta.name } : {}) };
  });
}

export interface EnvSummary {
  env_id: string;
  short_id: string;
  name: string | null;
  state: EnvState;
  backend: string;
  base: string;
  packages: number;
  created_at: string;
}

export async function listEnvs(engine: Engine): Promise<{ environments: EnvSummary[]; corrupt: string[] }> {
  const { envs, corrupt } = await listMetadata(engine.layout);
  const sorted = envs.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.env_id < b.env_id ? -1 : 1));
  const environments = await Promise.all(
    sorted.map(async (m) => ({
      env_id: m.env_id,
      short_id: m.short_id,
      name: m.name ?? null,
      state: await effectiveState(engine, m),
      backend: m.backend,
      base: m.base.reference,
      packages: m.lock.resolved_packages.length,
      created_at: m.created_at,
    })),
  );
  return { environments, corrupt: corrupt.map((c) => c.path) };
}

export async function inspectEnv(engine: Engine, ref: string): Promise<EnvMetadata & { state: EnvState }> {
  const meta = await findEnv(engine.layout, ref);
  return { ...meta, state: await effectiveState(engine, meta) };
}

export async function stopEnv(engine: Engine, ref: string, timeoutMs = 10_000): Promise<{ env_id: string; stopped: boolean }> {
  const meta = await findEnv(engine.layout, ref);
  if ((await envRunState(engine, meta)) !== 'running') {
    throw new UsageError('KP_ENV_NOT_RUNNING', `environment ${meta.short_id} is not running`, { hint: 'nothing to stop' });
  }
  const handled = await engine.kernel.hooks.stop.promise(handleFor(engine.layout, meta), timeoutMs);
  if (!handled) throw new RuntimeFailure('KP_STOP_UNSUPPORTED', `backend "${meta.backend}" cannot stop environments`, { hint: 'stop the process from inside the environment' });
  return { env_id: meta.env_id, stopped: true };
}

export function assertStoreExists(engine: Engine): void {
  if (!existsSync(engine.layout.store)) {
    throw new StoreError('KP_STORE_EMPTY', `no store at ${engine.layout.root}`, { hint: 'build an environment first with `karapace build`' });
  }
}
