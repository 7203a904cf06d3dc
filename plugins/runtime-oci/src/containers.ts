/**
 * Container records of one environment. Everything lives under env.paths.runtime/oci:
 * `state/` is the runtime's --root (so no global record can block a later run), and
 * `bundles/<container id>/` holds config.json, the empty rootfs mount point and
 * record.json (which runtime ran it and which CLI process owns it). A record whose
 * container is gone, stopped, or stuck in "created" with its owner dead is stale and is
 * removed (`delete --force`) before the next container starts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnvHandle } from '@karapace/kernel';
import { containerState, deleteContainer, type ContainerState } from './runtime-cli.js';

export interface OciDirs {
  base: string;
  state: string;
  bundles: string;
}

export function ociDirs(env: Pick<EnvHandle, 'paths'>): OciDirs {
  const base = join(env.paths.runtime, 'oci');
  return { base, state: join(base, 'state'), bundles: join(base, 'bundles') };
}

/** `karapace-<short_id>-<pid>-<random>`: readable in `runc list`, unique per run. */
export function containerId(env: Pick<EnvHandle, 'shortId'>): string {
  const short = env.shortId.replace(/[^A-Za-z0-9_.-]/g, '') || 'env';
  return `karapace-${short}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface ContainerRecord {
  id: string;
  /** Runtime binary that runs it: status and stop must ask the same one. */
  runtime: string;
  runtimeName: string;
  owner: number;
  created_at: string;
}

export function bundleDir(dirs: OciDirs, id: string): string {
  return join(dirs.bundles, id);
}

export async function writeRecord(dirs: OciDirs, record: ContainerRecord): Promise<void> {
  await writeFile(join(bundleDir(dirs, record.id), 'record.json'), JSON.stringify(record) + '\n');
}

export async function listRecords(dirs: OciDirs): Promise<ContainerRecord[]> {
  if (!existsSync(dirs.bundles)) return [];
  const out: ContainerRecord[] = [];
  for (const id of await readdir(dirs.bundles)) {
    try {
      out.push(JSON.parse(await readFile(join(dirs.bundles, id, 'record.json'), 'utf8')) as ContainerRecord);
    } catch {
      // A bundle without a readable record was never started: it is stale.
      out.push({ id, runtime: '', runtimeName: '', owner: 0, created_at: '' });
    }
  }
  return out;
}

/** A pid can be reused: a record that never got a container is stale after this long. */
const STARTING_GRACE_MS = 5 * 60_000;

function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LiveContainer {
  record: ContainerRecord;
  state: ContainerState;
}

function isLive(record: ContainerRecord, state: ContainerState | undefined): state is ContainerState {
  if (!state) return false;
  if (state.status === 'running' || state.status === 'paused') return true;
  // "creating"/"created" are transient while the owner is starting it.
  return (state.status === 'created' || state.status === 'creating') && alive(record.owner);
}

/** A record whose owner (another live CLI) has not created its container yet, within reason. */
function beingStarted(record: ContainerRecord, state: ContainerState | undefined): boolean {
  if (state || record.owner === process.pid || !alive(record.owner)) return false;
  return Date.now() - Date.parse(record.created_at) < STARTING_GRACE_MS;
}

/** Containers of this env that are running; removes stale records on the way. */
export async function liveContainers(dirs: OciDirs, options: { reap: boolean }): Promise<LiveContainer[]> {
  const live: LiveContainer[] = [];
  for (const record of await listRecords(dirs)) {
    const state = record.runtime ? await containerState(record.runtime, dirs.state, record.id) : undefined;
    if (isLive(record, state)) {
      live.push({ record, state });
    } else if (options.reap && !beingStarted(record, state)) {
      if (record.runtime && state) await deleteContainer(record.runtime, dirs.state, record.id);
      await rm(bundleDir(dirs, record.id), { recursive: true, force: true });
    }
  }
  return live;
}

export async function prepareBundle(dirs: OciDirs, id: string): Promise<{ dir: string; rootfs: string }> {
  const dir = bundleDir(dirs, id);
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  await mkdir(dirs.state, { recursive: true, mode: 0o700 });
  return { dir, rootfs };
}
