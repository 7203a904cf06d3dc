/**
 * @karapace/runtime-oci — the `oci` backend: runs environments with crun, runc or youki
 * from a generated OCI bundle. Writes land in the environment's upper directory, the same
 * one the namespace backend uses, so commit, diff and restore do not care which ran it.
 */
import { defaultBackendOf, definePlugin, type BackendCapabilities } from '@karapace/kernel';
import { createOciBackend } from './backend.js';
import { destroyOciState, doctorChecks } from './doctor.js';
import { validateOptions, type OciOptions } from './options.js';

export { buildConfig, overlayMount, hostnameFor, splitDev, type BundleInput } from './bundle.js';
export { discoverRuntimes, selectRuntime, searchPath, type RuntimeBinary } from './discovery.js';
export { cgroupLayout, knownUnsupported, type CgroupLayout } from './host.js';
export { probeRuntime, doctorChecks, type ProbeResult } from './doctor.js';
export { ociDirs, containerId, liveContainers } from './containers.js';
export { createOciBackend, BACKEND_NAME } from './backend.js';
export type { OciOptions, RuntimeName } from './options.js';

const PLUGIN_NAME = 'runtime-oci';

/** What the generated OCI bundle expresses: binds, a network namespace, linux.resources, devices, terminal. */
export const OCI_CAPABILITIES: BackendCapabilities = Object.freeze({
  readOnlyRoot: true, mounts: true, networkIsolation: true, resourceLimits: true, devices: true, tty: true, lowerLayers: true,
});

export default definePlugin<OciOptions>({
  name: PLUGIN_NAME,
  validateOptions,
  apply(kernel, options) {
    const opts: OciOptions = { ...(options ?? {}) };
    kernel.registerBackend(Object.assign(createOciBackend(kernel, opts), { capabilities: OCI_CAPABILITIES }), PLUGIN_NAME);
    kernel.hooks.doctor.tapPromise(PLUGIN_NAME, async (report) => {
      report.checks.push(...(await doctorChecks(opts, defaultBackendOf(kernel.config) === 'oci')));
    });
    kernel.hooks.destroy.tapPromise(PLUGIN_NAME, destroyOciState);
  },
});
