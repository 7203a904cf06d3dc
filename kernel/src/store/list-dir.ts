import { readdir } from '../fs-async.js';

/** A directory's entries, sorted; a missing directory is empty (stores are created lazily). */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
