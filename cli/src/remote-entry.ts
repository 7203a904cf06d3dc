/** Entry of the CommonJS fast-path bundle for push/pull (bundle/remote.cjs) loaded by karapace.cts. */
export { runRemoteFastPath as runFastPath } from './fast-remote.js';
export { useModuleImporter } from '@karapace/kernel';
