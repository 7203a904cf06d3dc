/** The raw stored text of an environment's metadata, for WAL undo steps (null: none). */
import { readFile } from '../fs-async.js';
import { metadataPath, type StoreLayout } from './layout.js';

export async function readMetadataText(layout: StoreLayout, envId: string): Promise<string | null> {
  try {
    return await readFile(metadataPath(layout, envId), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
