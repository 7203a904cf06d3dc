/** Where the native launcher lives: plugin option, $KARAPACE_SANDBOX, or the @karapace/native package. */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, nativeBinary, nativeBuildHint, nativeDirs } from '@karapace/kernel';

const LAUNCHER = 'karapace-sandbox';
const HOST_EXEC = 'karapace-host-exec';

/** The launcher in @karapace/native (a from-source build, else the prebuilt one for this machine). */
export const BUNDLED_LAUNCHER = nativeBinary(LAUNCHER) ?? join(nativeDirs()[0] ?? 'native/build', LAUNCHER);

export function launcherPath(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.KARAPACE_SANDBOX ?? BUNDLED_LAUNCHER;
}

/** Throws a RuntimeFailure naming the fix when the launcher is missing or not executable. */
export function requireLauncher(path: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new RuntimeFailure('KP_NS_LAUNCHER_MISSING', `the sandbox launcher ${path} is missing or not executable`, {
      hint: `${nativeBuildHint(LAUNCHER)}, or point $KARAPACE_SANDBOX at a built karapace-sandbox`,
      data: { path },
    });
  }
}

/** karapace-host-exec, the client bound into sandboxes whose policy allows host commands. */
export function hostExecClient(): string {
  const path = nativeBinary(HOST_EXEC) ?? join(nativeDirs()[0] ?? 'native/build', HOST_EXEC);
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new RuntimeFailure('KP_NS_LAUNCHER_MISSING', `${path} is missing or not executable (security.hostIntegration.hostExec needs it)`, {
      hint: `${nativeBuildHint(HOST_EXEC)}, or turn hostIntegration.hostExec off`,
      data: { path },
    });
  }
}
