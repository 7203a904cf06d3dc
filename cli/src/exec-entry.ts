/** Entry of the CommonJS fast-path bundle (bundle/exec.cjs) loaded by karapace.cts. */
export { runFastPath } from './fast-exec.js';
export { useModuleImporter } from '@karapace/kernel';
