import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The absolute path of an executable found on `path` (a PATH string), then in `extraDirs`
 * (e.g. /usr/sbin, often not on a user's PATH). In-process: a doctor check or a backend
 * never hangs on a child process just to find a tool.
 */
export function findExecutable(name: string, path: string = process.env.PATH ?? '', extraDirs: readonly string[] = []): string | undefined {
  for (const dir of [...path.split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
