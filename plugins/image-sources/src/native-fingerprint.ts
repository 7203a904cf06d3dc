/**
 * The stat fingerprint through native/tree-fingerprint.c (karapace_fingerprint.node): the
 * same value as digest.ts's `fingerprintRootfsReference`, which stays the definition (tested
 * against each other on hostile trees). The addon hands back (undefined) any tree it cannot
 * write exactly, and is absent on a machine without it; the TypeScript walk then runs.
 * KARAPACE_FINGERPRINT_NATIVE=0 turns it off.
 */
import { loadAddonFile, nativeBinary } from '@karapace/kernel';

interface FingerprintAddon {
  fingerprint(root: string): string | undefined;
  /** The same walk off the JavaScript thread (absent from addons built before it). */
  fingerprintAsync?(root: string): Promise<string | undefined>;
}

let addon: FingerprintAddon | null | undefined;

function load(): FingerprintAddon | null {
  if (process.env.KARAPACE_FINGERPRINT_NATIVE === '0') return null;
  const file = nativeBinary('karapace_fingerprint.node');
  if (!file) return null;
  try {
    return loadAddonFile<FingerprintAddon>(file);
  } catch {
    // Built for another platform or Node ABI: the TypeScript walk.
    return null;
  }
}

/**
 * The fingerprint of `root`, or undefined when the TypeScript walk must compute it. Walked on
 * libuv's thread pool while JavaScript goes on: a build keeps working while its base image
 * is re-verified (engine/build.ts).
 */
export async function nativeFingerprintAsync(root: string): Promise<string | undefined> {
  if (addon === undefined) addon = load();
  return addon?.fingerprintAsync ? addon.fingerprintAsync(root) : addon?.fingerprint(root);
}
