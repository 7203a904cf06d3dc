/** Apart from run.ts so a backend can name the worker without loading the store code run.ts brings (runtime.ts). */
import { fileURLToPath } from 'node:url';

/**
 * Path of the worker script a backend runs inside the mapping (`node <this> JOB`). Next to
 * this module in kernel/dist, and next to the chunk in a CLI bundle (an entry point there).
 */
export function mappedWorkerPath(): string {
  return fileURLToPath(new URL('./mapped-worker.js', import.meta.url));
}
