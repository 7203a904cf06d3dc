/** The store lock around a mutation, with store initialisation and crash recovery first. */
import { existsSync } from 'node:fs';
import { mkdir } from '../fs-async.js';
import { ensurePrivateRoot } from '../store/private-root.js';
import { sweepAbandonedStaging } from '../store/staging-claim.js';
import { acquireStoreLock } from '../store/lock.js';
import { checkStoreVersion, writeStoreVersion } from '../store/version.js';
import { recoverWal } from '../store/wal.js';
import type { Engine } from './engine.js';

/**
 * Takes the store lock, initialising the store on first use. Only `migrate` passes
 * `anyVersion` (it converts older formats under the lock).
 */
export async function withLock<T>(engine: Engine, fn: () => Promise<T>, options: { anyVersion?: boolean } = {}): Promise<T> {
  const layout = engine.layout;
  if (!options.anyVersion) checkStoreVersion(layout);
  await ensurePrivateRoot(layout, (m) => engine.logger.warn(m));
  await mkdir(layout.store, { recursive: true });
  const lock = await acquireStoreLock(layout);
  try {
    if (!existsSync(layout.version)) await writeStoreVersion(layout);
    await Promise.all([layout.objects, layout.layers, layout.metadata, layout.staging, layout.wal, layout.envs, layout.images].map((d) => mkdir(d, { recursive: true })));
    // Undo (or finish) whatever a killed command left half done, before anything else.
    await recoverWal(layout, (m) => engine.logger.warn(m));
    await sweepAbandonedStaging(layout);
    return await fn();
  } finally {
    lock.release();
  }
}
