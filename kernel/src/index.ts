/** @karapace/kernel — the public API for front ends and plugins. */
export * from './errors.js';
export { ERROR_CODES, type ErrorCode, type ErrorCodeInfo } from './errors-registry.js';
export * from './hash.js';
export * from './types.js';
export * from './kernel.js';
export * from './logger.js';
export * from './plugin.js';
export * from './canonical-json.js';
export * from './tree-digest.js';
export { findExecutable } from './find-executable.js';
export { loadAddonFile, nativeBinary, nativeBuildHint, nativeDirs, nativePackageDir, NATIVE_PLATFORM } from './native-addon.js';
export { forwardSignals, exitStatus, collectOutput, FORWARDED_SIGNALS } from './child-process.js';
export type * from './config/types.js';
export { DEFAULT_SECURITY } from './config/types.js';
export { loadConfig, defaultGlobalConfigDir } from './config/load.js';
export { mergeConfig } from './config/merge.js';
export * from './manifest/types.js';
export { parseManifest, readManifestFile, parseMountSpec, type ManifestProblem } from './manifest/parse.js';
export { suggest } from './manifest/did-you-mean.js';
export * from './lock/types.js';
export { computeEnvId, identityMaterial, SHORT_ID_LENGTH } from './lock/identity.js';
export { readLock, writeLock, parseLock, serializeLock, verifyLockIntegrity, LOCK_FILE_NAME } from './lock/file.js';
export { lockDrift, describeDrift, type Drift } from './lock/drift.js';
export * from './store/layout.js';
export { runningMark, markedRunning } from './store/running-index.js';
export { rowsSpan, rowBounds, rowAt, type RowsPage, type RowsSpan } from './store/env-rows.js';
export { indexRowsText } from './store/env-index.js';
export * from './store/atomic.js';
export * as fsAsync from './fs-async.js';
export * from './store/objects.js';
export * from './store/metadata.js';
export * from './store/version.js';
export { parseTree, serializeTree, treeContents, type TreeEntry, type TreeEntryType } from './store/tree.js';
export { ingestTar, NotCanonical, PACK_AFTER, type IngestOptions, type IngestResult } from './store/tree-ingest.js';
export { encodeIndex, encodeTrailer, listPacks, openPack, packEntry, packPath, packsDir, PACK_MAGIC, type Pack } from './store/packs.js';
export { treeTar, readTree } from './store/tree-tar.js';
export { treeTarThreaded, THREADED_TAR_MIN } from './store/tree-tar-thread.js';
export { storeTarAsTree, type StoredTree } from './store/tree-layer.js';
export { acquireStoreLock, hasNativeFlock, type StoreLockHandle } from './store/lock.js';
export * from './security/environment.js';
export { securityPolicy } from './security/policy.js';
export { invokingUser } from './security/user.js';
export { passwdWithUser, groupWithUser, writeIdentityFiles, type IdentityFiles, type PasswdOptions } from './security/passwd.js';
export { resolveMerged, readMergedFile, existsMerged } from './security/merged-root.js';
export { resolveMount, resolveMounts, type ResolvedMount } from './security/mounts.js';
export { checkResourceLimits } from './security/limits.js';
export { requestedDevices, missingDevicesWarning } from './security/devices.js';
export { integrationEnvironment, integrationSockets, dbusSocketPath, PROXY_VARIABLES, type HostSocket } from './security/integration.js';
export { freeSubidRange, subidFix } from './security/subids.js';
export { etcPlan, hostsContent, sudoersContent, type EtcPlan, type EtcFile, type EtcOptions } from './security/etc-files.js';
export { Engine, createEngine, BUILTIN_PLUGINS, type EngineOptions, type BuiltinPlugin } from './engine/engine.js';
export { corePlugin, CORE_PLUGIN_NAME, CORE_PACK_STAGE } from './engine/core-plugin.js';
export { build, buildIfUpToDate, manifestPathFrom, type BuildOptions, type BuildResult } from './engine/build.js';
export { rebuildEnv, type RebuildOptions, type RebuildResult } from './engine/rebuild.js';
export { withLock } from './engine/with-lock.js';
export { execInEnv, enterEnv, type ExecOptions } from './engine/exec.js';
export { findEnv, checkName, ensureNameFree, NAME_PATTERN } from './engine/find.js';
export { handleFor, envPaths } from './engine/handle.js';
export { runInEnv, mountEnv, type RunOptions } from './engine/run.js';
export * from './engine/lifecycle.js';
export * from './engine/list.js';
export { listFromIndex } from './engine/list-from-index.js';
export * from './layers/index.js';
export { commitEnv, listSnapshots, restoreEnv, pickSnapshot, type CommitResult, type SnapshotInfo, type RestoreResult } from './engine/snapshot.js';
export { removeSnapshot, type RemoveSnapshotResult } from './engine/snapshot-remove.js';
export { materializeLayerTars } from './engine/layer-tars.js';
export { diffEnv, type DiffResult } from './engine/diff.js';
export { freezeEnv, unfreezeEnv, archiveEnv, unarchiveEnv, assertNotRunning, assertWritable } from './engine/state.js';
export { gcStore, type GcReport } from './engine/gc.js';
export { verifyStore, type VerifyReport, type VerifyProblem } from './engine/verify.js';
export { migrateStore, type MigrateResult } from './engine/migrate.js';
export { recoverWal, WalTransaction, type WalStep, type WalEntry, type RecoveryReport } from './store/wal.js';
export { crashPoint } from './store/crash.js';
export { APP_NAME_HINT, appFileName } from './manifest/app-name.js';
export type { MappedOperation, MappedRequest, MappedResult, WorkerJob, WorkerReply } from './mapped/types.js';
export { mappedWorkerPath } from './mapped/run.js';
export { planBytes, type TreePlan } from './store/tree-plan.js';
export { pullBundle, fetchBundleManifest, type BlobStream, type PullSource, type PullOptions, type PullResult } from './engine/pull.js';
export {
  pullEnvironment, selectRemote, openRemoteClient, safeUrl, TOKEN_ENV,
  type PullableRemote, type PullEnvironmentOptions, type PullEnvironmentResult, type RemoteSelection,
} from './engine/remote.js';
export { pinManifest, isPinned, rewriteBaseImage, type PinOptions, type PinResult } from './engine/pin.js';
export { runDoctor, defaultBackendOf, type DoctorResult } from './engine/doctor.js';
export { formatFix, install as distroInstall, everywhere as distroEverywhere, type DistroFix } from './doctor/fixes.js';
export {
  pushEnvironment, type PushableRemote, type PushBlob, type PushBytes, type PushOptions, type PushResult, type PushSink, type PushTarget,
} from './engine/push.js';
export {
  parseRemoteReference, isValidRemoteName, isValidRemoteTag, badReference, REMOTE_NAME_PATTERN, REMOTE_TAG_PATTERN,
} from './engine/remote-reference.js';
export {
  prepareBundle, planBundle, openSource, sourceChunks, sourceSha256, imageKeyOf,
  type PreparedBundle, type BundleSource, type PrepareOptions, type BundlePlan,
} from './bundle/create.js';
export { transferProgress, formatBytes, type TransferProgress } from './engine/transfer-progress.js';
export {
  parseBundleManifest, bundleBlobs, manifestFromLock, integrityError, BUNDLE_FORMAT, BUNDLE_FORMAT_PACKAGES, BUNDLE_FORMAT_OBJECTS, MAX_MANIFEST_BYTES, IMAGE_KEY_PATTERN,
  type BundleManifest, type BundleBlobRef, type BundleTarRef, type BundleLayer, type PortableMetadata, type VerifiedBundleEnv,
} from './bundle/format.js';
export { TreeFlusher, syncFilesystem } from './bundle/durable.js';
export { claimStaging, sweepAbandonedStaging, type StagingClaim } from './store/staging-claim.js';
export { KERNEL_API, KERNEL_API_VERSION, TAP_STAGES, type KernelApi } from './api.js';
export { BACKEND_CAPABILITIES, type BackendCapability, type BackendCapabilities } from './capabilities.js';
export { satisfiesRange } from './api-range.js';
export { packagesLayerRoot, readPackagesLayer, type PackagesLayerRecord } from './store/packages-layer.js';
