/**
 * The store root is private (0700), as podman's storage is: environments and pulled images
 * hold setuid binaries, file capabilities and device nodes that are safe inside their
 * namespaces but must not be reachable by other host users through the store's paths.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError } from '../errors.js';
import type { StoreLayout } from './layout.js';

export const STORE_ROOT_MODE = 0o700;

/** Creates the root 0700, or narrows an existing one this user owns (older stores were 0755). */
export async function ensurePrivateRoot(layout: StoreLayout, warn: (message: string) => void): Promise<void> {
  const st = lstatSync(layout.root, { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(dirname(layout.root), { recursive: true });
    try {
      mkdirSync(layout.root, { mode: STORE_ROOT_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    chmodSync(layout.root, STORE_ROOT_MODE); // mkdir's mode passes through the umask
    return;
  }
  if (!st.isDirectory()) {
    throw new StoreError('KP_STORE_NOT_DIRECTORY', `the store path ${layout.root} is not a directory`, {
      hint: 'point --store (or KARAPACE_STORE, or the config\'s `store`) at a directory, or remove that file',
      data: { path: layout.root },
    });
  }
  if ((st.mode & 0o077) !== 0 && st.uid === process.geteuid?.()) {
    chmodSync(layout.root, STORE_ROOT_MODE);
    warn(`store ${layout.root} was readable by other users (mode ${(st.mode & 0o777).toString(8)}); made it private (700)`);
  }
}
