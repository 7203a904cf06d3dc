/**
 * The container's pid 1: a static build of the launcher's --init mode (native/PROTOCOL.md),
 * bound read-only onto the bundle's /dev tmpfs so nothing lands in the upper directory. It
 * forwards signals to the command, reaps orphans and exits with the command's status.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure } from '@karapace/kernel';

const RELATIVE = 'native/build/karapace-init';

/** Where init appears inside the container: on the /dev tmpfs the bundle mounts. */
export const INIT_IN_CONTAINER = '/dev/.karapace-init';

/** native/build of the checkout this module runs from (plugin dist, or a CLI bundle). */
function findBundledInit(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, RELATIVE))) return join(dir, RELATIVE);
    if (dirname(dir) === dir) return join(here, '../../..', RELATIVE);
  }
}

let bundled: string | undefined;

/** The plugin's `init` option (a path), else $KARAPACE_INIT, else native/build/karapace-init. */
export function initPath(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.KARAPACE_INIT ?? (bundled ??= findBundledInit());
}

export function requireInit(path: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new RuntimeFailure('KP_OCI_INIT_MISSING', `the container init ${path} is missing or not executable`, {
      hint: 'build it with `npm run build:native` (needs gcc, make and a static libc: libc6-dev), point $KARAPACE_INIT at a built karapace-init, or set "init": false in the "@karapace/runtime-oci" config section to run the command as pid 1',
      data: { path },
    });
  }
}
