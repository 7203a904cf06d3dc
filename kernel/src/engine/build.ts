/**
 * build: manifest → resolve base → install packages → lock → env_id → store.
 * The environment is assembled in staging and renamed into place only when complete,
 * so an interrupted build never leaves something that looks like a finished environment.
 */
import { randomHex } from '../random.js';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from '../fs-async.js';
import { dirname, join, resolve } from 'node:path';
import { ManifestError, RuntimeFailure } from '../errors.js';
import { readManifestFile } from '../manifest/parse.js';
import type { NormalizedManifest } from '../manifest/types.js';
import { describeDrift, lockDrift } from '../lock/drift.js';
import { LOCK_FILE_NAME, readLock, serializeLock, writeLock } from '../lock/file.js';
import { computeEnvId } from '../lock/identity.js';
import type { LockFile } from '../lock/types.js';
import { WalTransaction } from '../store/wal.js';
import { crashPoint } from '../store/crash.js';
import { readMetadataText } from '../store/metadata-text.js';
import { envDir } from '../store/layout.js';
import { readMetadata, writeMetadata, type EnvMetadata } from '../store/metadata.js';
import { fsyncDir, writeFileAtomic } from '../store/atomic.js';
import {
  findPackagesLayer, installMapping, newPackagesLayerName, packagesDir, packagesLayerDir, packagesLayerRoot, serializePackagesLayer,
  PACKAGES_LAYER_VERSION, type PackagesLayerRecord, type PackagesLayerRequest,
} from '../store/packages-layer.js';
import { linkLayerToObjects } from '../store/packages-objects.js';
import { removeEnvTree } from '../mapped/run.js';
import type { EnvHandle, ResolvedBase, ResolvedPackage } from '../types.js';
import type { Engine } from './engine.js';
import { ensureNameFree } from './find.js';
import { envPaths, handleFor } from './handle.js';
import { mountEnv, runInEnv } from './run.js';
import { withLock } from './with-lock.js';
import { CORE_PLUGIN_NAME } from './core-plugin.js';

export { withLock } from './with-lock.js';
import { resolveMounts } from '../security/mounts.js';
import { checkBackendCapabilities } from '../capabilities.js';
import { checkResourceLimits } from '../security/limits.js';
import { removeTree } from '../store/remove-tree.js';

export interface BuildOptions {
  /** Path of karapace.toml (or its directory). Default: ./karapace.toml */
  manifest?: string;
  name?: string;
  /** Refuse drift from karapace.lock and install its exact versions. */
  locked?: boolean;
  offline?: boolean;
  requirePinnedImage?: boolean;
  /** Ignore an existing environment with the same identity and resolve again. */
  force?: boolean;
}

export interface BuildResult {
  env_id: string;
  short_id: string;
  name?: string;
  state: string;
  backend: string;
  base: { image: string; digest: string };
  packages: ResolvedPackage[];
  lock_path: string;
  /** True when an identical environment already existed and nothing was built. */
  cached: boolean;
  /**
   * The environment the manifest's lock named before, when this build made a different one:
   * it is kept; its name (if it had one and none was asked for) moved to the new env.
   */
  previous_env?: { env_id: string; short_id: string; name_moved: string | null };
  /** What plugins did after the build, by plugin name (`built` hook): e.g. `app-export: { exported }`. */
  extensions?: Record<string, unknown>;
}

export function manifestPathFrom(cwd: string, manifest?: string): string {
  const p = resolve(cwd, manifest ?? 'karapace.toml');
  return existsSync(p) && !p.endsWith('.toml') && existsSync(join(p, 'karapace.toml')) ? join(p, 'karapace.toml') : p;
}

export interface PreparedBuild {
  manifestPath: string;
  manifestDir: string;
  manifest: NormalizedManifest;
  lockPath: string;
  existingLock?: LockFile;
}

/** Parses and checks everything a build starts from; refuses drift under --locked. */
export async function prepareBuild(engine: Engine, options: BuildOptions): Promise<PreparedBuild> {
  const manifestPath = manifestPathFrom(engine.cwd, options.manifest);
  const manifestDir = dirname(manifestPath);
  const manifest = readManifestFile(manifestPath, { defaultBackend: engine.config.defaultBackend });
  checkResourceLimits(manifest.runtime.resource_limits, engine.policy);
  resolveMounts(manifest.mounts, manifestDir, engine.policy, engine.user);
  const lockPath = join(manifestDir, LOCK_FILE_NAME);
  const existingLock = readLock(lockPath);

  if (options.locked) {
    if (!existingLock) {
      throw new ManifestError('KP_LOCK_MISSING', `--locked was given but ${lockPath} does not exist`, {
        hint: 'run `karapace build` once without --locked to write the lock, and commit it',
      });
    }
    const drift = lockDrift(manifest, existingLock);
    if (drift.length) {
      throw new ManifestError('KP_LOCK_DRIFT', `the manifest drifted from ${LOCK_FILE_NAME}:\n  ${drift.map(describeDrift).join('\n  ')}`, {
        hint: 'run `karapace build` without --locked to update the lock, or revert the manifest',
        data: { drift },
      });
    }
  }
  if (options.name) {
    await ensureNameFree(engine.layout, options.name, existingLock?.env_id);
  }
  return { manifestPath, manifestDir, manifest, lockPath, existingLock };
}

/** The warm path: the lock matches the manifest and its environment exists — nothing to build. */
async function upToDate(engine: Engine, prepared: PreparedBuild, options: BuildOptions): Promise<BuildResult | undefined> {
  const { manifest, existingLock, lockPath } = prepared;
  if (!existingLock || options.force || lockDrift(manifest, existingLock).length > 0) return undefined;
  const meta = await readMetadata(engine.layout, existingLock.env_id).catch(() => undefined);
  if (!meta || !existsSync(envDir(engine.layout, meta.env_id))) return undefined;
  if (options.name && options.name !== meta.name) return withLock(engine, () => nameEnv(engine, meta, options.name!, lockPath, true));
  return result(meta, lockPath, true);
}

/**
 * The result of `build` when nothing needs building, else undefined — without loading any
 * plugin (the CLI answers a warm `build` from its start-up fast path with this).
 */
export async function buildIfUpToDate(engine: Engine, options: BuildOptions = {}): Promise<BuildResult | undefined> {
  return upToDate(engine, await prepareBuild(engine, options), options);
}

export async function build(engine: Engine, options: BuildOptions = {}): Promise<BuildResult> {
  const prepared = await prepareBuild(engine, options);
  const warm = await upToDate(engine, prepared, options);
  if (warm) return warm;
  const { manifest, lockPath } = prepared;

  // Only a real build needs image sources, package managers and backends.
  await engine.loadBuiltins();
  return withLock(engine, async () => {
    const { meta, lock } = await buildLocked(engine, prepared, options);
    await writeLockIfChanged(prepared, lock);
    const previousId = prepared.existingLock?.env_id;
    const previous = previousId && previousId !== meta.env_id ? await readMetadata(engine.layout, previousId).catch(() => undefined) : undefined;
    // A changed manifest makes a new env: the name the old one carried follows the manifest.
    const moved = !options.name && previous?.name && !meta.name ? previous.name : undefined;
    if (moved) await writeMetadata(engine.layout, { ...previous!, name: undefined, updated_at: new Date().toISOString() });
    const name = options.name ?? moved;
    const built = name && name !== meta.name ? await nameEnv(engine, meta, name, lockPath, false) : result(meta, lockPath, false);
    const extensions = await announceBuilt(engine, manifest, built.env_id);
    return {
      ...built,
      ...(previous ? { previous_env: { env_id: previous.env_id, short_id: previous.short_id, name_moved: moved ?? null } } : {}),
      ...(Object.keys(extensions).length ? { extensions } : {}),
    };
  });
}

export interface LockedBuild {
  meta: EnvMetadata;
  lock: LockFile;
  /** True when this build created the environment (false: one with the same env_id existed). */
  created: boolean;
  /** True when an environment with the same env_id existed and was replaced (`replace`). */
  replaced: boolean;
}

export async function writeLockIfChanged(prepared: PreparedBuild, lock: LockFile): Promise<void> {
  if (!prepared.existingLock || serializeLock(prepared.existingLock) !== serializeLock(lock)) await writeLock(prepared.lockPath, lock);
}

/**
 * Tells the plugins (`built` hook) that an environment was built, under the store lock:
 * app-export puts its [gui] apps on the host. A plugin failing here is a warning, since
 * the environment is built. Returns what the taps reported doing, by plugin name.
 */
export async function announceBuilt(engine: Engine, manifest: NormalizedManifest, envId: string): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  try {
    const meta = await readMetadata(engine.layout, envId);
    if (!meta) return results;
    await engine.kernel.hooks.built.promise({ env: handleFor(engine.layout, meta), manifest, host: { env: engine.env, launcher: engine.launcher }, results });
  } catch (err) {
    engine.kernel.progress({ kind: 'log', level: 'warn', message: `after the build of ${envId.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}` });
  }
  return results;
}

/**
 * The build itself, for a caller that holds the store lock (build, rebuild). The lock
 * file, the name and app exports are left to the caller, so rebuild can do them once its
 * swap is done.
 */
export async function buildLocked(engine: Engine, prepared: PreparedBuild, options: BuildOptions, how: { replace?: boolean } = {}): Promise<LockedBuild> {
  try {
    return await buildOnce(engine, prepared, options, how, true);
  } catch (err) {
    if (!(err instanceof BaseChanged)) throw err;
    // Its walk found the cached base changed: nothing was committed. The resolver checks it
    // in full this time (re-digested; a modified image is reported and fetched again).
    return buildOnce(engine, prepared, options, how, false);
  }
}

/** A cached base's deferred re-verification found it changed (never leaves buildLocked). */
class BaseChanged extends Error {}

const CORE_LOCK_TAP = `${CORE_PLUGIN_NAME}:lock`;

/**
 * One attempt. `defer`: the resolver may return a cached base while its re-verification
 * (a stat walk of the whole rootfs) still runs, so the build goes on meanwhile; it is waited
 * for before anything uses the rootfs — the install, a plugin's lock taps — and before
 * anything outside the staging dir changes. A base found changed aborts the attempt (BaseChanged).
 */
async function buildOnce(engine: Engine, prepared: PreparedBuild, options: BuildOptions, how: { replace?: boolean }, defer: boolean): Promise<LockedBuild> {
  const { manifestPath, manifestDir, manifest, existingLock } = prepared;
  // Before anything is fetched or created: a backend that cannot do what the manifest asks.
  checkBackendCapabilities(engine.kernel, manifest);
  const base = await resolveBase(engine, manifest, manifestDir, options, existingLock, defer);
  const verified = async (): Promise<void> => {
    if (base.verifying && !(await base.verifying)) throw new BaseChanged();
  };
  const staging = join(engine.layout.staging, `build-${Date.now()}-${randomHex(4)}`);
  const paths = envPaths(staging);
  // The staging dir's undo goes in with the entry itself: one durable write, not two.
  const wal = await WalTransaction.begin(engine.layout, 'build', [{ kind: 'remove', path: WalTransaction.rel(engine.layout, staging) }]);
  crashPoint('build:staging');
  await Promise.all([paths.upper, paths.work, paths.runtime].map((d) => mkdir(d, { recursive: true })));
  let freshLayer: string | undefined;
  try {
    const draft = draftLock(manifest, base, []);
    let handle: EnvHandle = {
      envId: 'staging', shortId: 'staging', paths, lowerDirs: [base.rootfs], manifest, lock: draft, backend: manifest.runtime.backend, manifestDir,
    };
    // A backend that cannot mount lower layers keeps the install in the upper dir, as before.
    const layered = engine.kernel.backendInfo(manifest.runtime.backend.toLowerCase())?.capabilities.lowerLayers === true;
    const request = layered ? packagesRequest(manifest, base, options, installMapping(await engine.kernel.backendOwnerMapping(manifest.runtime.backend)), existingLock) : undefined;
    const reused = request && !options.force ? await findPackagesLayer(engine.layout, request) : undefined;
    let packages: ResolvedPackage[];
    let packagesLayer: string | undefined;
    if (reused) {
      // Same base, packages and id mapping as a layer this store already has: nothing to install.
      packages = reused.packages.filter((p) => manifest.system.packages.includes(p.name));
      packagesLayer = reused.name;
      handle = { ...handle, lowerDirs: [packagesLayerRoot(engine.layout, reused.name), base.rootfs] };
      await prepareRoot(engine, handle);
    } else {
      await verified();
      packages = await installPackages(engine, handle, base, manifest, options, existingLock);
      if (request) {
        packagesLayer = freshLayer = await keepPackagesLayer(engine, wal, staging, paths, request, packages);
        handle = { ...handle, lowerDirs: [packagesLayerRoot(engine.layout, freshLayer), base.rootfs] };
      }
    }
    // A plugin's lock tap may read the rootfs; the kernel's own (the tap contract) does not.
    if (engine.kernel.tapNames('lock').some((n) => n !== CORE_LOCK_TAP)) await verified();
    let lock = draftLock(manifest, base, packages);
    lock = await engine.kernel.hooks.lock.promise(lock, { manifest, base, env: { ...handle, lock } });
    lock = { ...lock, ...computeEnvId(lock) };

    let meta = await readMetadata(engine.layout, lock.env_id).catch(() => undefined);
    const target = envDir(engine.layout, lock.env_id);
    const exists = meta !== undefined && existsSync(target);
    // rebuild with an unchanged identity: the fresh tree replaces the old one, which is put back on rollback.
    const replaced = exists && how.replace === true;
    const old = replaced ? join(engine.layout.staging, `replaced-${lock.env_id}-${Date.now()}`) : undefined;
    // Nothing outside the staging dir has changed yet.
    await verified();
    if (exists && !replaced) {
      await removeTree(staging);
      // The env it would have made exists (on its own packages layer): the new layer is nobody's.
      if (freshLayer) await removeEnvTree(engine.kernel, handle, packagesLayerDir(engine.layout, freshLayer));
    } else {
      if (old) {
        await wal.record({ kind: 'rename', from: wal.rel(old), to: wal.rel(target) });
        await rename(target, old);
        crashPoint('build:old-moved');
      }
      await wal.record({ kind: 'remove', path: wal.rel(target) }, { kind: 'metadata', env_id: lock.env_id, content: await readMetadataText(engine.layout, lock.env_id) });
      crashPoint('build:before-rename');
      await mkdir(engine.layout.envs, { recursive: true });
      await removeTree(target);
      await rename(staging, target);
      await fsyncDir(engine.layout.envs);
      crashPoint('build:after-rename');
      const now = new Date().toISOString();
      meta = {
        env_id: lock.env_id, short_id: lock.short_id, state: 'built', backend: lock.backend,
        manifest, lock, manifest_path: manifestPath, manifest_dir: manifestDir,
        base: { reference: base.reference, digest: base.digest, rootfs: base.rootfs },
        ...(packagesLayer ? { packages_layer: packagesLayer } : {}),
        layers: [], snapshots: [], created_at: now, updated_at: now,
      } satisfies EnvMetadata;
      await writeMetadata(engine.layout, meta);
      crashPoint('build:after-metadata');
      if (old) {
        await wal.commitPoint([{ kind: 'remove', path: wal.rel(old) }]);
        await removeTree(old);
      }
    }
    await wal.finish();
    return { meta: meta!, lock, created: !exists, replaced };
  } catch (err) {
    await wal.abort();
    throw err;
  }
}

export async function nameEnv(engine: Engine, meta: EnvMetadata, name: string, lockPath: string, cached: boolean): Promise<BuildResult> {
  await ensureNameFree(engine.layout, name, meta.env_id);
  const updated = { ...meta, name, updated_at: new Date().toISOString() };
  await writeMetadata(engine.layout, updated);
  return result(updated, lockPath, cached);
}

export function result(meta: EnvMetadata, lockPath: string, cached: boolean): BuildResult {
  return {
    env_id: meta.env_id, short_id: meta.short_id, name: meta.name, state: meta.state, backend: meta.backend,
    base: { image: meta.base.reference, digest: meta.base.digest },
    packages: meta.lock.resolved_packages, lock_path: lockPath, cached,
  };
}


function imageNotPinned(image: string, resolver: string): ManifestError {
  return new ManifestError('KP_IMAGE_NOT_PINNED', `base image "${image}" is not pinned (resolver ${resolver} did not verify it against a digest named by the reference)`, {
    hint: 'run `karapace pin` to pin it, or build with --locked against a lock that records its digest',
  });
}

async function resolveBase(engine: Engine, manifest: NormalizedManifest, manifestDir: string, options: BuildOptions, lock: LockFile | undefined, defer: boolean): Promise<ResolvedBase> {
  const pinnedDigest = options.locked ? lock?.base.digest : undefined;
  const requirePinned = options.requirePinnedImage === true && !pinnedDigest;
  const base = await engine.kernel.hooks.resolve.promise({
    image: manifest.base.image,
    expectedDigest: pinnedDigest,
    offline: options.offline === true,
    imagesDir: engine.layout.images,
    stagingDir: engine.layout.staging,
    manifestDir,
    ...(requirePinned ? { requirePinned } : {}),
    ...(defer ? { deferVerification: true } : {}),
  });
  if (base && requirePinned && base.pinned !== true) throw imageNotPinned(manifest.base.image, base.resolver);
  if (!base) {
    const asked = engine.kernel.tapNames('resolve');
    throw new RuntimeFailure('KP_IMAGE_UNRESOLVED', `no image source can resolve "${manifest.base.image}" (asked: ${asked.join(', ') || 'none'})`, {
      hint: 'use an alias (e.g. debian/bookworm), an http(s) URL, a local path, a registry reference — or mock:<name> with the mock backend',
      data: { image: manifest.base.image, asked },
    });
  }
  if (pinnedDigest && base.digest !== pinnedDigest) {
    throw new RuntimeFailure('KP_IMAGE_DIGEST_MISMATCH', `base image "${manifest.base.image}" has digest ${base.digest}, the lock pins ${pinnedDigest}`, {
      hint: 'the image changed upstream; pin a reference that still serves the locked image, or rebuild without --locked to update the lock',
    });
  }
  return base;
}

/** What a build's packages layer is looked up by; undefined when the manifest installs nothing. */
function packagesRequest(manifest: NormalizedManifest, base: ResolvedBase, options: BuildOptions, mapping: string, lock?: LockFile): PackagesLayerRequest | undefined {
  if (manifest.system.packages.length === 0) return undefined;
  const pinned = options.locked && lock ? Object.fromEntries(lock.resolved_packages.map((p) => [p.name, p.version])) : undefined;
  return {
    base_digest: base.digest, package_manager: base.packageManager, backend: manifest.runtime.backend, mapping,
    requested: [...manifest.system.packages].sort(), ...(pinned ? { pinned } : {}),
  };
}

/**
 * The install's upper dir becomes a packages layer (renamed, not copied) and the env starts
 * with an empty upper dir: its diff and commits see only what the user changes.
 */
async function keepPackagesLayer(
  engine: Engine, wal: WalTransaction, staging: string, paths: EnvHandle['paths'], request: PackagesLayerRequest, packages: ResolvedPackage[],
): Promise<string> {
  const fields = {
    version: PACKAGES_LAYER_VERSION, origin: 'build' as const, base_digest: request.base_digest, package_manager: request.package_manager,
    backend: request.backend, mapping: request.mapping, requested: request.requested, packages,
  };
  const name = newPackagesLayerName(fields, randomHex(4));
  const tmp = join(staging, 'packages-layer');
  await mkdir(tmp);
  await rename(paths.upper, join(tmp, 'root'));
  // Its files become content objects, on disk once, when the host user owns them all (root, or
  // single-id mapping); under full mapping they are subordinate ids' and stay as they are.
  const owned = process.getuid?.() === 0 || (await engine.kernel.backendOwnerMapping(request.backend)) === 'single';
  const objects = owned ? await linkLayerToObjects(engine.layout, join(tmp, 'root')) : undefined;
  if (objects) engine.logger.debug(`packages layer ${name}: ${objects.linked} files share their object's inode, ${objects.copies} are copies`);
  const record: PackagesLayerRecord = { ...fields, name, ...(objects ? { tree: objects.tree, tar: objects.tar } : {}), created_at: new Date().toISOString() };
  await writeFileAtomic(join(tmp, 'layer.json'), serializePackagesLayer(record));
  const target = packagesLayerDir(engine.layout, name);
  await wal.record({ kind: 'remove', path: wal.rel(target) });
  await mkdir(packagesDir(engine.layout), { recursive: true });
  await rename(tmp, target);
  await fsyncDir(packagesDir(engine.layout));
  crashPoint('build:packages-layer');
  await mkdir(paths.upper);
  return name;
}

/** No install: the backend is still asked to prepare the root once (it checks what it can). */
async function prepareRoot(engine: Engine, handle: EnvHandle): Promise<void> {
  const plan = await mountEnv(engine.kernel, handle, 'install');
  await plan.release?.();
}

async function installPackages(
  engine: Engine, handle: EnvHandle, base: ResolvedBase, manifest: NormalizedManifest, options: BuildOptions, lock?: LockFile,
): Promise<ResolvedPackage[]> {
  if (manifest.system.packages.length === 0) {
    await prepareRoot(engine, handle);
    return [];
  }
  const pinned = options.locked && lock ? Object.fromEntries(lock.resolved_packages.map((p) => [p.name, p.version])) : undefined;
  const installed = await engine.kernel.hooks.install.promise({
    packageManager: base.packageManager,
    env: handle,
    packages: manifest.system.packages,
    pinned,
    offline: options.offline === true,
    run: (argv, runOptions) =>
      runInEnv(engine.kernel, handle, 'install', {
        argv, user: 'root', stdio: runOptions?.capture ? 'capture' : 'inherit', tty: false,
        ...(runOptions?.onOutput ? { onOutput: runOptions.onOutput } : {}),
        environment: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...(runOptions?.environment ?? {}) },
        network: options.offline !== true, cwd: '/',
      }),
  });
  if (!installed) {
    const asked = engine.kernel.tapNames('install');
    throw new RuntimeFailure('KP_PM_UNSUPPORTED', `no adapter installs packages with "${base.packageManager}" (asked: ${asked.join(', ') || 'none'})`, {
      hint: 'use a base image whose package manager is supported (apt, dnf, zypper, pacman, apk)',
    });
  }
  const missing = manifest.system.packages.filter((p) => !installed.packages.some((r) => r.name === p));
  if (missing.length) {
    throw new RuntimeFailure('KP_PM_MISSING_VERSIONS', `the package manager did not report versions for: ${missing.join(', ')}`, {
      hint: 'check that the package names exist in the base image\'s repositories',
    });
  }
  return installed.packages.filter((p) => manifest.system.packages.includes(p.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
}

function draftLock(manifest: NormalizedManifest, base: ResolvedBase, packages: ResolvedPackage[]): LockFile {
  return {
    lock_version: 1,
    env_id: '',
    short_id: '',
    base: { image: manifest.base.image, source: base.source, digest: base.digest, package_manager: base.packageManager },
    backend: manifest.runtime.backend,
    hardware: { ...manifest.hardware },
    network_isolation: manifest.runtime.network_isolation,
    mounts: manifest.mounts,
    resource_limits: manifest.runtime.resource_limits,
    ...(manifest.runtime.home ? { home: manifest.runtime.home } : {}),
    apps: manifest.gui.apps,
    resolved_packages: packages,
  };
}
