/**
 * The built-in backends, the only plugins `exec`/`enter` may need. Apart from the other
 * built-ins so the exec bundle includes nothing else.
 */
import type { BuiltinPlugin } from '@karapace/kernel';

export const BACKEND_BUILTINS: readonly BuiltinPlugin[] = [
  { module: '@karapace/runtime-mock', backends: ['mock'], load: () => import('@karapace/runtime-mock') },
  { module: '@karapace/runtime-namespace', backends: ['namespace'], load: () => import('@karapace/runtime-namespace') },
  { module: '@karapace/runtime-oci', backends: ['oci'], load: () => import('@karapace/runtime-oci') },
];
