/**
 * The built-in plugins, with static loaders so the bundler includes them and they share
 * the CLI's copy of the kernel. `backends` lets exec/enter load only the one they need.
 */
import type { BuiltinPlugin } from '@karapace/kernel';

export const CLI_BUILTINS: readonly BuiltinPlugin[] = [
  { module: '@karapace/runtime-mock', backends: ['mock'], load: () => import('@karapace/runtime-mock') },
  { module: '@karapace/image-sources', load: () => import('@karapace/image-sources') },
  { module: '@karapace/runtime-namespace', backends: ['namespace'], load: () => import('@karapace/runtime-namespace') },
  { module: '@karapace/runtime-oci', backends: ['oci'], load: () => import('@karapace/runtime-oci') },
  { module: '@karapace/remote-http', load: () => import('@karapace/remote-http') },
  { module: '@karapace/remote-oci', load: () => import('@karapace/remote-oci') },
];
