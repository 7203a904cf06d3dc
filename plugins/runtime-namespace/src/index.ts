/**
 * @karapace/runtime-namespace — the `namespace` backend: rootless, daemonless environments
 * through user namespaces and overlayfs, driven by the native karapace-sandbox launcher.
 *
 * This module is imported on every karapace command: it only registers taps; the backend
 * and doctor modules load when a hook actually fires.
 */
import { definePlugin, type Backend, type BackendCapabilities, type Kernel } from '@karapace/kernel';
import { validateOptions, type NamespaceOptions } from './options.js';

export type { NamespaceOptions } from './options.js';
export { armExecPlan, disarmExecPlan, FRONT_DOOR_PREFIX } from './exec-plan.js';

const PLUGIN_NAME = 'runtime-namespace';

/** Binds, an empty network namespace, cgroup v2 limits, device binds, a pty. */
export const NAMESPACE_CAPABILITIES: BackendCapabilities = Object.freeze({
  readOnlyRoot: true, mounts: true, networkIsolation: true, resourceLimits: true, devices: true, tty: true, envHome: true, lowerLayers: true,
});

function lazyBackend(kernel: Kernel, options: NamespaceOptions): Backend {
  let loaded: Promise<Backend> | undefined;
  const get = () => (loaded ??= import('./backend.js').then((m) => m.createNamespaceBackend(kernel, options)));
  return {
    name: 'namespace',
    capabilities: NAMESPACE_CAPABILITIES,
    // What the backend it loads declares: each launcher's pid record is followed by a mark.
    marksRunning: true,
    mount: async (request) => (await get()).mount(request),
    spawn: async (request) => (await get()).spawn(request),
    stop: async (env, timeoutMs) => (await get()).stop!(env, timeoutMs),
    status: async (env) => (await get()).status!(env),
    statusAll: async (envs) => (await get()).statusAll!(envs),
    ownerMapping: async () => (await get()).ownerMapping!(),
  };
}

export default definePlugin<NamespaceOptions>({
  name: PLUGIN_NAME,
  validateOptions,
  apply(kernel, options) {
    kernel.registerBackend(lazyBackend(kernel, options ?? {}), PLUGIN_NAME);
    // Files left under subordinate ids by full id mapping go back to the user before destroy.
    kernel.hooks.destroy.tapPromise(PLUGIN_NAME, async (env) => {
      if (env.backend !== 'namespace') return;
      const { reclaimEnvDir } = await import('./reclaim.js');
      reclaimEnvDir(env, options ?? {});
    });
    // Store work on files under subordinate ids (commit, restore, diff) runs inside the env's mapping.
    kernel.hooks.mapped.tapPromise(PLUGIN_NAME, async (request) => {
      if (request.env.backend !== 'namespace') return undefined;
      const { runMapped } = await import('./mapped.js');
      return runMapped(request, options ?? {});
    });
    // Owned copies of base images (full id mapping) whose image gc removed go too.
    kernel.hooks.gc.tapPromise(PLUGIN_NAME, async (context) => {
      const { collectOwnedBases } = await import('./base-owners.js');
      const { launcherPath } = await import('./launcher.js');
      collectOwnedBases(kernel.storeRoot, launcherPath(options?.launcher), context);
    });
    kernel.hooks.doctor.tapPromise(PLUGIN_NAME, async (report) => {
      const { namespaceDoctor } = await import('./doctor.js');
      await namespaceDoctor(kernel, options ?? {}, report);
    });
  },
});
