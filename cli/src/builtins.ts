/**
 * The built-in plugins, with static loaders so the bundler includes them and they share
 * the CLI's copy of the kernel. `backends` lets exec/enter load only the one they need.
 */
import type { BuiltinPlugin } from '@karapace/kernel';
import { BACKEND_BUILTINS } from './backend-builtins.js';

export const CLI_BUILTINS: readonly BuiltinPlugin[] = [
  ...BACKEND_BUILTINS,
  { module: '@karapace/image-sources', load: () => import('@karapace/image-sources') },
  { module: '@karapace/remote-http', load: () => import('@karapace/remote-http') },
  { module: '@karapace/remote-oci', load: () => import('@karapace/remote-oci') },
  { module: '@karapace/app-export', load: () => import('@karapace/app-export') },
];
