/** The argv that runs this very karapace, written into exported desktop entries and wrappers. */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * node + the script that was started (cli/dist/bin.js, or the bundled karapace.cjs), so
 * exported entries keep working without karapace on PATH.
 */
export function selfLauncher(): string[] {
  const main = process.argv[1];
  if (main && isAbsolute(main) && existsSync(main)) return [process.execPath, main];
  return [process.execPath, fileURLToPath(new URL('./bin.js', import.meta.url))];
}
