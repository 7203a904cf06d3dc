/** Where the native launcher lives: plugin option, $KARAPACE_SANDBOX, or the repo's native/build. */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure } from '@karapace/kernel';

const RELATIVE = 'native/build/karapace-sandbox';

/** native/build of the checkout this module runs from (plugin dist, or a CLI bundle). */
function findBundledLauncher(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, RELATIVE))) return join(dir, RELATIVE);
    if (dirname(dir) === dir) return join(here, '../../..', RELATIVE);
  }
}

export const BUNDLED_LAUNCHER = findBundledLauncher();

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
