/**
 * The kernel as `exec` and `enter` use it: the engine, exec/enter, and what the runtime
 * backends (runtime-namespace, runtime-mock, runtime-oci) import. The exec bundle
 * (cli exec.cjs, scripts/bundle.mjs) resolves `@karapace/kernel` to this file, so its start-up
 * loads and initialises these modules only, not the build, layer, tar, store-write, remote
 * and bundle code the full API (index.ts) brings; a name the exec bundle imports that is not
 * here fails that bundle's build. Everything here is also in index.ts, from the same modules.
 * The warm build and `list`, which that bundle also serves, load theirs on first use.
 */
import type { BuildOptions, BuildResult } from './engine/build.js';
import type { Engine } from './engine/engine.js';
import type { EnvList } from './engine/list.js';
import type { RowsPage } from './store/env-rows.js';

export * from './errors.js';
export * from './types.js';
export * from './kernel.js';
export * from './logger.js';
export * from './plugin.js';
export { hashBytes } from './hash.js';
export { digestTree } from './tree-digest.js';
export { findExecutable } from './find-executable.js';
export { loadAddonFile, nativeBinary, nativeBuildHint, nativeDirs, nativePackageDir, NATIVE_PLATFORM } from './native-addon.js';
export { forwardSignals, exitStatus, collectOutput, FORWARDED_SIGNALS } from './child-process.js';
export { BACKEND_CAPABILITIES } from './capabilities.js';
export * from './store/layout.js';
export { runningMark } from './store/running-index.js';
export { writeFileAtomic } from './store/atomic.js';
export * from './security/environment.js';
export { securityPolicy } from './security/policy.js';
export { invokingUser } from './security/user.js';
export { passwdWithUser, groupWithUser, writeIdentityFiles } from './security/passwd.js';
export { resolveMounts } from './security/mounts.js';
export { checkResourceLimits } from './security/limits.js';
export { requestedDevices, missingDevicesWarning } from './security/devices.js';
export { integrationEnvironment, integrationSockets } from './security/integration.js';
export { subidFix } from './security/subids.js';
export { etcPlan } from './security/etc-files.js';
export { Engine, createEngine, BUILTIN_PLUGINS } from './engine/engine.js';
export { CORE_PLUGIN_NAME } from './engine/core-plugin.js';
export { execInEnv, enterEnv } from './engine/exec.js';
export { findEnv } from './engine/find.js';
export { handleFor } from './engine/handle.js';
export { runInEnv, mountEnv } from './engine/run.js';
export { defaultBackendOf } from './engine/default-backend.js';
export { formatFix, install as distroInstall } from './doctor/fixes.js';
export { mappedWorkerPath } from './mapped/worker-path.js';
export { planBytes, type TreePlan } from './store/tree-plan.js';

/** engine/build.ts's, loaded on first use (a warm build from the exec bundle). */
export async function buildIfUpToDate(engine: Engine, options: BuildOptions = {}): Promise<BuildResult | undefined> {
  return (await import('./engine/build.js')).buildIfUpToDate(engine, options);
}

export type { EnvSummary, EnvList } from './engine/list.js';
export type { RowsPage } from './store/env-rows.js';

/** engine/list.ts's, loaded on first use (`list` from the exec bundle, when list.cjs hands it over). */
export async function listEnvs(engine: Engine, page?: RowsPage): Promise<EnvList> {
  return (await import('./engine/list.js')).listEnvs(engine, page);
}
