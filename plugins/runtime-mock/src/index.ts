/**
 * @karapace/runtime-mock — a deterministic backend and synthetic image source for tests
 * and demos. See README.md for exactly what it does and does not do.
 */
import { BACKEND_CAPABILITIES, definePlugin, type BackendCapabilities } from '@karapace/kernel';
import { createMockBackend } from './backend.js';
import { installMockPackages } from './package-manager.js';
import { resolveMockImage } from './synthetic-image.js';

export { createMockBackend } from './backend.js';
export { mockVersion, MOCK_PACKAGE_DB } from './package-manager.js';
export { isMockImage, syntheticFiles, MOCK_SCHEME } from './synthetic-image.js';

const PLUGIN_NAME = 'runtime-mock';

/**
 * The mock backend isolates nothing: it runs commands on the host with their stdio, so it
 * declares only `tty`. Tests of identities and locks that need a manifest asking for more
 * may make it claim capabilities (`"@karapace/runtime-mock": { "claim": ["mounts"] }`);
 * it still enforces none of them.
 */
export interface MockOptions {
  claim?: string[];
}

export default definePlugin<MockOptions>({
  name: PLUGIN_NAME,
  validateOptions(options) {
    const claim = (options as MockOptions | undefined)?.claim;
    if (claim === undefined) return undefined;
    const unknown = Array.isArray(claim) ? claim.filter((c) => !(BACKEND_CAPABILITIES as readonly string[]).includes(c)) : [claim];
    return unknown.length ? `"claim" lists capabilities (${BACKEND_CAPABILITIES.join(', ')}); unknown: ${unknown.join(', ')}` : undefined;
  },
  apply(kernel, options) {
    const claimed = Object.fromEntries((options?.claim ?? []).map((c) => [c, true]));
    const capabilities: BackendCapabilities = Object.freeze({ tty: true, ...claimed });
    kernel.registerBackend({ ...createMockBackend((env) => kernel.markRunning(env)), capabilities }, PLUGIN_NAME);
    kernel.hooks.resolve.tapPromise(PLUGIN_NAME, resolveMockImage);
    kernel.hooks.install.tapPromise(PLUGIN_NAME, installMockPackages);
  },
});
