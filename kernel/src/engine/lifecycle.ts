/** exec, enter, destroy, rename, list, inspect, stop — the everyday lifecycle. */
import { rename as renamePath, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, StoreError, UsageError } from '../errors.js';
import { envDir, envHomeDir } from '../store/layout.js';
import { removeMetadata, writeMetadata, type EnvMetadata, type EnvState } from '../store/metadata.js';
import type { RunState } from '../types.js';
import type { Engine } from './engine.js';
import { ensureNameFree, findEnv } from './find.js';
import { handleFor } from './handle.js';
import { withLock } from './with-lock.js';
import { fsyncDir } from '../store/atomic.js';
import { WalTransaction } from '../store/wal.js';
import { crashPoint } from '../store/crash.js';
import { readMetadataText } from '../store/metadata-text.js';
import { removeTree } from '../store/remove-tree.js';
import { removeEnvTree } from '../mapped/run.js';
import { unmarkRunning } from '../store/running-index.js';

export async function envRunState(engine: Engine, meta: EnvMetadata): Promise<RunState> {
  const status = await engine.kernel.hooks.status.promise(handleFor(engine.layout, meta));
  return status ?? 'stopped';
}

/** The state shown to users: stored state, with `running` when the backend says so. */
export async function effectiveState(engine: Engine, meta: EnvMetadata): Promise<EnvState> {
  if (meta.state === 'built' && (await envRunState(engine, meta)) === 'running') return 'running';
  return meta.state;
}

export interface DestroyOptions {
  /** Keep the env's own home (`[runtime] home = "env"`) instead of removing it with the env. */
  keepHome?: boolean;
}

export interface DestroyResult {
  env_id: string;
  short_id: string;
  name?: string;
  /** The env's own home (`[runtime] home = "env"`) when it had one: removed with it, or kept (`keepHome`). */
  home?: { path: string; removed: boolean };
}

export async function destroyEnv(engine: Engine, ref: string, options: DestroyOptions = {}): Promise<DestroyResult> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    if ((await envRunState(engine, meta)) === 'running') {
      throw new UsageError('KP_ENV_RUNNING', `environment ${meta.short_id} is running`, { hint: `stop it first with \`karapace stop ${meta.short_id}\`` });
    }
    await engine.kernel.hooks.destroy.promise(handleFor(engine.layout, meta));
    unmarkRunning(engine.layout, meta.env_id);
    // The env's own home belongs to it (only a rebuild or a build moving the name hands it on).
    const homeDir = meta.manifest.runtime.home === 'env' ? envHomeDir(engine.layout, { name: meta.name, shortId: meta.short_id }) : undefined;
    const home = homeDir && existsSync(homeDir) ? homeDir : undefined;
    const removeHome = home !== undefined && !options.keepHome;
    // The env dir (and its home) move to staging and the metadata goes, each undoable until
    // all are done; after that point recovery finishes the deletion instead of undoing it.
    const dir = envDir(engine.layout, meta.env_id);
    const trash = join(engine.layout.staging, `destroy-${meta.env_id}-${Date.now()}`);
    const homeTrash = `${trash}-home`;
    const wal = await WalTransaction.begin(engine.layout, 'destroy');
    crashPoint('destroy:begin');
    if (existsSync(dir)) {
      await wal.record({ kind: 'rename', from: wal.rel(trash), to: wal.rel(dir) });
      await renamePath(dir, trash);
      crashPoint('destroy:moved');
    }
    if (removeHome) {
      await wal.record({ kind: 'rename', from: wal.rel(homeTrash), to: wal.rel(home) });
      await renamePath(home, homeTrash);
      crashPoint('destroy:home-moved');
    }
    await wal.record({ kind: 'metadata', env_id: meta.env_id, content: await readMetadataText(engine.layout, meta.env_id) });
    await removeMetadata(engine.layout, meta.env_id);
    await fsyncDir(engine.layout.metadata);
    crashPoint('destroy:metadata-removed');
    await wal.commitPoint([{ kind: 'remove', path: wal.rel(trash) }, ...(removeHome ? [{ kind: 'remove' as const, path: wal.rel(homeTrash) }] : [])]);
    crashPoint('destroy:committed');
    await removeTree(trash);
    // Inside the env's mapping: root inside may have made directories there under subordinate ids.
    if (removeHome) await removeEnvTree(engine.kernel, handleFor(engine.layout, meta), homeTrash);
    await wal.finish();
    return { env_id: meta.env_id, short_id: meta.short_id, ...(meta.name ? { name: meta.name } : {}), ...(home ? { home: { path: home, removed: removeHome } } : {}) };
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
