/** Entry of the CommonJS exec bundle (bundle/exec.cjs) loaded by karapace.cts. */
export { parseFastExec, runFastExec } from './fast-exec.js';
export { useModuleImporter } from '@karapace/kernel';
