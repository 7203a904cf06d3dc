/**
 * The kernel's last taps on the two waterfall hooks, `lock` and `commit`: plugins before it
 * may refine what flows through, and the kernel checks that what comes out still keeps the
 * hook's contract, naming the taps when it does not.
 * - `lock`: a tap may refine the lock (e.g. pin package versions) but not change the base
 *   the environment was built on, and not write what the lock file cannot carry (the lock
 *   must read back as written, or its env_id would name something else).
 * - `commit`: taps observe the snapshot layer; its record is stored under its hash, so a
 *   record that no longer matches the stored one is refused (a plugin that makes its own
 *   layer answers the `pack` hook instead).
 */
import { PluginError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { readLayer } from '../layers/layer.js';
import { parseLock, serializeLock } from '../lock/file.js';
import { computeEnvId } from '../lock/identity.js';
import type { LockFile } from '../lock/types.js';
import type { StoreLayout } from '../store/layout.js';
import type { LayerRecord, LockContext } from '../types.js';

function others(kernel: Kernel, hook: 'lock' | 'commit', self: string): string {
  return kernel.tapNames(hook).filter((n) => n !== self).join(', ') || 'none';
}

export function checkLockTaps(kernel: Kernel, self: string, lock: LockFile, context: LockContext): LockFile {
  // No tap but this one: the lock is the kernel's own draft, nothing refined it.
  if (kernel.tapNames('lock').every((n) => n === self)) return lock;
  const base = context.base;
  const problem = !lock || typeof lock !== 'object' || !lock.base
    ? 'returned no lock'
    : lock.base.digest !== base.digest || lock.base.package_manager !== base.packageManager
      ? `changed the base (${lock.base.digest?.slice?.(0, 12)} ${lock.base.package_manager}) from the one built on (${base.digest.slice(0, 12)} ${base.packageManager})`
      : roundTrip(lock);
  if (problem) {
    throw new PluginError('KP_LOCK_TAP_INVALID', `a \`lock\` tap (${others(kernel, 'lock', self)}) ${problem}`, {
      hint: 'a lock tap may refine resolved_packages and other lock fields, as the lock file can record them; fix or remove the plugin',
    });
  }
  return lock;
}

/** undefined when the lock reads back from its file form as it is; else what differs. */
function roundTrip(lock: LockFile): string | undefined {
  const complete = { ...lock, ...computeEnvId(lock) };
  let text: string;
  try {
    text = serializeLock(complete);
    if (serializeLock(parseLock(text)) === text) return undefined;
  } catch (err) {
    return `made a lock the lock file cannot hold: ${(err as Error).message}`;
  }
  return 'made a lock that does not read back from karapace.lock as written';
}

export async function checkCommitTaps(kernel: Kernel, self: string, layout: StoreLayout, layer: LayerRecord): Promise<LayerRecord> {
  const stored = layer && typeof layer.hash === 'string' ? await readLayer(layout, layer.hash).catch(() => undefined) : undefined;
  const same = stored && stored.object === layer.object && stored.kind === layer.kind && (stored.parent ?? null) === (layer.parent ?? null);
  if (!same) {
    throw new PluginError('KP_COMMIT_TAP_INVALID', `a \`commit\` tap (${others(kernel, 'commit', self)}) changed the snapshot layer record, which the store keeps under its hash`, {
      hint: 'commit taps observe the layer; a plugin that makes its own snapshot layer answers the `pack` hook instead',
    });
  }
  return layer;
}
