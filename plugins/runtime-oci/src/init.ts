/**
 * The container's pid 1: a static build of the launcher's --init mode (native/PROTOCOL.md),
 * bound read-only onto the bundle's /dev tmpfs so nothing lands in the upper directory. It
 * forwards signals to the command, reaps orphans and exits with the command's status.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, nativeBinary, nativeBuildHint, nativeDirs } from '@karapace/kernel';

const INIT = 'karapace-init';

/** Where init appears inside the container: on the /dev tmpfs the bundle mounts. */
export const INIT_IN_CONTAINER = '/dev/.karapace-init';

/** The init in @karapace/native (a from-source build, else the prebuilt one for this machine). */
function findBundledInit(): string {
  return nativeBinary(INIT) ?? join(nativeDirs()[0] ?? 'native/build', INIT);
}

let bundled: string | undefined;

/** The plugin's `init` option (a path), else $KARAPACE_INIT, else @karapace/native's karapace-init. */
export function initPath(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.KARAPACE_INIT ?? (bundled ??= findBundledInit());
}

export function requireInit(path: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new RuntimeFailure('KP_OCI_INIT_MISSING', `the container init ${path} is missing or not executable`, {
      hint: `${nativeBuildHint(INIT)}, point $KARAPACE_INIT at a built karapace-init, or set "init": false in the "@karapace/runtime-oci" config section to run the command as pid 1`,
      data: { path },
    });
  }
}
