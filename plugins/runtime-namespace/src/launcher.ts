/** Where the native launcher lives: plugin option, $KARAPACE_SANDBOX, or the repo's native/build. */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure } from '@karapace/kernel';

export const BUNDLED_LAUNCHER = fileURLToPath(new URL('../../../native/build/karapace-sandbox', import.meta.url));

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
      hint: 'build it with `npm run build:native` (needs gcc and make), or point $KARAPACE_SANDBOX at a built karapace-sandbox',
      data: { path },
    });
  }
}
