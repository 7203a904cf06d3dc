/**
 * @karapace/runtime-mock — a deterministic backend and synthetic image source for tests
 * and demos. See README.md for exactly what it does and does not do.
 */
import { definePlugin } from '@karapace/kernel';
import { mockBackend } from './backend.js';
import { installMockPackages } from './package-manager.js';
import { resolveMockImage } from './synthetic-image.js';

export { mockBackend } from './backend.js';
export { mockVersion, MOCK_PACKAGE_DB } from './package-manager.js';
export { isMockImage, syntheticFiles, MOCK_SCHEME } from './synthetic-image.js';

const PLUGIN_NAME = 'runtime-mock';

export default definePlugin({
  name: PLUGIN_NAME,
  apply(kernel) {
    kernel.registerBackend(mockBackend, PLUGIN_NAME);
    kernel.hooks.resolve.tapPromise(PLUGIN_NAME, resolveMockImage);
    kernel.hooks.install.tapPromise(PLUGIN_NAME, installMockPackages);
  },
});
