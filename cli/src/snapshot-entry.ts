/** Entry of the CommonJS fast-path bundle for commit/restore (bundle/snapshot.cjs) loaded by karapace.cts. */
export { runSnapshotFastPath as runFastPath } from './fast-snapshot.js';
export { useModuleImporter } from '@karapace/kernel';
