/** Layers: deterministic tar packing and safe unpacking (DESIGN §6 "Layers"). */
export { packTree, type PackOptions, type PackStats } from './pack.js';
export { hasEntries, packTreeForIngest, packTreeThreaded, THREADED_PACK_MIN_ENTRIES } from './pack-tree-thread.js';
export { digestsOf, TarDigests, type DigestedTar } from './tar-digests.js';
export {
  unpackTarStream, unpackTarFile, untrustedXattrAllowed,
  type ContentHashTap, type UnpackEntry, type UnpackFileStats, type UnpackOptions, type UnpackStats,
} from './unpack.js';
export { packLayer, readLayer, unpackLayer, layerHash, layerPath, layerTar, hasTree, type PackLayerOptions } from './layer.js';
export { safeEntryPath, OPAQUE_MARKER, WHITEOUT_PREFIX, SOURCE_SHRANK } from './tar-format.js';
export { CanonicalTree, makedev, listingWithoutOwners, parseListing, type KnownHashes, type ListingEntry } from './canonical-tree.js';
export { nativeUnpackerAvailable } from './native-unpack.js';
export type { DiskStat } from './disk-stat.js';
