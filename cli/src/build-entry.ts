/** Entry of the CommonJS fast-path bundle for builds with work to do (bundle/build.cjs) loaded by karapace.cts. */
export { runBuildFastPath as runFastPath } from './fast-build.js';
export { useModuleImporter } from '@karapace/kernel';
