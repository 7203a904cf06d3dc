/**
 * The store format version file. Unknown versions are refused with guidance.
 * 1: a layer is a tar object. 2 (issue 18): a layer is a tree of content objects, its tar
 * produced on demand; `karapace migrate` converts version 1. 3: objects may also lie in pack
 * files (store/packs.ts). A version 2 store is read and written as it is and becomes 3 when
 * its first pack is written, so a karapace that knows only 2 refuses it ("upgrade karapace")
 * instead of finding packed objects missing.
 */
import { readFileSync } from 'node:fs';
import { StoreError } from '../errors.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
import type { StoreLayout } from './layout.js';

export const STORE_FORMAT_VERSION = 3;
/** The last version without packs: read as it is, turned into 3 by the first pack. */
export const STORE_VERSION_BEFORE_PACKS = 2;

/** Versions this karapace reads and writes without a migration. */
export function isCurrentStoreVersion(v: number): boolean {
  return v === STORE_FORMAT_VERSION || v === STORE_VERSION_BEFORE_PACKS;
}

export function readStoreVersion(layout: StoreLayout): number | undefined {
  let text: string;
  try {
    text = readFileSync(layout.version, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const n = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(n) || String(n) !== text.trim()) {
    throw new StoreError('KP_STORE_VERSION_CORRUPT', `store version file ${layout.version} is corrupt (${JSON.stringify(text.slice(0, 20))})`, {
      hint: `if this is a karapace store, write "${STORE_FORMAT_VERSION}" into it; otherwise point --store elsewhere`,
    });
  }
  return n;
}

export function checkStoreVersion(layout: StoreLayout): void {
  const v = readStoreVersion(layout);
  if (v === undefined || isCurrentStoreVersion(v)) return;
  throw new StoreError(
    'KP_STORE_VERSION_UNSUPPORTED',
    `store at ${layout.root} has format version ${v}; this karapace understands versions ${STORE_VERSION_BEFORE_PACKS} and ${STORE_FORMAT_VERSION}`,
    {
      hint: v > STORE_FORMAT_VERSION
        ? 'upgrade karapace to a release that knows this store version'
        : 'run `karapace migrate` to convert it (its layers become trees; nothing is lost)',
      data: { found: v, supported: STORE_FORMAT_VERSION },
    },
  );
}

/** Refuses (as checkStoreVersion does) a store of a version newer than this karapace's; older ones are left to their callers. */
export function refuseNewerStore(layout: StoreLayout): void {
  const v = readStoreVersion(layout);
  if (v !== undefined && v > STORE_FORMAT_VERSION) checkStoreVersion(layout);
}

export async function writeStoreVersion(layout: StoreLayout, version = STORE_FORMAT_VERSION): Promise<void> {
  await writeFileAtomic(layout.version, `${version}\n`);
}

/**
 * Called under the store lock before a pack gets its name: a version 2 store becomes 3, so
 * older karapaces stop at the version instead of meeting objects they cannot find.
 */
export function markStoreHoldsPacks(layout: StoreLayout): void {
  if (readStoreVersion(layout) === STORE_VERSION_BEFORE_PACKS) writeFileAtomicSync(layout.version, `${STORE_FORMAT_VERSION}\n`);
}
