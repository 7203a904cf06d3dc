/**
 * @karapace/image-sources — base images (aliases through an image server, http(s)
 * tarballs, local tarballs and directories, mmdebstrap bootstraps, OCI registries) and the
 * package-manager adapters (apt, dnf, zypper, pacman, apk). See docs/image-sources.md.
 */
import { definePlugin } from '@karapace/kernel';
import { doctorChecks } from './doctor.js';
import { collectImages } from './gc.js';
import { resolveOptions, validateOptions, type ImageSourcesOptions } from './options.js';
import { installPackages } from './pm/install.js';
import { resolveImage } from './resolve.js';
import { isPinnedReference } from './reference.js';

export { resolveImage } from './resolve.js';
export { doctorChecks, which } from './doctor.js';
export { collectImages } from './gc.js';
export { installPackages } from './pm/install.js';
export { ADAPTERS, adapterFor, detectPackageManager } from './pm/detect.js';
export type { PackageManagerAdapter } from './pm/types.js';
export { apt, APT_CONFIG, APT_CONFIG_FILE } from './pm/apt.js';
export { dnf } from './pm/dnf.js';
export { zypper } from './pm/zypper.js';
export { pacman } from './pm/pacman.js';
export { apk, splitApkNameVersion } from './pm/apk.js';
export { parseReference, isPinnedReference, isPinnedSource, splitPin, type SourceRef, type Pin } from './reference.js';
export { ALIASES, serverArch } from './aliases.js';
export { unpackImage, skippedSummary } from './unpack.js';
export { CanonicalTree, makedev } from '@karapace/kernel';
export { openTar, sniffCompression, type TarSource } from './decompress.js';
export { digestRootfs, fingerprintRootfs, fingerprintRootfsReference, type FileHash } from './digest.js';
export { cacheKey, listCached, readCached, verifyCached, type CachedImage, type SourceRecord } from './cache.js';
export { locateAlias, locateSimplestreams, locateDirectory } from './sources/alias.js';
export { bootstrapMirror, mmdebstrapArgv } from './sources/bootstrap.js';
export { MMDEBSTRAP_STAGES, mmdebstrapStage } from './sources/mmdebstrap-stages.js';
export { parseAptStatus } from './pm/apt-status.js';
export { apkProgress, dnfProgress, pacmanProgress, zypperProgress, type ProgressReader } from './pm/progress-lines.js';
export { parseChallenge, RegistryClient } from './sources/registry.js';
export { resolveOptions, DEFAULT_SERVER, type ImageSourcesOptions } from './options.js';
export { hostDebianMirror, parseDeb822Sources, parseOneLineSources } from './host-sources.js';

export const PLUGIN_NAME = 'image-sources';

export default definePlugin<ImageSourcesOptions>({
  name: PLUGIN_NAME,
  validateOptions,
  apply(kernel, options) {
    const resolved = resolveOptions(options ?? {}, kernel.config);
    kernel.hooks.resolve.tapPromise(PLUGIN_NAME, (request) => resolveImage(kernel, resolved, request));
    // True only for references this plugin verifies as pinned; others are not ours to answer.
    kernel.hooks.pinned.tap(PLUGIN_NAME, (request) => (isPinnedReference(request.image, { manifestDir: request.manifestDir, aliases: resolved.aliases }) ? true : undefined));
    kernel.hooks.install.tapPromise(PLUGIN_NAME, (request) => installPackages(kernel, request));
    kernel.hooks.doctor.tapPromise(PLUGIN_NAME, (report) => doctorChecks(report));
    kernel.hooks.gc.tapPromise(PLUGIN_NAME, (context) => collectImages(kernel, context));
  },
});
