/** Entry of the CommonJS fast-path bundle bundle/list.cjs, loaded by karapace.cts before exec.cjs. */
export { runFastPath } from './fast-list.js';
export { useModuleImporter } from '@karapace/kernel';
